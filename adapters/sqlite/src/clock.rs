//! The store's clock: [`Clock`], [`SystemClock`] and [`ManualClock`].
//!
//! Every lease decision compares `now` from this clock with the `expires_at` stored by earlier
//! requests, so every store that opens a database must read the **same** clock. For
//! [`SystemClock`] that is the host's wall clock, shared by every process that can open the file.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use leasehold_core::Timestamp;

use crate::error::{ClockError, Error};

/// Where a store reads `now`: whole milliseconds on the one clock every user of the database
/// shares. The store reads it once per statement, immediately before the statement runs.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time on this clock.
    ///
    /// # Errors
    ///
    /// [`Error::Clock`] when the clock has no usable reading.
    fn now(&self) -> Result<Timestamp, Error>;
}

/// The host's wall clock, in milliseconds since the Unix epoch (the default).
///
/// It is not monotonic: if the host's clock is stepped back, leases last longer than asked, and
/// if it is stepped forward, they end early. Both keep mutual exclusion among the users of one
/// host, because they all read the same clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Result<Timestamp, Error> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ClockError::BeforeEpoch)?;
        let millis = u64::try_from(since_epoch.as_millis()).map_err(|_| ClockError::OutOfRange)?;
        Ok(Timestamp::from_millis(millis))
    }
}

/// A clock that moves only when told to: for tests of code that uses leases.
///
/// Clones share one reading, so a test keeps a clone and moves the time of the store it gave the
/// other one to.
///
/// ```
/// use std::time::Duration;
/// use leasehold_sqlite::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_millis(1_000));
/// let handle = clock.clone();
/// handle.advance(Duration::from_millis(500));
/// assert_eq!(clock.now()?, Timestamp::from_millis(1_500));
/// # Ok::<(), leasehold_sqlite::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `start` until it is set or advanced.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(start.as_millis())),
        }
    }

    /// Makes every clone read `now`. Moving backwards is allowed (it models a stepped wall
    /// clock).
    pub fn set(&self, now: Timestamp) {
        self.millis.store(now.as_millis(), Ordering::SeqCst);
    }

    /// Moves every clone forward by `by`, truncated to whole milliseconds and saturating at
    /// `u64::MAX` (a reading the store then refuses as out of range).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // fetch_update's closure never returns None, so the update always succeeds.
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some(ms.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Result<Timestamp, Error> {
        Ok(Timestamp::from_millis(self.millis.load(Ordering::SeqCst)))
    }
}
