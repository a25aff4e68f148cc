//! [`AsyncPgStore`]: connecting, and the one function every statement runs through.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leasehold_contract::wait::Backoff;
use leasehold_contract::{Clock, Lease, RequestIds, StoreId};
use leasehold_core::{DecideError, RequestId, Timestamp, Ttl, check_clock, lease_expiry};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, Row};

use crate::error::Error;
use crate::listen::Listener;
use crate::options::Options;
use crate::prepared::{self, Cache};
use crate::seam::{Seam, Statement, Texts, Verdict};
use crate::session::{Session, Sessions, Source};
use crate::setup::schema;
use crate::sqlstate::{self, Failure};
use crate::wait::Waiters;

/// The statement parameters of one call: each value with its PostgreSQL type, so that a
/// statement can be sent unnamed, parsed and run in one round trip (or prepared with exactly
/// these types, see [`Options::prepared_statements`]).
pub(crate) type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// A lock store in one PostgreSQL schema, for async callers (tokio). See the
/// [crate documentation](crate) for what it guarantees.
///
/// A store built from a URL holds one connection: concurrent calls through one store take turns
/// on it, each for one statement (a fenced transaction for its whole length). Once a caller has
/// had to wait, the store also keeps its listener's connection (see [`Listen`](crate::Listen)). For more
/// connections, use several stores (each its own connection) or `from_pool` (feature
/// `deadpool`).
pub struct AsyncPgStore {
    sessions: Sessions,
    texts: Texts,
    schema: String,
    quoted_schema: String,
    io_timeout: Option<Duration>,
    serialization_retries: u32,
    /// Whether releases and evictions send the wake-up hint ([`Options::notify`]).
    notify: bool,
    /// Whether statements are prepared once per connection ([`Options::prepared_statements`]).
    prepared_statements: bool,
    clock: Option<Arc<dyn Clock>>,
    seam: Option<Arc<dyn Seam>>,
    request_ids: RequestIds,
    store_id: StoreId,
    /// Threads and tasks waiting for a resource through this store.
    pub(crate) waiters: Arc<Waiters>,
    /// Wakes `waiters` at releases and evictions by other stores.
    pub(crate) listener: Listener,
    /// Every pause between a waiter's attempts (feature `test-util`).
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) poll_interval: Option<Duration>,
}

// The store is shared between threads and tasks; this fails to compile if a field ever stops
// allowing it.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncPgStore>();
};

/// Why an answer did not arrive.
enum Unanswered {
    /// The server answered with an error.
    Failed(tokio_postgres::Error),
    /// No answer came in time, or the seam dropped it: the connection must go.
    Lost(Error),
}

impl AsyncPgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// libpq's key-value form) and creates the schema `leasehold` if it is missing, with the
    /// default [`Options`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`], [`Error::Connect`], [`Error::ConnectTimeout`], [`Error::Auth`],
    /// [`Error::NoSuchDatabase`], [`Error::UnsupportedServer`], [`Error::ReadOnly`],
    /// [`Error::PermissionDenied`], [`Error::SchemaTooNew`], [`Error::SchemaMismatch`],
    /// [`Error::Random`] or [`Error::Postgres`]; nothing was written.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, Options::new()).await
    }

    /// [`AsyncPgStore::connect`] with `options`.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::connect`], and [`Error::InvalidSchemaName`].
    pub async fn connect_with(url: &str, options: Options) -> Result<Self, Error> {
        let mut config: Config = url.parse().map_err(Error::InvalidUrl)?;
        // The listener's, before the store's own name is set: it gets a name of its own.
        let listener = config.clone();
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("leasehold");
        }
        Self::new(Source::Url(Box::new(config)), None, options, Some(listener)).await
    }

    /// Uses an application's own client, whose connection the application drives. The store
    /// cannot reconnect it: once it closes, every call fails with [`Error::ConnectionClosed`].
    /// The client must not be inside a transaction block.
    ///
    /// # Errors
    ///
    /// [`Error::InTransaction`], and as [`AsyncPgStore::connect_with`].
    pub async fn from_client(client: Client) -> Result<Self, Error> {
        Self::from_client_with(client, Options::new()).await
    }

    /// [`AsyncPgStore::from_client`] with `options` (its connect timeout is not used).
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_client`].
    pub async fn from_client_with(client: Client, options: Options) -> Result<Self, Error> {
        Self::new(Source::Client, Some(client), options, None).await
    }

    /// Uses a pool the application already has (feature `deadpool`): every statement takes a
    /// pooled connection for itself, and a fenced transaction one for its whole length.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], and as [`AsyncPgStore::connect_with`].
    #[cfg(feature = "deadpool")]
    pub async fn from_pool(pool: deadpool_postgres::Pool) -> Result<Self, Error> {
        Self::from_pool_with(pool, Options::new()).await
    }

    /// [`AsyncPgStore::from_pool`] with `options` (its connect timeout is not used: the pool's
    /// own applies).
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_pool`].
    #[cfg(feature = "deadpool")]
    pub async fn from_pool_with(
        pool: deadpool_postgres::Pool,
        options: Options,
    ) -> Result<Self, Error> {
        Self::new(Source::Pool(pool), None, options, None).await
    }

    /// A store on `source` (`client`: a handed-in one); `store_url` is the configuration of a
    /// store made from a URL, for its listener.
    async fn new(
        source: Source,
        client: Option<Client>,
        options: Options,
        store_url: Option<Config>,
    ) -> Result<Self, Error> {
        let handed_in = matches!(source, Source::Client);
        let quoted_schema = schema::quoted(&options.schema)?;
        let waiters = Arc::new(Waiters::default());
        let listener = Listener::new(
            &options.listen,
            store_url.as_ref(),
            &options.schema,
            Arc::clone(&waiters),
            (options.connect_timeout, options.io_timeout),
        )?;
        let mut store = Self {
            sessions: Sessions::new(source, client, options.connect_timeout),
            texts: Texts::new(&quoted_schema),
            schema: options.schema,
            quoted_schema,
            io_timeout: options.io_timeout,
            serialization_retries: options.serialization_retries,
            notify: options.notify,
            prepared_statements: options.prepared_statements,
            clock: options.clock,
            seam: options.seam,
            request_ids: RequestIds::new().map_err(Error::Random)?,
            // Set from the database below, before anyone can see the store.
            store_id: StoreId::from_u64(0),
            waiters,
            listener,
            poll_interval: options.poll_interval,
        };
        store.store_id = store.prepare(handed_in).await?;
        Ok(store)
    }

    /// This schema's identity, carried by every lease it grants (see [`StoreId`]).
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        self.store_id
    }

    /// A fresh request id for an acquire attempt of this store: use it with
    /// [`try_acquire_with_id`](AsyncPgStore::try_acquire_with_id), and again only to retry that
    /// attempt after a lost reply.
    #[must_use]
    pub fn new_request_id(&self) -> RequestId {
        self.request_ids.next()
    }

    /// The schema's name, as given in [`Options::schema`].
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema's name, quoted for SQL.
    pub(crate) fn quoted_schema(&self) -> &str {
        &self.quoted_schema
    }

    /// Refuses a lease another store granted.
    pub(crate) fn check_own(&self, lease: &Lease) -> Result<(), Error> {
        if lease.store_id() == self.store_id {
            return Ok(());
        }
        Err(Error::ForeignLease {
            lease: lease.store_id(),
            store: self.store_id,
        })
    }

    /// The `now` parameter every statement binds: `NULL` (the server's clock) in production, the
    /// manual clock's reading, checked by the core, in tests.
    pub(crate) fn clock_param(&self) -> Result<Option<i64>, Error> {
        let Some(clock) = &self.clock else {
            return Ok(None);
        };
        let now = clock.now()?;
        check_clock(now)?;
        Ok(Some(crate::row::bigint(now.as_millis())))
    }

    /// `ttl` in milliseconds as the statements bind it. A ttl past `i64::MAX` ms overflows
    /// `now + ttl` at every reading: the core's refusal needs the reading, so the clock is read
    /// (one statement) and nothing else is sent.
    pub(crate) async fn storable_ttl(&self, ttl: Ttl) -> Result<i64, Error> {
        if let Ok(millis) = i64::try_from(ttl.as_millis()) {
            return Ok(millis);
        }
        let now = self.read_clock().await?;
        let refusal = lease_expiry(now, ttl).err();
        Err(Error::Rejected(
            refusal.unwrap_or(DecideError::ExpiryOverflow { now, ttl }),
        ))
    }

    /// Runs one statement: the only way this crate sends the store's statements outside a fenced
    /// transaction. A serialization failure or deadlock is retried with the same parameters,
    /// up to [`Options::serialization_retries`] attempts with a short jittered pause between; a
    /// broken connection is dropped, and the next statement connects anew.
    pub(crate) async fn run(
        &self,
        statement: Statement,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        let sql = self.texts.get(statement);
        let mut backoff = Backoff::new();
        for attempt in 1.. {
            let mut session = self.sessions.session().await?;
            let (client, cache) = self.connection(&mut session);
            match self.run_on(client, &cache, statement, sql, params).await {
                Ok(rows) => return Ok(rows),
                Err(Failure::Retry(source)) if attempt >= self.serialization_retries => {
                    return Err(Error::SerializationFailure {
                        attempts: attempt,
                        source,
                    });
                }
                Err(Failure::Retry(_)) => {}
                Err(Failure::Lost(e)) => {
                    session.discard();
                    return Err(e);
                }
                Err(Failure::Fail(e)) => return Err(e),
            }
            drop(session);
            tokio::time::sleep(backoff.next_pause()).await;
        }
        unreachable!("the attempts are counted by an unbounded range")
    }

    /// The store's text of `statement`.
    pub(crate) fn text(&self, statement: Statement) -> &str {
        self.texts.get(statement)
    }

    /// `session`'s connection, with its statement cache if this store prepares statements.
    pub(crate) fn connection<'s>(&self, session: &'s mut Session<'_>) -> (&'s mut Client, Cache) {
        let (client, cache) = session.with_cache();
        if self.prepared_statements {
            (client, cache)
        } else {
            (client, Cache::Unnamed)
        }
    }

    /// Runs `sql`, as `statement`, on `client` outside a transaction (a session's, or the
    /// setup's): see [`AsyncPgStore::send`].
    pub(crate) async fn run_on(
        &self,
        client: &Client,
        cache: &Cache,
        statement: Statement,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Failure> {
        self.send(client, cache, false, (statement, sql), params)
            .await
    }

    /// Runs `sql`, as `statement`, inside a fenced transaction on `client`: see
    /// [`AsyncPgStore::send`].
    pub(crate) async fn run_in(
        &self,
        client: &Client,
        cache: &Cache,
        statement: Statement,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Failure> {
        self.send(client, cache, true, (statement, sql), params)
            .await
    }

    /// Runs `sql`, as `statement`, on `client`, unnamed or prepared through `cache`: the seam
    /// (one event, however many messages) and the I/O timeout apply, retries do not. On
    /// [`Failure::Lost`] the caller drops the connection. A cached statement the server no
    /// longer knows is prepared again once; inside a transaction (`in_transaction`) that is not
    /// possible, and the failure is a [`Failure::Retry`] of the whole transaction.
    async fn send(
        &self,
        client: &Client,
        cache: &Cache,
        in_transaction: bool,
        (statement, sql): (Statement, &str),
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Failure> {
        let sent = prepared::send(client, cache, in_transaction, (statement, sql), params);
        match self.answer(statement, sent).await {
            Ok(rows) => Ok(rows),
            // The statement did not run, and the cache is empty again.
            Err(Unanswered::Failed(e)) if in_transaction && prepared::is_stale(cache, &e) => {
                Err(Failure::Retry(e))
            }
            Err(Unanswered::Failed(e)) => Err(sqlstate::classify(statement, e)),
            Err(Unanswered::Lost(e)) => Err(Failure::Lost(e)),
        }
    }

    /// Awaits `query` (any request on a connection, such as `BEGIN` or `COMMIT`) as `statement`:
    /// the seam and the I/O timeout apply, and a failure is classified.
    pub(crate) async fn control<T>(
        &self,
        statement: Statement,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Failure> {
        self.answer(statement, query).await.map_err(|e| match e {
            Unanswered::Failed(e) => sqlstate::classify(statement, e),
            Unanswered::Lost(e) => Failure::Lost(e),
        })
    }

    /// Awaits the answer to `statement` within the I/O timeout and shows it to the seam.
    async fn answer<T>(
        &self,
        statement: Statement,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Unanswered> {
        let answer = match self.io_timeout {
            Some(after) => tokio::time::timeout(after, query)
                .await
                .map_err(|_| Unanswered::Lost(Error::TimedOut { after }))?,
            None => query.await,
        };
        let verdict = self
            .seam
            .as_ref()
            .map(|s| s.answered(statement, answer.is_ok()));
        if verdict == Some(Verdict::LoseReply) {
            return Err(Unanswered::Lost(Error::Disconnected { source: None }));
        }
        answer.map_err(Unanswered::Failed)
    }

    /// Closes the store's own connection and its listener's politely (for the blocking store's
    /// drop).
    pub(crate) async fn close(&self) {
        self.listener.close().await;
        self.sessions.close().await;
    }

    /// A connection for a fenced transaction or the setup, held until the session is dropped.
    pub(crate) async fn session(&self) -> Result<Session<'_>, Error> {
        self.sessions.session().await
    }

    /// Whether releases and evictions send the wake-up hint: the parameter their statements
    /// bind.
    pub(crate) fn notifies(&self) -> bool {
        self.notify
    }

    /// How many attempts a statement gets under serialization failures.
    pub(crate) fn serialization_retries(&self) -> u32 {
        self.serialization_retries
    }

    /// The store's clock reading (the server's, or the manual clock's).
    pub(crate) async fn read_clock(&self) -> Result<Timestamp, Error> {
        let now = self.clock_param()?;
        let rows = self.run(Statement::Clock, &[(&now, Type::INT8)]).await?;
        let row = rows
            .first()
            .ok_or_else(|| crate::row::corrupt("the clock", "no reading"))?;
        crate::row::now(row, 0)
    }
}

impl fmt::Debug for AsyncPgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPgStore")
            .field("schema", &self.schema)
            .field("store_id", &self.store_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
