//! [`LocalInstant`]: time on the holder's own clock.

use core::fmt;
use std::time::Duration;

/// An instant on the **holder's local monotonic clock**, in whole nanoseconds since an arbitrary
/// origin that the holder chooses (for example the `std::time::Instant` its driver started at).
///
/// It is a different clock from the store's: a [`Timestamp`](crate::Timestamp) and a
/// `LocalInstant` are never compared or converted into each other. The keeper only ever measures
/// intervals on this clock, from a send instant to `now`, so the origin does not matter; the clock
/// must not jump (a monotonic clock such as `std::time::Instant`, not the wall clock).
///
/// Instants range over `0..=u64::MAX` nanoseconds, about 584 years after the origin; arithmetic
/// saturates at [`LocalInstant::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalInstant(u64);

impl LocalInstant {
    /// The origin.
    pub const ZERO: Self = Self(0);
    /// The latest representable instant.
    pub const MAX: Self = Self(u64::MAX);

    /// The instant `nanos` nanoseconds after the origin.
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// The instant `elapsed` after the origin, or [`LocalInstant::MAX`] when that is later, e.g.
    /// `LocalInstant::from_elapsed(origin.elapsed())` for a `std::time::Instant` origin.
    #[must_use]
    pub fn from_elapsed(elapsed: Duration) -> Self {
        Self(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds since the origin.
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + duration`, or [`LocalInstant::MAX`] when that is later.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(nanos))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is not earlier.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for LocalInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}
