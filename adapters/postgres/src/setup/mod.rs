//! Connecting: the server is checked, the schema is read, and only then is anything written —
//! the schema's creation, by exactly one of any number of concurrent first users. A server or
//! schema this build must refuse is left as it was.

pub(crate) mod schema;

use std::collections::BTreeMap;

use leasehold_contract::{StoreId, starting_high_water};
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::prepared::Cache;
use crate::seam::{Statement, with_schema};
use crate::session::Session;
use crate::sqlstate::{self, Failure};
use crate::store::{AsyncPgStore, Params};
use schema::{Found, Inspection};

/// The oldest server whose `EXTRACT(epoch FROM …)` is an exact `numeric` (the clock's
/// milliseconds are floored exactly) and that has every feature the schema uses.
const MIN_SERVER_VERSION: i32 = 14_00_00;

/// The server's version and encoding, whether the session may write, and the schemas its names
/// are looked up in, in order (with the implicit ones).
const SERVER: &str = "SELECT pg_catalog.current_setting('server_version_num')::int, \
pg_catalog.current_setting('server_encoding'), \
pg_catalog.current_setting('transaction_read_only'), \
pg_catalog.current_schemas(true)::text[]";

/// Whether the session is inside a transaction block, through the simple query protocol: there a
/// statement outside a block starts its own transaction, whose start (`now()`) is the statement's
/// start; inside a block, `now()` is the block's start, an earlier message.
const IN_TRANSACTION: &str = "SELECT pg_catalog.now() <> pg_catalog.statement_timestamp()";

/// The privileges the store needs that the session's role lacks. `$1` the schema's name,
/// `$2`/`$3` the quoted names of the lock and meta tables.
const MISSING_PRIVILEGES: &str = "SELECT 'USAGE on schema ' || $1 \
WHERE NOT pg_catalog.has_schema_privilege($1, 'USAGE') \
UNION ALL SELECT p || ' on ' || $2 FROM pg_catalog.unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p \
WHERE NOT pg_catalog.has_table_privilege($2, p) \
UNION ALL SELECT p || ' on ' || $3 FROM pg_catalog.unnest(ARRAY['SELECT', 'UPDATE']) p \
WHERE NOT pg_catalog.has_table_privilege($3, p)";

/// Whether the schema exists (`$1` its name).
const SCHEMA_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)";

/// Every row of the meta table.
const META_ROWS: &str = "SELECT key, value FROM {schema}.leasehold_meta";

/// Serialises the creation of one schema among concurrent first users, for the creating
/// transaction only (so it works through a transaction pooler too).
const CREATION_LOCK: &str = "SELECT pg_catalog.pg_advisory_xact_lock($1)";

impl AsyncPgStore {
    /// Checks the server and the schema, creates the schema if needed, and returns the store's
    /// id.
    pub(crate) async fn prepare(&self, handed_in: bool) -> Result<StoreId, Error> {
        let mut session = self.session().await?;
        self.check_server(&mut session).await?;
        if handed_in {
            check_not_in_transaction(&mut session).await?;
        }
        let id = match self.inspect(&mut session).await? {
            Found::Current(id) => id,
            Found::Absent => self.create(&mut session).await?,
        };
        self.check_privileges(&mut session).await?;
        Ok(StoreId::from_u64(id))
    }

    /// Runs one setup statement on `session`.
    async fn setup_query(
        &self,
        session: &mut Session<'_>,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        match self
            .run_on(
                session.client(),
                &Cache::Unnamed,
                Statement::Schema,
                sql,
                params,
            )
            .await
        {
            Ok(rows) => Ok(rows),
            Err(Failure::Lost(e)) => {
                session.discard();
                Err(e)
            }
            Err(failure) => Err(failure.into_error()),
        }
    }

    async fn check_server(&self, session: &mut Session<'_>) -> Result<(), Error> {
        let rows = self.setup_query(session, SERVER, &[]).await?;
        let row = rows.first().ok_or_else(|| no_answer("server settings"))?;
        let (version, encoding, read_only): (i32, String, String) =
            (get(row, 0)?, get(row, 1)?, get(row, 2)?);
        check_search_path(&get::<Vec<String>>(row, 3)?)?;
        if version < MIN_SERVER_VERSION {
            return Err(Error::UnsupportedServer {
                setting: "server_version_num",
                found: version.to_string(),
                required: "PostgreSQL 14 or later is required",
            });
        }
        if encoding != "UTF8" {
            // Names are Rust strings: any other encoding could refuse or alter them.
            return Err(Error::UnsupportedServer {
                setting: "server_encoding",
                found: encoding,
                required: "the database must be UTF8",
            });
        }
        if read_only == "on" {
            return Err(Error::ReadOnly(None));
        }
        Ok(())
    }

    /// Reads the schema's objects and meta rows, and decides. Writes nothing.
    async fn inspect(&self, session: &mut Session<'_>) -> Result<Found, Error> {
        let name = self.schema();
        let rows = self
            .setup_query(session, schema::INSPECT, &[(&name, Type::TEXT)])
            .await?;
        let mut facts = rows
            .iter()
            .map(|row| get(row, 0))
            .collect::<Result<Vec<String>, _>>()?;
        facts.sort();
        let meta = if Inspection::meta_is_readable(&facts) {
            let sql = with_schema(META_ROWS, self.quoted_schema());
            let rows = self.setup_query(session, &sql, &[]).await?;
            let rows = rows.iter().map(|row| Ok((get(row, 0)?, get(row, 1)?)));
            Some(rows.collect::<Result<BTreeMap<String, i64>, Error>>()?)
        } else {
            None
        };
        schema::check(&Inspection { facts, meta }, name, self.quoted_schema())
    }

    /// Creates the schema unless another first user got there first: every creator takes the
    /// same transaction-scoped advisory lock and inspects again inside, so exactly one writes and
    /// the others see its work whole. `READ COMMITTED` whatever the server's default, so that
    /// the inspection after the lock sees a creator that committed while this one waited.
    async fn create(&self, session: &mut Session<'_>) -> Result<u64, Error> {
        let now = self.clock_param()?;
        let clock = self.text(Statement::Clock).to_owned();
        let rows = self
            .setup_query(session, &clock, &[(&now, Type::INT8)])
            .await?;
        let now = crate::row::now(rows.first().ok_or_else(|| no_answer("the clock"))?, 0)?;
        let high_water = starting_high_water(now).map_or(0, |mark| crate::row::bigint(mark.get()));
        let store_id = crate::row::bigint(StoreId::random().map_err(Error::Random)?.as_u64());
        let begin = "BEGIN ISOLATION LEVEL READ COMMITTED";
        self.setup_query(session, begin, &[]).await?;
        let created = self
            .create_in_transaction(session, high_water, store_id)
            .await;
        let end = if created.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.setup_query(session, end, &[]).await;
        let id = created?;
        ended?;
        Ok(id)
    }

    async fn create_in_transaction(
        &self,
        session: &mut Session<'_>,
        high_water: i64,
        store_id: i64,
    ) -> Result<u64, Error> {
        let key = schema::creation_lock_key(self.schema());
        self.setup_query(session, CREATION_LOCK, &[(&key, Type::INT8)])
            .await?;
        if let Found::Current(id) = self.inspect(session).await? {
            return Ok(id);
        }
        let name = self.schema();
        let exists = self
            .setup_query(session, SCHEMA_EXISTS, &[(&name, Type::TEXT)])
            .await?;
        if !exists
            .first()
            .map(|row| get::<bool>(row, 0))
            .transpose()?
            .unwrap_or(false)
        {
            let sql = with_schema(schema::CREATE_SCHEMA, self.quoted_schema());
            self.setup_query(session, &sql, &[]).await?;
        }
        for sql in schema::creation(self.quoted_schema()) {
            self.setup_query(session, &sql, &[]).await?;
        }
        let insert = with_schema(schema::INSERT_META, self.quoted_schema());
        let version = schema::VERSION;
        let params: &Params<'_> = &[
            (&version, Type::INT8),
            (&high_water, Type::INT8),
            (&store_id, Type::INT8),
        ];
        self.setup_query(session, &insert, params).await?;
        match self.inspect(session).await? {
            Found::Current(id) => Ok(id),
            Found::Absent => unreachable!("the schema was created in this transaction"),
        }
    }

    /// Refuses a role that could not take locks, with the first privilege it lacks.
    async fn check_privileges(&self, session: &mut Session<'_>) -> Result<(), Error> {
        let name = self.schema();
        let locks = format!("{}.leasehold_locks", self.quoted_schema());
        let meta = format!("{}.leasehold_meta", self.quoted_schema());
        let params: &Params<'_> = &[
            (&name, Type::TEXT),
            (&locks, Type::TEXT),
            (&meta, Type::TEXT),
        ];
        let rows = self
            .setup_query(session, MISSING_PRIVILEGES, params)
            .await?;
        match rows.first() {
            Some(row) => Err(Error::PermissionDenied {
                privilege: get(row, 0)?,
                source: None,
            }),
            None => Ok(()),
        }
    }
}

/// Refuses a handed-in client whose session is inside a transaction block.
/// Refuses a `search_path` that puts a schema before `pg_catalog`. The statements qualify every
/// function and table, but their operators (`=`, `<=`, `+`, …) are looked up along the path:
/// an operator of the same name and argument types in an earlier schema would be called instead
/// of the built-in one — say a `<=` on `bigint` that is always true, and a valid lease is
/// granted again. The temporary schema, which PostgreSQL searches first for relations, is never
/// searched for operators.
fn check_search_path(schemas: &[String]) -> Result<(), Error> {
    match schemas.iter().find(|s| !s.starts_with("pg_temp")) {
        Some(first) if first == "pg_catalog" => Ok(()),
        _ => Err(Error::UnsupportedServer {
            setting: "search_path",
            found: schemas.join(", "),
            required: "pg_catalog must come before every other schema (leave it out of \
                       search_path, or name it first)",
        }),
    }
}

async fn check_not_in_transaction(session: &mut Session<'_>) -> Result<(), Error> {
    let messages = session
        .client()
        .simple_query(IN_TRANSACTION)
        .await
        .map_err(|e| sqlstate::classify(Statement::Schema, e).into_error())?;
    let in_transaction = messages.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v == "t"),
        _ => None,
    });
    match in_transaction {
        Some(false) => Ok(()),
        Some(true) => Err(Error::InTransaction),
        None => Err(no_answer("transaction state")),
    }
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, Error> {
    row.try_get(index).map_err(Error::Postgres)
}

fn no_answer(what: &'static str) -> Error {
    crate::row::corrupt(what, "the server returned no row")
}
