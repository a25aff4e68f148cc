//! What a store keeps for one resource: [`LockState`] and its [`LeaseRecord`].

use crate::name::Owner;
use crate::outcome::Holder;
use crate::time::Timestamp;
use crate::token::{FencingToken, RequestId};

/// How the lease in a [`LeaseRecord`] stands, apart from the passage of time.
///
/// Expiry is not a status: an [`Active`](Status::Active) lease is valid at `now` iff
/// `now < expires_at`, so it expires without anyone writing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Granted (or renewed) and not ended by a request. Valid until `expires_at`.
    Active,
    /// Released by its holder while it was still valid; `expires_at` is the release instant.
    Released,
    /// Released by its holder after it had already expired; `expires_at` is unchanged. The holder
    /// was told [`ReleaseOutcome::Expired`](crate::ReleaseOutcome::Expired).
    ReleasedAfterExpiry,
    /// Ended by an administrator's evict while it was valid; `expires_at` is unchanged (the
    /// expiry the lease had when it was evicted).
    Evicted,
}

/// The stored row of a resource that has been granted at least once (and not pruned since).
///
/// The record keeps the **last** lease of the resource, valid or not: its token is the largest
/// ever issued for the resource, which is what makes the next token larger still.
///
/// `O` is the type that identifies an owner; it defaults to the validated [`Owner`] name. The
/// rules only compare owners for equality, so a model checker can use a small integer instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseRecord<O = Owner> {
    /// Who the lease was granted to.
    pub owner: O,
    /// The lease's fencing token.
    pub token: FencingToken,
    /// The request id of the acquire that produced the lease.
    pub request_id: RequestId,
    /// When the lease was granted, on the store's clock.
    pub acquired_at: Timestamp,
    /// When the lease ends (status [`Active`](Status::Active)); for an ended lease, when it ended
    /// ([`Released`](Status::Released)) or was due to end (the other statuses).
    pub expires_at: Timestamp,
    /// Whether a request has ended the lease, and which.
    pub status: Status,
}

impl<O> LeaseRecord<O> {
    /// Whether the lease protects its holder at `now`: it is [`Active`](Status::Active) and
    /// `now < expires_at`. At `now == expires_at` the lease has expired.
    #[must_use]
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.status == Status::Active && now < self.expires_at
    }

    /// Whether a prune at `now` may delete this record: the lease is not valid, and has been over
    /// for **more than** `idle_for_ms` milliseconds.
    #[must_use]
    pub fn is_prunable(&self, now: Timestamp, idle_for_ms: u64) -> bool {
        !self.is_valid_at(now) && now.millis_since(self.expires_at) > idle_for_ms
    }
}

impl<O: Clone> LeaseRecord<O> {
    /// The record seen as its holder.
    #[must_use]
    pub fn holder(&self) -> Holder<O> {
        Holder {
            owner: self.owner.clone(),
            token: self.token,
            acquired_at: self.acquired_at,
            expires_at: self.expires_at,
        }
    }
}

/// The stored state of one resource: the input and output of
/// [`LockState::decide`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LockState<O = Owner> {
    /// No record: the resource was never granted, or its record was pruned.
    Vacant {
        /// The largest token that may already have been issued for the resource (`None`: no
        /// token ever was). The next grant takes a larger one, so pruning never lets a token
        /// repeat.
        high_water: Option<FencingToken>,
    },
    /// The resource's last lease, valid or not.
    Recorded(LeaseRecord<O>),
}

impl<O> Default for LockState<O> {
    /// A resource that has never been granted.
    fn default() -> Self {
        Self::Vacant { high_water: None }
    }
}

impl<O> LockState<O> {
    /// The stored record, if any.
    #[must_use]
    pub fn record(&self) -> Option<&LeaseRecord<O>> {
        match self {
            Self::Vacant { .. } => None,
            Self::Recorded(record) => Some(record),
        }
    }

    /// The record of the lease valid at `now`, if any.
    #[must_use]
    pub fn valid_record(&self, now: Timestamp) -> Option<&LeaseRecord<O>> {
        self.record().filter(|record| record.is_valid_at(now))
    }

    /// The largest token ever issued for the resource, as far as this state knows.
    #[must_use]
    pub fn high_water(&self) -> Option<FencingToken> {
        match self {
            Self::Vacant { high_water } => *high_water,
            Self::Recorded(record) => Some(record.token),
        }
    }
}

impl<O: Clone> LockState<O> {
    /// The holder of the lease valid at `now`, if any.
    #[must_use]
    pub fn holder_at(&self, now: Timestamp) -> Option<Holder<O>> {
        self.valid_record(now).map(LeaseRecord::holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, expires_at: u64) -> LeaseRecord<u8> {
        LeaseRecord {
            owner: 1,
            token: FencingToken::FIRST,
            request_id: RequestId::from_u128(7),
            acquired_at: Timestamp::ZERO,
            expires_at: Timestamp::from_millis(expires_at),
            status,
        }
    }

    #[test]
    fn a_lease_is_valid_strictly_before_its_expiry() {
        let active = record(Status::Active, 100);
        assert!(active.is_valid_at(Timestamp::from_millis(0)));
        assert!(active.is_valid_at(Timestamp::from_millis(99)));
        assert!(!active.is_valid_at(Timestamp::from_millis(100)));
        assert!(!active.is_valid_at(Timestamp::from_millis(101)));
    }

    #[test]
    fn an_ended_lease_is_never_valid() {
        for status in [
            Status::Released,
            Status::ReleasedAfterExpiry,
            Status::Evicted,
        ] {
            assert!(
                !record(status, 100).is_valid_at(Timestamp::ZERO),
                "{status:?}"
            );
        }
    }

    #[test]
    fn prunable_only_when_over_for_longer_than_the_idle_time() {
        let ended = record(Status::Active, 100);
        assert!(
            !ended.is_prunable(Timestamp::from_millis(99), 0),
            "still valid"
        );
        assert!(
            !ended.is_prunable(Timestamp::from_millis(100), 0),
            "over for 0 ms"
        );
        assert!(ended.is_prunable(Timestamp::from_millis(101), 0));
        assert!(!ended.is_prunable(Timestamp::from_millis(110), 10));
        assert!(ended.is_prunable(Timestamp::from_millis(111), 10));
        let released_early = record(Status::Released, 50);
        assert!(released_early.is_prunable(Timestamp::from_millis(51), 0));
    }
}
