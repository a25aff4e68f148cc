//! The PostgreSQL contenders, each client on a connection of its own: [`Store`] (`PgStore`, the
//! subject, with statements unnamed or prepared), [`Floor`] (the store's statement texts, prepared, on a raw connection),
//! [`Advisory`] (session advisory locks, what a user would pick instead) and [`CommitFloor`]
//! (one minimal durable commit per operation).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use leasehold_postgres::{Acquire, Lease, Options, PgStore, Release, Statement};
use postgres::types::Type;
use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};

use crate::contender::{Contender, WithLocker};
use crate::error::BenchError;
use crate::floor::millis;
use crate::locker::{Locker, TTL};

/// Where a scenario's PostgreSQL clients connect: the parent made the schema, with the store's
/// tables and the commit floor's rows, before any worker starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The database URL, with the scenario's session settings (group commit) in its `options`.
    pub url: String,
    /// The scenario's schema, unquoted.
    pub schema: String,
}

impl Place {
    /// The schema's name quoted for SQL.
    #[must_use]
    pub fn quoted_schema(&self) -> String {
        format!("\"{}\"", self.schema.replace('"', "\"\""))
    }

    /// The store's text of `statement` with this schema in it, as the store builds it.
    fn text(&self, statement: Statement) -> Result<String, BenchError> {
        let template = statement.sql().ok_or_else(|| {
            BenchError::protocol(format!("{statement:?} has no single statement text"))
        })?;
        Ok(template.replace("{schema}", &self.quoted_schema()))
    }

    fn connect(&self) -> Result<Client, BenchError> {
        Ok(Client::connect(&self.url, NoTls)?)
    }
}

/// The commit floor's table: one row per client, created by the parent.
pub const COMMITS_TABLE: &str = "bench_commits";

/// Opens the PostgreSQL `contender` at `place` and hands it to `visit`.
///
/// # Errors
///
/// Connecting and preparing; [`BenchError::Protocol`] for a SQLite contender.
pub fn open<V: WithLocker>(
    contender: Contender,
    place: &Place,
    visit: V,
) -> Result<V::Output, BenchError> {
    Ok(match contender {
        Contender::PgStore => visit.with(Store::open(place, false)?),
        Contender::PgStorePrepared => visit.with(Store::open(place, true)?),
        Contender::PgFloor => visit.with(Floor::open(place)?),
        Contender::PgFloorUnnamed => visit.with(Floor::open_unnamed(place)?),
        Contender::PgAdvisory => visit.with(Advisory::open(place)?),
        Contender::PgCommitFloor => visit.with(CommitFloor::open(place)?),
        other => {
            return Err(BenchError::protocol(format!(
                "{} runs on SQLite, not on PostgreSQL",
                other.name()
            )));
        }
    })
}

/// `PgStore` through its public API, on a connection of its own, in the scenario's schema.
#[derive(Debug)]
pub struct Store {
    store: PgStore,
}

impl Store {
    /// Connects the store to `place` (whose schema exists), with
    /// [`Options::prepared_statements`] set to `prepared`.
    ///
    /// # Errors
    ///
    /// The store's connect errors.
    pub fn open(place: &Place, prepared: bool) -> Result<Self, BenchError> {
        let options = Options::new()
            .schema(place.schema.clone())
            .prepared_statements(prepared);
        Ok(Self {
            store: PgStore::connect_with(&place.url, options)?,
        })
    }
}

impl Locker for Store {
    type Grant = Lease;

    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<Lease>, BenchError> {
        Ok(match self.store.try_acquire(resource, owner, TTL)? {
            Acquire::Granted(lease) => Some(lease),
            Acquire::Busy(_) => None,
        })
    }

    fn release(&self, lease: &Lease) -> Result<(), BenchError> {
        match self.store.release(lease)? {
            Release::Released => Ok(()),
            other => Err(BenchError::protocol(format!(
                "PgStore release of {} answered {other:?}",
                lease.resource()
            ))),
        }
    }
}

/// A raw connection and what it prepared.
struct Prepared {
    client: Client,
    take: postgres::Statement,
    give: postgres::Statement,
}

fn lock(prepared: &Mutex<Prepared>) -> MutexGuard<'_, Prepared> {
    // Each use is one statement in autocommit under the guard: a panic left nothing half-done.
    prepared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The floor: `PgStore`'s acquire and release texts, prepared once with the types the store
/// binds, then executed with nothing around them — no input checks, no core, no random request
/// id, no follow-up read when refused. The store sends the same texts unnamed (parse, bind and
/// execute in one round trip); the floor's prepared statements skip the parse.
pub struct Floor {
    conn: Mutex<Prepared>,
    next_request: AtomicU64,
    /// The acquire and release texts, for [`Floor::open_unnamed`]: sent with `query_typed`
    /// instead of the prepared statements.
    unnamed: Option<(String, String)>,
}

impl std::fmt::Debug for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floor").finish_non_exhaustive()
    }
}

/// A lease the floor granted.
#[derive(Debug)]
pub struct FloorGrant {
    resource: String,
    token: i64,
}

/// The stored status of a lease released while valid (`docs/postgres.md`).
const RELEASED: i16 = 1;

impl Floor {
    /// Connects to `place` and prepares the store's two statements there.
    ///
    /// # Errors
    ///
    /// Connecting and preparing.
    pub fn open(place: &Place) -> Result<Self, BenchError> {
        let mut client = place.connect()?;
        let (bigint, text, bytes) = (Type::INT8, Type::TEXT, Type::BYTEA);
        let take = client.prepare_typed(
            &place.text(Statement::Acquire)?,
            &[
                text.clone(),
                text.clone(),
                bytes,
                bigint.clone(),
                bigint.clone(),
            ],
        )?;
        let give = client.prepare_typed(
            &place.text(Statement::Release)?,
            &[text, bigint.clone(), bigint, Type::BOOL],
        )?;
        Ok(Self {
            conn: Mutex::new(Prepared { client, take, give }),
            next_request: AtomicU64::new(0),
            unnamed: None,
        })
    }

    /// [`Floor::open`], but every call sends its text unnamed with its parameter types, as the
    /// store does: parse, bind and execute in one round trip.
    ///
    /// # Errors
    ///
    /// Connecting and preparing.
    pub fn open_unnamed(place: &Place) -> Result<Self, BenchError> {
        let texts = (
            place.text(Statement::Acquire)?,
            place.text(Statement::Release)?,
        );
        Ok(Self {
            unnamed: Some(texts),
            ..Self::open(place)?
        })
    }

    /// A request id unique among the run's floors: the pid, then a counter.
    fn request_id(&self) -> [u8; 16] {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        ((u128::from(process::id()) << 64) | u128::from(n)).to_be_bytes()
    }
}

impl Locker for Floor {
    type Grant = FloorGrant;

    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<FloorGrant>, BenchError> {
        let ttl = i64::try_from(millis(TTL)).unwrap_or(i64::MAX);
        let (request_id, now) = (self.request_id(), None::<i64>);
        let mut conn = lock(&self.conn);
        let Prepared { client, take, .. } = &mut *conn;
        let rows = match &self.unnamed {
            Some((text, _)) => client.query_typed(
                text,
                &[
                    (&resource, Type::TEXT),
                    (&owner, Type::TEXT),
                    (&request_id.as_slice(), Type::BYTEA),
                    (&ttl, Type::INT8),
                    (&now, Type::INT8),
                ],
            )?,
            None => client.query(
                &*take,
                &[&resource, &owner, &request_id.as_slice(), &ttl, &now],
            )?,
        };
        let Some(granted) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(FloorGrant {
            resource: resource.to_owned(),
            token: granted.try_get(0)?,
        }))
    }

    fn release(&self, grant: &FloorGrant) -> Result<(), BenchError> {
        // `notify` as the store binds it by default (`Options::notify`).
        let (now, notify) = (None::<i64>, true);
        let mut conn = lock(&self.conn);
        let Prepared { client, give, .. } = &mut *conn;
        let rows = match &self.unnamed {
            Some((_, text)) => client.query_typed(
                text,
                &[
                    (&grant.resource, Type::TEXT),
                    (&grant.token, Type::INT8),
                    (&now, Type::INT8),
                    (&notify, Type::BOOL),
                ],
            )?,
            None => client.query(&*give, &[&grant.resource, &grant.token, &now, &notify])?,
        };
        match rows
            .first()
            .map(|row| row.try_get::<_, i16>(0))
            .transpose()?
        {
            Some(RELEASED) => Ok(()),
            other => Err(BenchError::protocol(format!(
                "floor release of {} ended with status {other:?}",
                grant.resource
            ))),
        }
    }
}

/// Session advisory locks: `pg_try_advisory_lock(key)` and `pg_advisory_unlock(key)`, prepared.
/// They live in the server's memory for the session: no row, no WAL, no commit to wait for.
pub struct Advisory {
    conn: Mutex<Prepared>,
}

impl std::fmt::Debug for Advisory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advisory").finish_non_exhaustive()
    }
}

impl Advisory {
    /// Connects to `place` and prepares the two calls.
    ///
    /// # Errors
    ///
    /// Connecting and preparing.
    pub fn open(place: &Place) -> Result<Self, BenchError> {
        let mut client = place.connect()?;
        let take = client.prepare_typed("SELECT pg_try_advisory_lock($1)", &[Type::INT8])?;
        let give = client.prepare_typed("SELECT pg_advisory_unlock($1)", &[Type::INT8])?;
        Ok(Self {
            conn: Mutex::new(Prepared { client, take, give }),
        })
    }
}

/// The advisory key of `resource`: a hash of its name, the same in every process of a run (the
/// standard library's `DefaultHasher::new` has fixed keys).
#[must_use]
pub fn advisory_key(resource: &str) -> i64 {
    let mut hasher = DefaultHasher::new();
    resource.hash(&mut hasher);
    i64::from_ne_bytes(hasher.finish().to_ne_bytes())
}

impl Locker for Advisory {
    type Grant = i64;

    fn try_acquire(&self, resource: &str, _owner: &str) -> Result<Option<i64>, BenchError> {
        let key = advisory_key(resource);
        let mut conn = lock(&self.conn);
        let Prepared { client, take, .. } = &mut *conn;
        let taken: bool = client.query_one(&*take, &[&key])?.try_get(0)?;
        Ok(taken.then_some(key))
    }

    fn release(&self, key: &i64) -> Result<(), BenchError> {
        let mut conn = lock(&self.conn);
        let Prepared { client, give, .. } = &mut *conn;
        if client.query_one(&*give, &[key])?.try_get(0)? {
            Ok(())
        } else {
            Err(BenchError::protocol(format!(
                "pg_advisory_unlock({key}) found the lock not held"
            )))
        }
    }
}

/// The commit floor: `UPDATE bench_commits SET n = n + 1 WHERE owner = $1`, prepared, in
/// autocommit, once per acquire and once per release. Each client updates its own row, so no
/// client waits for another's row lock: what is left is the commit.
pub struct CommitFloor {
    conn: Mutex<Prepared>,
}

impl std::fmt::Debug for CommitFloor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitFloor").finish_non_exhaustive()
    }
}

impl CommitFloor {
    /// Connects to `place` and prepares the update.
    ///
    /// # Errors
    ///
    /// Connecting and preparing.
    pub fn open(place: &Place) -> Result<Self, BenchError> {
        let mut client = place.connect()?;
        let bump = format!(
            "UPDATE {}.{COMMITS_TABLE} SET n = n + 1 WHERE owner = $1",
            place.quoted_schema()
        );
        let take = client.prepare_typed(&bump, &[Type::TEXT])?;
        let give = take.clone();
        Ok(Self {
            conn: Mutex::new(Prepared { client, take, give }),
        })
    }

    fn commit(&self, owner: &str) -> Result<(), BenchError> {
        let mut conn = lock(&self.conn);
        let Prepared { client, take, .. } = &mut *conn;
        match client.execute(&*take, &[&owner])? {
            1 => Ok(()),
            n => Err(BenchError::protocol(format!(
                "the commit floor updated {n} rows for {owner}"
            ))),
        }
    }
}

impl Locker for CommitFloor {
    type Grant = String;
    const EXCLUSIVE: bool = false;

    fn try_acquire(&self, _resource: &str, owner: &str) -> Result<Option<String>, BenchError> {
        self.commit(owner).map(|()| Some(owner.to_owned()))
    }

    fn release(&self, owner: &String) -> Result<(), BenchError> {
        self.commit(owner)
    }
}
