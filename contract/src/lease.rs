//! [`Holder`], [`Lease`] and [`StoreId`]: who holds what, as every store reports it.

use core::fmt;
use std::time::{Duration, Instant};

use leasehold_core::{DriftMargin, FencingToken, Owner, RequestId, ResourceName, Timestamp, Ttl};

/// A lease as the store keeps it: the answer to "who holds this resource, and until when".
///
/// Times are on the **store's clock**, in milliseconds since its epoch (the Unix epoch for the
/// SQLite store's system clock and for PostgreSQL's server clock).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    resource: ResourceName,
    owner: Owner,
    token: FencingToken,
    acquired_at: Timestamp,
    expires_at: Timestamp,
}

impl Holder {
    /// A holder as a store reads it from its row. For store implementations.
    #[must_use]
    pub fn new(
        resource: ResourceName,
        owner: Owner,
        token: FencingToken,
        acquired_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            resource,
            owner,
            token,
            acquired_at,
            expires_at,
        }
    }

    /// The core's view of a holder, on `resource`.
    #[must_use]
    pub fn from_core(resource: &ResourceName, holder: leasehold_core::Holder) -> Self {
        Self::new(
            resource.clone(),
            holder.owner,
            holder.token,
            holder.acquired_at,
            holder.expires_at,
        )
    }

    /// The locked resource.
    #[must_use]
    pub fn resource(&self) -> &ResourceName {
        &self.resource
    }

    /// Who holds the lease.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The lease's fencing token: larger than every token issued before it for this resource.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// When the lease was granted, on the store's clock.
    #[must_use]
    pub fn acquired_at(&self) -> Timestamp {
        self.acquired_at
    }

    /// When the lease ends unless it is renewed, released or evicted, on the store's clock.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

/// Which store (which database, or which PostgreSQL schema) issued a lease.
///
/// A store draws its id at random when it creates its schema and keeps it there. A [`Lease`]
/// carries the id of the store that granted it, and a store refuses a lease of another store
/// (same resource name, same token number, different history) with a typed error instead of
/// renewing, releasing or fencing with it. A database deleted and created again gets a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreId(u64);

impl StoreId {
    /// The id `value`, as a store keeps it.
    #[must_use]
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The id's value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// A random id for a new schema, in `1..=i64::MAX` so that it fits every store's signed
    /// 64-bit column.
    ///
    /// # Errors
    ///
    /// The operating system's random source failed.
    pub fn random() -> Result<Self, getrandom::Error> {
        Ok(Self((getrandom::u64()? >> 1).max(1)))
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A lease the caller holds (or held): what it needs to renew, release and fence with, and until
/// when it may rely on it.
///
/// A lease is the [`Holder`] the store wrote, plus what only its holder knows: the request id that
/// produced it, the store that granted it, and its local [`deadline`](Lease::deadline).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    holder: Holder,
    request_id: RequestId,
    store: StoreId,
    deadline: Instant,
}

impl Lease {
    /// A lease granted (or renewed) by the store `store` in answer to a request **sent** at
    /// `sent` for `ttl`. For store implementations.
    ///
    /// The deadline is `sent + ttl - margin`: measured from when the request left, not from when
    /// the answer came back, so a slow answer can only shorten it; `margin` covers the rate at
    /// which this process's clock may run slower than the store's (see [`drift_margin`]) — the
    /// same rule as the core's `Keeper`.
    #[must_use]
    pub fn new(
        holder: Holder,
        request_id: RequestId,
        store: StoreId,
        sent: Instant,
        ttl: Duration,
    ) -> Self {
        Self {
            holder,
            request_id,
            store,
            deadline: local_deadline(sent, ttl),
        }
    }

    /// The same lease with the holder a renewal wrote and the deadline of that renewal, sent at
    /// `sent` for `ttl`; the deadline never moves back. For store implementations.
    #[must_use]
    pub fn renewed(&self, holder: Holder, sent: Instant, ttl: Duration) -> Self {
        Self {
            holder,
            deadline: self.deadline.max(local_deadline(sent, ttl)),
            ..self.clone()
        }
    }

    /// The lease as the store keeps it.
    #[must_use]
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The locked resource.
    #[must_use]
    pub fn resource(&self) -> &ResourceName {
        self.holder.resource()
    }

    /// Who holds the lease.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        self.holder.owner()
    }

    /// The fencing token: pass it to whatever the lease protects, which refuses older tokens.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.holder.token()
    }

    /// When the lease was granted, on the store's clock.
    #[must_use]
    pub fn acquired_at(&self) -> Timestamp {
        self.holder.acquired_at()
    }

    /// When the store will consider the lease over unless it is renewed, on the store's clock.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.holder.expires_at()
    }

    /// The id of the acquire request that produced the lease.
    #[must_use]
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// The store that granted the lease.
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        self.store
    }

    /// Until when **this process** may rely on the lease, on its own monotonic clock: the instant
    /// the granting (or last renewing) request was sent, plus the ttl, minus the drift margin.
    ///
    /// The store's expiry is on the store's clock, which this process cannot read; the deadline
    /// is its conservative local view. It assumes the store's clock runs at most 1,000 ppm faster
    /// than this process's monotonic clock ([`drift_margin`]) and is not stepped forward (see
    /// `docs/keeper.md`). A
    /// holder that may be paused past its deadline (a stopped process, a long GC pause) must also
    /// pass its [`token`](Lease::token) to what it protects.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline is still ahead: `Instant::now() < deadline()`.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// How long until the deadline (zero once it has passed).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The part of a `ttl` a holder gives up so that its deadline falls before the store's expiry:
/// the keeper's default margin, [`DriftMargin::DEFAULT`] — 1,000 ppm of the ttl (two clocks that
/// each keep within NTP's 500 ppm of true time) plus 1 ms (a millisecond store clock's
/// resolution). `docs/keeper.md` in the repository has the argument.
#[must_use]
pub fn drift_margin(ttl: Duration) -> Duration {
    Ttl::from_duration(ttl).map_or(Duration::ZERO, |ttl| DriftMargin::DEFAULT.for_ttl(ttl))
}

/// The largest high-water mark a new store starts from: 2^53 - 1, so that tokens stay exact
/// integers in JavaScript and in double-precision JSON parsers for as long as the clock allows.
const MAX_STARTING_HIGH_WATER: u64 = (1 << 53) - 1;

/// The high-water mark a new store's tokens start above (`None`: from the first token): its
/// creation instant `created` on the store's clock, in microseconds (milliseconds times 1,000),
/// capped at 2^53 - 1. Every store uses this rule when it creates its schema.
///
/// A database deleted and created again then issues tokens above every token its predecessor can
/// have issued for any resource, provided the clock did not go back and the predecessor did not
/// grant one resource more than a thousand times a millisecond on average over its life. A
/// protected resource that remembers the old tokens keeps accepting the new holders instead of
/// refusing them all.
#[must_use]
pub fn starting_high_water(created: Timestamp) -> Option<FencingToken> {
    let micros = created.as_millis().saturating_mul(1_000);
    FencingToken::new(micros.min(MAX_STARTING_HIGH_WATER))
}

/// `sent + ttl - margin`, or the latest instant this platform can add when the ttl is too long
/// to add at all (a ttl of centuries: the deadline is then effectively never).
fn local_deadline(sent: Instant, ttl: Duration) -> Instant {
    let usable = ttl.saturating_sub(drift_margin(ttl));
    let mut step = usable;
    while !step.is_zero() {
        if let Some(deadline) = sent.checked_add(step) {
            return deadline;
        }
        step /= 2;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder::new(
            ResourceName::new("r").expect("valid"),
            Owner::new("o").expect("valid"),
            FencingToken::FIRST,
            Timestamp::ZERO,
            Timestamp::from_millis(1_000),
        )
    }

    #[test]
    fn the_deadline_is_the_send_time_plus_the_ttl_minus_the_keepers_margin() {
        let sent = Instant::now();
        let ttl = Duration::from_secs(10);
        let id = RequestId::from_u128(1);
        let lease = Lease::new(holder(), id, StoreId(7), sent, ttl);
        // 1,000 ppm of 10 s is 10 ms, plus 1 ms.
        assert_eq!(lease.deadline(), sent + Duration::from_millis(9_989));
        assert_eq!(drift_margin(ttl), Duration::from_millis(11));
        assert_eq!(drift_margin(Duration::ZERO), Duration::ZERO);
        // A ttl no longer than the margin leaves nothing: the deadline is the send instant.
        let short = Lease::new(holder(), id, StoreId(7), sent, Duration::from_micros(500));
        assert_eq!(short.deadline(), sent);
    }

    #[test]
    fn a_ttl_too_long_to_add_gives_a_far_deadline_instead_of_a_panic() {
        let sent = Instant::now();
        let lease = Lease::new(
            holder(),
            RequestId::from_u128(1),
            StoreId(7),
            sent,
            Duration::MAX,
        );
        assert!(lease.deadline() > sent + Duration::from_secs(3_600 * 24 * 365));
    }

    #[test]
    fn a_new_store_starts_above_its_creation_instant_in_microseconds() {
        assert_eq!(starting_high_water(Timestamp::ZERO), None);
        assert_eq!(
            starting_high_water(Timestamp::from_millis(1_764_000_000_123)).map(FencingToken::get),
            Some(1_764_000_000_123_000)
        );
        assert_eq!(
            starting_high_water(Timestamp::MAX).map(FencingToken::get),
            Some(9_007_199_254_740_991)
        );
    }

    #[test]
    fn random_store_ids_are_positive_signed_64_bit_values_and_differ() {
        let ids: Vec<u64> = (0..32)
            .map(|_| StoreId::random().expect("random").as_u64())
            .collect();
        assert!(
            ids.iter()
                .all(|id| (1..=i64::MAX.unsigned_abs()).contains(id))
        );
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn a_renewal_never_moves_the_deadline_back() {
        let sent = Instant::now();
        let ttl = Duration::from_secs(10);
        let lease = Lease::new(holder(), RequestId::from_u128(1), StoreId(7), sent, ttl);
        let earlier = lease.renewed(holder(), sent, Duration::from_secs(1));
        assert_eq!(earlier.deadline(), lease.deadline());
        let later = lease.renewed(holder(), sent + Duration::from_secs(5), ttl);
        assert_eq!(
            later.deadline(),
            sent + Duration::from_secs(5) + Duration::from_millis(9_989)
        );
        assert_eq!(later.request_id(), lease.request_id());
        assert_eq!(later.store_id(), StoreId(7));
    }

    #[test]
    fn a_lease_reads_its_holder_and_a_renewal_takes_the_new_one() {
        let held = |expires| {
            Holder::new(
                ResourceName::new("r").expect("valid"),
                Owner::new("o").expect("valid"),
                FencingToken::FIRST,
                Timestamp::from_millis(250),
                Timestamp::from_millis(expires),
            )
        };
        let sent = Instant::now();
        let ttl = Duration::from_secs(10);
        let lease = Lease::new(held(1_000), RequestId::from_u128(1), StoreId(7), sent, ttl);
        assert_eq!(lease.holder(), &held(1_000));
        assert_eq!(lease.acquired_at(), Timestamp::from_millis(250));
        assert_eq!(lease.expires_at(), Timestamp::from_millis(1_000));
        assert_eq!(lease.holder().acquired_at(), Timestamp::from_millis(250));
        assert_eq!(lease.holder().expires_at(), Timestamp::from_millis(1_000));
        let renewed = lease.renewed(held(5_000), sent, ttl);
        assert_eq!(renewed.holder(), &held(5_000));
        assert_eq!(renewed.expires_at(), Timestamp::from_millis(5_000));
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn validity_and_remaining_time_follow_the_deadline() {
        let ttl = Duration::from_secs(3_600);
        let id = RequestId::from_u128(1);
        let fresh = Lease::new(holder(), id, StoreId(7), Instant::now(), ttl);
        assert!(fresh.is_valid());
        assert!(fresh.remaining() > Duration::from_secs(3_000));
        assert!(fresh.remaining() <= ttl);
        let short = Lease::new(holder(), id, StoreId(7), Instant::now(), ms(20));
        std::thread::sleep(ms(25));
        assert!(!short.is_valid());
        assert_eq!(short.remaining(), Duration::ZERO);
    }

    #[test]
    fn a_store_id_displays_as_16_hex_digits() {
        assert_eq!(StoreId(42).to_string(), "000000000000002a");
    }
}
