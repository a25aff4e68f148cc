//! [`Options`] for connecting a store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use leasehold_contract::Clock;

use crate::seam::Seam;

/// The schema a store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "leasehold";

/// How [`PgStore::connect_with`](crate::PgStore::connect_with) and its async and
/// client/pool twins set up a store.
///
/// ```
/// use std::time::Duration;
/// use leasehold_postgres::Options;
///
/// let options = Options::new()
///     .schema("locks")
///     .connect_timeout(Duration::from_secs(2))
///     .io_timeout(Some(Duration::from_secs(10)));
/// # let _ = options;
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct Options {
    pub(crate) schema: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Option<Duration>,
    pub(crate) serialization_retries: u32,
    /// A manual clock whose reading every statement binds (feature `test-util`); `None`: the
    /// server's clock.
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) seam: Option<Arc<dyn Seam>>,
    pub(crate) listen: Listen,
    pub(crate) notify: bool,
    pub(crate) prepared_statements: bool,
    /// Every pause between a waiter's attempts (feature `test-util`); `None`: the backoff of
    /// `leasehold_contract::wait`.
    pub(crate) poll_interval: Option<Duration>,
}

/// Where a store's waiters hear that a lease may have become free: [`Options::listen`].
///
/// Releases and evictions through any store of the schema send a notification when they commit
/// (`pg_notify`); a store that listens wakes its waiting callers for that resource at once.
/// Hearing nothing is never a failure: waiters also try again at the end of every pause (4 ms
/// to 50 ms) and at the holder's expiry, as they would without a listener. See
/// `docs/postgres.md`, "Waiting for a lease".
#[non_exhaustive]
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Listen {
    /// `LISTEN` on a connection of its own to the store's URL, opened when a caller first has to
    /// wait (the default). A store made from a client or a pool has no URL, and does not
    /// listen.
    #[default]
    StoreUrl,
    /// `LISTEN` on a connection of its own to this URL (same form as
    /// [`PgStore::connect`](crate::PgStore::connect)'s) and the same database: for a store
    /// behind a transaction pooler (PgBouncer in `pool_mode = transaction` does not keep a
    /// `LISTEN`), or one made from a client or a pool.
    Url(String),
    /// No listener: waiters find out at their next try.
    Off,
}

impl Options {
    /// The defaults: schema `leasehold`, a 10 s connect timeout, a 30 s I/O timeout, 16
    /// attempts per statement under serialization failures, the server's clock.
    #[must_use]
    pub fn new() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.to_owned(),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Some(Duration::from_secs(30)),
            serialization_retries: 16,
            clock: None,
            seam: None,
            listen: Listen::StoreUrl,
            notify: true,
            prepared_statements: false,
            poll_interval: None,
        }
    }

    /// The schema that holds the store's tables (created if missing). Stores of different
    /// schemas are independent lock spaces with their own store ids. At most 63 bytes, no
    /// control characters, not starting with `pg_`; it is quoted, so case and punctuation are
    /// kept as given.
    #[must_use]
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// How long connecting (TCP, authentication, first answer) may take before
    /// [`Error::ConnectTimeout`](crate::Error::ConnectTimeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the store waits for the answer to one statement before it gives the connection
    /// up ([`Error::TimedOut`](crate::Error::TimedOut)); `None` waits as long as it takes. A
    /// statement can legitimately wait this long only for a row lock (another session's
    /// transaction on the same resource, such as a long [`with_fence`]); a server that stopped
    /// answering (a network partition) would otherwise hold the caller until TCP gives up.
    ///
    /// [`with_fence`]: crate::AsyncPgStore::with_fence
    #[must_use]
    pub fn io_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// How many times one statement is sent in all when the server reports a serialization
    /// failure or a deadlock (SQLSTATE 40001, 40P01), before
    /// [`Error::SerializationFailure`](crate::Error::SerializationFailure). At least 1.
    #[must_use]
    pub fn serialization_retries(mut self, attempts: u32) -> Self {
        self.serialization_retries = attempts.max(1);
        self
    }

    /// Where this store's waiters hear of releases and evictions by other stores (other
    /// processes, other machines): [`Listen::StoreUrl`] by default. The listener is one more
    /// connection per store, opened when a caller first has to wait (an attempt found the lease
    /// busy) and kept until the store is dropped; it counts against the server's
    /// `max_connections`.
    ///
    /// ```
    /// use leasehold_postgres::{Listen, Options};
    ///
    /// // Statements through PgBouncer, the listener straight to the server.
    /// let options = Options::new().listen(Listen::Url("postgres://app@db.internal/app".into()));
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn listen(mut self, listen: Listen) -> Self {
        self.listen = listen;
        self
    }

    /// Whether this store's releases and evictions send the wake-up hint (`pg_notify`) to the
    /// waiters of other stores: `true` by default.
    ///
    /// The hint has a price under concurrency: PostgreSQL serializes the commits of every
    /// transaction that notifies, cluster-wide, so freeing releases and evictions no longer share
    /// one WAL flush (group commit) with each other. With `false` they commit as cheaply as any
    /// write, and waiters in other stores find a freed lease at their next try instead (4 to
    /// 50 ms later). Turn it off where many connections release at high rates and few callers
    /// wait; `docs/postgres.md` has the figures. Receiving is [`Options::listen`].
    #[must_use]
    pub fn notify(mut self, notify: bool) -> Self {
        self.notify = notify;
        self
    }

    /// Whether the store prepares each of its statements once per connection (named prepared
    /// statements, kept with the connection) instead of sending it unnamed at every call:
    /// `false` by default.
    ///
    /// Prepared, a statement is parsed and planned once per connection rather than at every
    /// call, which makes the short lock statements markedly cheaper for the server. A new
    /// connection (after a reconnect, or another pooled one) starts with none prepared. A store
    /// from a pool (feature `deadpool`) keeps them in the pool's own per-connection cache
    /// (`deadpool_postgres::StatementCache`). The texts, the statements counted by a seam, the
    /// I/O timeout and the errors are the same either way; a prepared statement the server no
    /// longer knows is prepared again (inside [`with_fence`] the call then fails with
    /// [`Error::SerializationFailure`](crate::Error::SerializationFailure): retry it).
    ///
    /// Turn it on for direct connections, session pooling, or PgBouncer 1.21 or later with
    /// `max_prepared_statements` set. Never behind a transaction pooler that does not track
    /// prepared statements (PgBouncer before 1.21, or with `max_prepared_statements = 0`): a
    /// statement prepared on one server session is missing, or another client's of the same
    /// name, on the next. `docs/postgres.md`, "Prepared statements", has the details.
    ///
    /// [`with_fence`]: crate::AsyncPgStore::with_fence
    #[must_use]
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = prepared;
        self
    }

    /// Makes every pause between a waiter's attempts `interval` (feature `test-util`), still
    /// ended early by a wake-up and never past the holder's expiry nor the deadline: with a long
    /// interval, a test can tell a grant a wake-up brought from one a poll found.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Makes every statement use `clock`'s reading instead of the server's clock (feature
    /// `test-util`): the reading is bound as a parameter of the very statements production runs,
    /// where production binds `NULL`. Every store of one schema must then use the same clock.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Shows every statement to `seam` (feature `test-util`): to count statements or to lose a
    /// reply.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn seam(mut self, seam: impl Seam) -> Self {
        self.seam = Some(Arc::new(seam));
        self
    }
}

impl fmt::Debug for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StoreUrl => f.write_str("StoreUrl"),
            // A URL may carry a password.
            Self::Url(_) => f.write_str("Url(..)"),
            Self::Off => f.write_str("Off"),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("serialization_retries", &self.serialization_retries)
            .field("clock", &self.clock)
            .field("seam", &self.seam)
            .field("listen", &self.listen)
            .field("notify", &self.notify)
            .field("prepared_statements", &self.prepared_statements)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}
