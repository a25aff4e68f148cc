//! Where a store reads `now`: [`Clock`], [`SystemClock`], and (feature `test-util`)
//! [`ManualClock`].
//!
//! Every lease decision compares `now` with the `expires_at` that earlier requests stored, so
//! every store of one database must read the **same** clock. For the SQLite store that is the
//! host's wall clock ([`SystemClock`]), shared by every process that can open the file; the
//! PostgreSQL store reads the database server's clock inside each statement instead.

use core::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use leasehold_core::Timestamp;

/// A clock a store reads `now` from: whole milliseconds on the one clock every user of the
/// database shares. A store reads it once per statement, immediately before the statement runs.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time on this clock.
    ///
    /// # Errors
    ///
    /// A [`ClockError`] when the clock has no usable reading.
    fn now(&self) -> Result<Timestamp, ClockError>;
}

/// Why a [`Clock`] gave no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockError {
    /// The system clock reads a time before the Unix epoch.
    BeforeEpoch,
    /// The system clock reads a time too far in the future for 64-bit milliseconds.
    OutOfRange,
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BeforeEpoch => "the system clock reads a time before the Unix epoch",
            Self::OutOfRange => "the system clock reads a time past 64-bit milliseconds",
        })
    }
}

impl std::error::Error for ClockError {}

/// The host's wall clock, in milliseconds since the Unix epoch.
///
/// It is not monotonic: if the host's clock is stepped back, leases last longer than asked, and
/// if it is stepped forward, they end early. Both keep mutual exclusion among the users of one
/// host, because they all read the same clock; a forward step does shorten leases behind their
/// holders' backs, which is why a holder that must not overlap its successor also fences.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        system_time_millis(SystemTime::now())
    }
}

fn system_time_millis(time: SystemTime) -> Result<Timestamp, ClockError> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ClockError::BeforeEpoch)?;
    let millis = u64::try_from(since_epoch.as_millis()).map_err(|_| ClockError::OutOfRange)?;
    Ok(Timestamp::from_millis(millis))
}

#[cfg(feature = "test-util")]
pub use manual::ManualClock;

#[cfg(feature = "test-util")]
mod manual {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use leasehold_core::Timestamp;

    use super::{Clock, ClockError};

    /// A clock that moves only when told to: for tests of code that uses leases (feature
    /// `test-util`).
    ///
    /// Clones share one reading, so a test keeps a clone and moves the time of the stores it gave
    /// the others to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use leasehold_contract::{Clock, ManualClock};
    /// use leasehold_core::Timestamp;
    ///
    /// let clock = ManualClock::new(Timestamp::from_millis(1_000));
    /// let handle = clock.clone();
    /// handle.advance(Duration::from_millis(500));
    /// assert_eq!(clock.now()?, Timestamp::from_millis(1_500));
    /// # Ok::<(), leasehold_contract::ClockError>(())
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
        /// `u64::MAX` (a reading every store refuses as out of range).
        pub fn advance(&self, by: Duration) {
            let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
            // The closure never returns None, so the update always succeeds.
            let _ = self
                .millis
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                    Some(ms.saturating_add(by))
                });
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Result<Timestamp, ClockError> {
            Ok(Timestamp::from_millis(self.millis.load(Ordering::SeqCst)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_system_clock_reads_milliseconds_since_the_unix_epoch() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_999);
        assert_eq!(
            system_time_millis(at),
            Ok(Timestamp::from_millis(1_700_000_000_123))
        );
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(system_time_millis(before), Err(ClockError::BeforeEpoch));
        let now = SystemClock.now().expect("the host clock reads");
        // 2023-11-14 and 2300-01-01: the reading is the real time, not a constant.
        assert!(now.as_millis() > 1_700_000_000_000 && now.as_millis() < 10_413_792_000_000);
    }

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_millis(5));
        let handle = clock.clone();
        handle.advance(Duration::from_micros(2_999));
        assert_eq!(clock.now(), Ok(Timestamp::from_millis(7)));
        handle.set(Timestamp::from_millis(3));
        assert_eq!(clock.now(), Ok(Timestamp::from_millis(3)));
        handle.advance(Duration::MAX);
        assert_eq!(clock.now(), Ok(Timestamp::from_millis(u64::MAX)));
    }
}
