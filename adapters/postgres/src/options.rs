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
            .finish()
    }
}
