//! [`KeeperConfig`] and [`DriftMargin`]: when a holder renews, and how much of the TTL it gives up
//! to its clock.

use std::time::Duration;

use crate::error::KeeperConfigError;
use crate::time::Ttl;

/// How much of the TTL a holder gives up so that its own deadline falls before the store's expiry
/// even though the two are measured on different clocks: `ttl × max_drift_ppm / 10⁶ + fixed`,
/// the first part rounded up to the nanosecond.
///
/// The proportional part covers **clock drift**. If the holder's clock may run slower than the
/// store's by a rate of at most ρ (it measures at least `(1 − ρ) × d` of every store interval `d`),
/// then a holder that counts `ttl − margin` on its clock from a send instant has let at most
/// `(ttl − margin) / (1 − ρ)` of store time pass, which is at most `ttl` iff `margin ≥ ttl × ρ`.
/// A fixed margin could not do this for every TTL: drift is a rate, so the error grows with the
/// interval measured. `docs/keeper.md` in the repository has the whole argument.
///
/// The fixed part covers what does not scale with the TTL: the **store clock's resolution** (a
/// store that reads whole milliseconds may date a request up to 1 ms before it arrived, so its
/// lease may end up to 1 ms before `send + ttl`), plus the holder's own slack between checking
/// [`Keeper::is_valid`](crate::Keeper::is_valid) and acting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DriftMargin {
    /// The largest rate at which the holder's clock may run slower than the store's, in parts per
    /// million of the TTL.
    pub max_drift_ppm: u32,
    /// A fixed part, added to the proportional one.
    pub fixed: Duration,
}

impl DriftMargin {
    /// 1,000 ppm (0.1 %) plus 1 ms. Two clocks that each keep within NTP's 500 ppm frequency
    /// tolerance of true time differ by at most about 1,000 ppm; 1 ms is a millisecond store
    /// clock's resolution.
    pub const DEFAULT: Self = Self {
        max_drift_ppm: 1_000,
        fixed: Duration::from_millis(1),
    };

    /// No margin at all: only correct when the holder and the store read the very same clock with
    /// no resolution loss, which no real deployment can promise.
    pub const ZERO: Self = Self {
        max_drift_ppm: 0,
        fixed: Duration::ZERO,
    };

    /// The margin for `ttl`.
    #[must_use]
    pub fn for_ttl(self, ttl: Ttl) -> Duration {
        let ttl_nanos = ttl.as_duration().as_nanos();
        let drift = (ttl_nanos * u128::from(self.max_drift_ppm)).div_ceil(1_000_000);
        // ttl × ppm / 10⁶ with ppm < 2³² stays far below Duration::MAX; saturate anyway rather
        // than trust that for every future caller.
        let drift = u64::try_from(drift).map_or(Duration::MAX, Duration::from_nanos);
        drift.saturating_add(self.fixed)
    }
}

impl Default for DriftMargin {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a [`Keeper`](crate::Keeper) holds a lease: the TTL it was granted with, when to renew, how
/// often to retry, and its [`DriftMargin`]. Build one with [`KeeperConfig::new`] and change the
/// fields you need; [`Keeper::new`](crate::Keeper::new) refuses a configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeeperConfig {
    /// The TTL the acquire asked for, and every renewal asks for.
    pub ttl: Ttl,
    /// How long after the send instant of the last confirmed request (the acquire, or the last
    /// renewal the store answered `Renewed`) the next renewal is sent. Default: `ttl / 3`, which
    /// leaves two more thirds for the renewal and its retries.
    pub renew_after: Duration,
    /// How long after an unconfirmed renewal attempt was sent (failed, or not answered yet) the
    /// next attempt is sent. Default: `ttl / 20`, so that a renewal gets about a dozen attempts
    /// before the deadline.
    pub retry_after: Duration,
    /// What the holder gives up to its clock. Default: [`DriftMargin::DEFAULT`].
    pub margin: DriftMargin,
}

impl KeeperConfig {
    /// The defaults for a lease granted with `ttl`.
    #[must_use]
    pub fn new(ttl: Ttl) -> Self {
        Self {
            ttl,
            renew_after: ttl.as_duration() / 3,
            retry_after: ttl.as_duration() / 20,
            margin: DriftMargin::DEFAULT,
        }
    }

    /// How long after a confirmed send instant the holder may still rely on its lease:
    /// `ttl − margin` (zero when the margin is not below the TTL).
    #[must_use]
    pub fn lifetime(&self) -> Duration {
        self.ttl
            .as_duration()
            .saturating_sub(self.margin.for_ttl(self.ttl))
    }

    /// Checks that the configuration can hold a lease at all.
    ///
    /// # Errors
    ///
    /// The first [`KeeperConfigError`] that applies, in the order of its variants.
    pub fn validate(&self) -> Result<(), KeeperConfigError> {
        let ttl = self.ttl;
        let margin = self.margin.for_ttl(ttl);
        if self.renew_after.is_zero() {
            return Err(KeeperConfigError::ZeroRenewAfter);
        }
        if self.retry_after.is_zero() {
            return Err(KeeperConfigError::ZeroRetryAfter);
        }
        if margin >= ttl.as_duration() {
            return Err(KeeperConfigError::MarginNotBelowTtl { margin, ttl });
        }
        if self.renew_after >= ttl.as_duration() {
            let renew_after = self.renew_after;
            return Err(KeeperConfigError::RenewNotBelowTtl { renew_after, ttl });
        }
        let lifetime = self.lifetime();
        if self.renew_after >= lifetime {
            let renew_after = self.renew_after;
            return Err(KeeperConfigError::RenewNotBeforeDeadline {
                renew_after,
                lifetime,
            });
        }
        Ok(())
    }
}
