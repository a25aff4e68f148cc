//! [`Options`] for opening a store, and the [`Durability`] choice.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use leasehold_contract::{Clock, SystemClock};

use crate::seam::{Direct, Seam};

/// How soon a committed change is safe from an operating-system crash or power loss.
///
/// Both modes put the database in WAL mode (readers never wait for the writer) and both are safe
/// from a **process** crash: a statement that returned is in the file. They differ only when the
/// machine itself goes down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL`: every commit is flushed to stable storage before the statement returns,
    /// so a grant is durable before the caller hears of it. One fsync per successful state change.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits are flushed at WAL checkpoints, not one by one.
    ///
    /// **What it risks:** after an operating-system crash or power loss (not a process crash),
    /// the last commits before the crash can be lost. A lost grant is forgotten by the store: the
    /// resource can then be granted again — **with the same fencing token** — while the first
    /// holder still believes it holds its lease, and a protected resource that checks tokens
    /// cannot tell the two holders apart. A lost release or renew is milder (the lease ends
    /// at its earlier expiry, or stays until it expires). The database is never corrupted.
    /// Use it where a machine crash ends all holders too (they run on the same host and are
    /// restarted with it), or for tests.
    Relaxed,
}

/// How [`SqliteStore::open_with`](crate::SqliteStore::open_with) and
/// [`SqliteStore::from_connection_with`](crate::SqliteStore::from_connection_with) set up a store.
///
/// ```
/// use std::time::Duration;
/// use leasehold_sqlite::{Durability, Options};
///
/// let options = Options::new()
///     .durability(Durability::Full)
///     .busy_timeout(Duration::from_secs(2));
/// # let _ = options;
/// ```
#[non_exhaustive]
pub struct Options<S: Seam = Direct> {
    pub(crate) durability: Durability,
    pub(crate) busy_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) seam: S,
    /// Whether waiting acquires stand in the line shared between processes (test hook).
    pub(crate) shared_line: bool,
    /// The most waiters in one resource's shared line (test hook).
    pub(crate) line_capacity: usize,
}

impl Options<Direct> {
    /// The defaults: [`Durability::Full`], a 5 s busy timeout, [`SystemClock`], and every
    /// statement run as it is (no test seam).
    #[must_use]
    pub fn new() -> Self {
        Self {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            seam: Direct,
            shared_line: true,
            line_capacity: crate::line::CAPACITY,
        }
    }
}

impl Default for Options<Direct> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Seam> Options<S> {
    /// Sets the durability mode. Ignored by `from_connection_with`, which leaves the
    /// application's journal mode and `synchronous` setting alone.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a statement waits for another connection's write lock before failing with
    /// [`Error::Busy`](crate::Error::Busy). `Duration::MAX` (or any timeout too long to add to
    /// the current instant) waits for as long as it takes.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The clock leases are measured on. Every store of one database must use the same clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Like [`Options::clock`], for a clock that is already shared.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs every statement through `seam` (for tests: counting, scheduling, fault injection;
    /// feature `test-util`).
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn seam<S2: Seam>(self, seam: S2) -> Options<S2> {
        Options {
            durability: self.durability,
            busy_timeout: self.busy_timeout,
            clock: self.clock,
            seam,
            shared_line: self.shared_line,
            line_capacity: self.line_capacity,
        }
    }

    /// Waiting acquires stand only in the store's own line of threads and poll, as before the
    /// line shared between processes (feature `test-util`): the benchmarks' negative control.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn without_shared_line(mut self) -> Self {
        self.shared_line = false;
        self
    }

    /// At most `capacity` waiters per resource in the shared line; later ones poll (feature
    /// `test-util`, for the full-line tests; the default is 64).
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn line_capacity(mut self, capacity: usize) -> Self {
        self.line_capacity = capacity;
        self
    }
}

impl<S: Seam> fmt::Debug for Options<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("busy_timeout", &self.busy_timeout)
            .field("clock", &self.clock)
            .field("seam", &core::any::type_name::<S>())
            .field("shared_line", &self.shared_line)
            .field("line_capacity", &self.line_capacity)
            .finish()
    }
}
