//! Time on the store's clock: [`Timestamp`] and [`Ttl`].

use core::fmt;
use std::time::Duration;

use crate::error::TtlError;

/// An instant on the **store's clock**, in whole milliseconds since that clock's epoch.
///
/// For the SQLite adapter the epoch is the Unix epoch; for the model checker it is tick 0. Every
/// decision compares timestamps as integers: a timestamp is never a string, so "later" can never
/// depend on formatting, precision or time-zone offsets.
///
/// Timestamps range over `0..=Timestamp::MAX` (2^63 - 1 ms, about 292 million years), so that
/// any store can keep them in a signed 64-bit integer column. A larger value can be constructed
/// but is rejected by [`LockState::decide`](crate::LockState::decide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's epoch.
    pub const ZERO: Self = Self(0);
    /// The largest timestamp a store accepts: `i64::MAX` milliseconds.
    pub const MAX: Self = Self(i64::MAX.unsigned_abs());

    /// The instant `millis` milliseconds after the clock's epoch.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the clock's epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whether a store can represent this instant (`self <= Timestamp::MAX`).
    #[must_use]
    pub const fn is_representable(self) -> bool {
        self.0 <= Self::MAX.0
    }

    /// `self + ttl`, or `None` when the sum would pass [`Timestamp::MAX`].
    #[must_use]
    pub const fn checked_add(self, ttl: Ttl) -> Option<Self> {
        match self.0.checked_add(ttl.as_millis()) {
            Some(sum) if sum <= Self::MAX.0 => Some(Self(sum)),
            _ => None,
        }
    }

    /// Milliseconds from `earlier` to `self`, or zero when `earlier` is not earlier.
    #[must_use]
    pub const fn millis_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// How long a lease lasts from the instant it is granted or renewed: a whole, non-zero number of
/// milliseconds on the store's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(core::num::NonZeroU64);

impl Ttl {
    /// A TTL of `millis` milliseconds.
    ///
    /// # Errors
    ///
    /// [`TtlError::Zero`] when `millis` is zero: a lease that is over as soon as it is granted
    /// would be granted and lost in the same instant.
    pub const fn from_millis(millis: u64) -> Result<Self, TtlError> {
        match core::num::NonZeroU64::new(millis) {
            Some(ms) => Ok(Self(ms)),
            None => Err(TtlError::Zero),
        }
    }

    /// Converts a [`Duration`], rounding a fraction of a millisecond **up**, so that a lease never
    /// lasts less than the caller asked for.
    ///
    /// # Errors
    ///
    /// [`TtlError::Zero`] for a zero duration, [`TtlError::TooLong`] when the duration does not
    /// fit in `u64` milliseconds.
    pub fn from_duration(duration: Duration) -> Result<Self, TtlError> {
        let nanos = duration.as_nanos();
        let millis = nanos.div_ceil(1_000_000);
        let millis = u64::try_from(millis).map_err(|_| TtlError::TooLong)?;
        Self::from_millis(millis)
    }

    /// The TTL in milliseconds (never zero).
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0.get()
    }

    /// The TTL as a [`Duration`].
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.0.get())
    }
}

impl TryFrom<Duration> for Ttl {
    type Error = TtlError;

    fn try_from(duration: Duration) -> Result<Self, TtlError> {
        Self::from_duration(duration)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_fractions_of_a_millisecond_up() {
        let ttl = Ttl::from_duration(Duration::from_micros(1_500)).unwrap();
        assert_eq!(ttl.as_millis(), 2);
        let ttl = Ttl::from_duration(Duration::from_nanos(1)).unwrap();
        assert_eq!(ttl.as_millis(), 1);
        let ttl = Ttl::from_duration(Duration::from_secs(30)).unwrap();
        assert_eq!(ttl.as_millis(), 30_000);
    }

    #[test]
    fn ttl_rejects_zero_and_unrepresentable_durations() {
        assert_eq!(Ttl::from_millis(0), Err(TtlError::Zero));
        assert_eq!(Ttl::from_duration(Duration::ZERO), Err(TtlError::Zero));
        assert_eq!(Ttl::from_duration(Duration::MAX), Err(TtlError::TooLong));
    }

    #[test]
    fn checked_add_stops_at_the_representable_maximum() {
        let one = Ttl::from_millis(1).unwrap();
        let just_below = Timestamp::from_millis(Timestamp::MAX.as_millis() - 1);
        assert_eq!(just_below.checked_add(one), Some(Timestamp::MAX));
        assert_eq!(Timestamp::MAX.checked_add(one), None);
        assert_eq!(Timestamp::from_millis(u64::MAX).checked_add(one), None);
        assert!(!Timestamp::from_millis(u64::MAX).is_representable());
    }
}
