//! The guard's side of time: [`LocalClock`] turns `std::time::Instant` into the keeper's
//! [`LocalInstant`] and back, and [`acquire_sent_at`] finds the send instant a keeper starts from.

use std::time::{Duration, Instant};

use leasehold_contract::{Lease, drift_margin};
use leasehold_core::{LocalInstant, TtlError};

/// The keeper's clock: `std::time::Instant` (monotonic) counted from an origin no later than any
/// instant the keeper is given.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalClock {
    origin: Instant,
}

/// How far ahead an instant too far to represent is reported: about 136 years.
const FAR: Duration = Duration::from_secs(u32::MAX as u64);

impl LocalClock {
    /// A clock whose origin is `origin`.
    pub(crate) fn starting_at(origin: Instant) -> Self {
        Self { origin }
    }

    /// Now, on the keeper's clock.
    pub(crate) fn now(self) -> LocalInstant {
        self.local(Instant::now())
    }

    /// `instant` on the keeper's clock (the origin for an earlier one).
    pub(crate) fn local(self, instant: Instant) -> LocalInstant {
        LocalInstant::from_elapsed(instant.saturating_duration_since(self.origin))
    }

    /// `local` as an `Instant`; a deadline too far to represent is reported about 136 years
    /// ahead, which no caller can tell from "never".
    pub(crate) fn instant(self, local: LocalInstant) -> Instant {
        let since = local.saturating_duration_since(LocalInstant::ZERO);
        self.origin
            .checked_add(since)
            .or_else(|| self.origin.checked_add(FAR))
            .unwrap_or(self.origin)
    }

    /// How long from now until `local` (zero if it has passed).
    pub(crate) fn until(self, local: LocalInstant) -> Duration {
        local.saturating_duration_since(self.now())
    }
}

/// The instant the request that produced `lease` was **sent**, as the contract defines a lease's
/// deadline: `deadline = sent + ttl − drift_margin(ttl)` ([`Lease::new`]), for the `ttl` the
/// request asked for. A keeper counts from that instant, never from the reply's arrival.
///
/// For a lease whose request asked for less than `ttl` (a replayed grant counts only what was
/// left of it), this is earlier than the real send instant, so the keeper's deadline can only be
/// earlier than it might have been, never later.
///
/// # Errors
///
/// [`TtlError::TooLong`] when the deadline minus the ttl is before anything this platform's
/// monotonic clock can represent (a ttl of centuries).
pub(crate) fn acquire_sent_at(lease: &Lease, ttl: Duration) -> Result<Instant, TtlError> {
    let usable = ttl.saturating_sub(drift_margin(ttl));
    lease
        .deadline()
        .checked_sub(usable)
        .ok_or(TtlError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_through_the_keepers_clock() {
        let origin = Instant::now();
        let clock = LocalClock::starting_at(origin);
        let later = origin + Duration::from_millis(1_234);
        assert_eq!(clock.instant(clock.local(later)), later);
        // An instant before the origin is the origin: the keeper is never given one.
        if let Some(earlier) = origin.checked_sub(Duration::from_millis(1)) {
            assert_eq!(clock.local(earlier), LocalInstant::ZERO);
        }
        assert!(clock.instant(LocalInstant::MAX) > origin + Duration::from_secs(1_000_000));
        assert_eq!(clock.until(LocalInstant::ZERO), Duration::ZERO);
    }
}
