//! The rules every store follows when one of its conditional writes changed nothing: what the
//! follow-up read of the row means, as the core decides it. Shared by the stores so that none
//! restates them.
//!
//! A store makes each transition one conditional statement. When that statement writes nothing,
//! the store reads the row once and asks the core what the request gets on it. The read only
//! reports: if the core would *write* on what it found, the row changed between the two statements
//! (another client's transition committed in between, or the blocking lease reached its expiry),
//! no instant made the refusal true, and the store starts a new round with a fresh clock reading.
//! Each extra round means another client made progress, so the loop is lock-free; it is bounded
//! by [`MAX_ROUNDS`] so that a statement and a read that keep disagreeing can never spin forever.

use std::time::{Duration, Instant};

use leasehold_core::{
    AcquireOutcome, DecideError, FencingToken, Grant, GrantKind, LockState, NameError, Outcome,
    Owner, Request, RequestId, ResourceName, Timestamp, Ttl, TtlError,
};

use crate::answer::{Acquire, Lost, Release};
use crate::lease::{Holder, Lease, StoreId};

/// How many write-then-read rounds one operation makes before the store gives up with its
/// "contended" error. Each extra round needs another client's commit on the same row in between,
/// so real contention almost never needs a second.
pub const MAX_ROUNDS: usize = 64;

/// An acquire request, its input checked by the core's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    resource: ResourceName,
    owner: Owner,
    ttl: Ttl,
    request_id: RequestId,
}

impl AcquireRequest {
    /// Checks `resource`, `owner` and `ttl` as the core does (the ttl rounded up to whole
    /// milliseconds).
    ///
    /// # Errors
    ///
    /// The core's [`NameError`] or [`TtlError`], converted into the store's error.
    pub fn new<E: From<NameError> + From<TtlError>>(
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Self, E> {
        Ok(Self {
            resource: ResourceName::new(resource)?,
            owner: Owner::new(owner)?,
            ttl: Ttl::from_duration(ttl)?,
            request_id,
        })
    }

    /// The resource.
    #[must_use]
    pub fn resource(&self) -> &ResourceName {
        &self.resource
    }

    /// Who asks.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// For how long.
    #[must_use]
    pub fn ttl(&self) -> Ttl {
        self.ttl
    }

    /// The attempt's identity.
    #[must_use]
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// The request as the core takes it.
    #[must_use]
    pub fn core(&self) -> Request {
        Request::Acquire {
            owner: self.owner.clone(),
            request_id: self.request_id,
            ttl: self.ttl,
        }
    }

    /// The lease a successful acquire statement wrote, `(token, acquired_at, expires_at)`, for a
    /// request sent at `sent` to the store `store`.
    #[must_use]
    pub fn granted(
        &self,
        (token, acquired_at, expires_at): (FencingToken, Timestamp, Timestamp),
        store: StoreId,
        sent: Instant,
    ) -> Lease {
        let holder = Holder::new(
            self.resource.clone(),
            self.owner.clone(),
            token,
            acquired_at,
            expires_at,
        );
        Lease::new(holder, self.request_id, store, sent, self.ttl.as_duration())
    }

    /// What a refused acquire statement means, given the row a follow-up read found (`state`) and
    /// the clock reading `now` the statement was judged at: `Busy`, the replay of this request's
    /// own grant, or `None` — round again.
    ///
    /// A replayed lease's deadline counts what was left of it at `now` from `sent`: the first
    /// attempt's send time is not known here, and this attempt was sent before `now`.
    ///
    /// # Errors
    ///
    /// The core refuses the request at `now` (the clock out of range, the expiry unstorable).
    pub fn refused(
        &self,
        state: &LockState,
        now: Timestamp,
        store: StoreId,
        sent: Instant,
    ) -> Result<Option<Acquire>, DecideError> {
        let decision = state.decide(&self.core(), now)?;
        if decision.write.is_some() {
            return Ok(None);
        }
        Ok(match decision.outcome {
            Outcome::Acquire(AcquireOutcome::Busy(holder)) => {
                Some(Acquire::Busy(Holder::from_core(&self.resource, holder)))
            }
            Outcome::Acquire(AcquireOutcome::Granted(grant)) => {
                Some(Acquire::Granted(self.replayed(&grant, now, store, sent)))
            }
            _ => None,
        })
    }

    fn replayed(&self, grant: &Grant, now: Timestamp, store: StoreId, sent: Instant) -> Lease {
        debug_assert_eq!(grant.kind, GrantKind::Replayed, "a new grant writes");
        let holder = Holder::new(
            self.resource.clone(),
            self.owner.clone(),
            grant.token,
            grant.acquired_at,
            grant.expires_at,
        );
        let left = Duration::from_millis(grant.expires_at.millis_since(now));
        Lease::new(holder, self.request_id, store, sent, left)
    }
}

/// What a refused renew statement means for the lease with `token` on `resource`, given the row a
/// follow-up read found and the statement's clock reading: why it is lost, or `None` — the core
/// would renew it, so round again.
#[must_use]
pub fn refused_renew(
    state: &LockState,
    resource: &ResourceName,
    token: FencingToken,
    now: Timestamp,
) -> Option<Lost> {
    state
        .loss(token, now)
        .map(|loss| Lost::from_core(resource, loss))
}

/// What a refused release statement means for the lease with `token` on `resource`: the first
/// answer again for a retried release, `NotHolder`, or `None` — round again.
///
/// # Errors
///
/// The core refuses the clock reading.
pub fn refused_release(
    state: &LockState,
    resource: &ResourceName,
    token: FencingToken,
    now: Timestamp,
) -> Result<Option<Release>, DecideError> {
    let decision = state.decide(&Request::Release { token }, now)?;
    Ok(match (decision.write, decision.outcome) {
        (None, Outcome::Release(outcome)) => Some(Release::from_core(resource, outcome)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use leasehold_core::{LeaseRecord, LostReason, Status};

    use super::*;

    fn record(owner: &str, id: u128, expires_at: u64, status: Status) -> LockState {
        LockState::Recorded(LeaseRecord {
            owner: Owner::new(owner).expect("valid"),
            token: FencingToken::new(7).expect("valid"),
            request_id: RequestId::from_u128(id),
            acquired_at: Timestamp::from_millis(100),
            expires_at: Timestamp::from_millis(expires_at),
            status,
        })
    }

    fn request(owner: &str, id: u128) -> AcquireRequest {
        let ttl = Duration::from_millis(500);
        AcquireRequest::new::<Box<dyn std::error::Error>>("r", owner, ttl, RequestId::from_u128(id))
            .expect("valid")
    }

    const STORE: StoreId = StoreId::from_u64(3);

    #[test]
    fn a_valid_lease_of_someone_else_is_busy_and_of_this_request_is_replayed() {
        let now = Timestamp::from_millis(200);
        let sent = Instant::now();
        let held = record("a", 1, 1_000, Status::Active);
        let busy = request("b", 2).refused(&held, now, STORE, sent);
        assert!(matches!(busy, Ok(Some(Acquire::Busy(h))) if h.token().get() == 7));
        let replay = request("a", 1).refused(&held, now, STORE, sent);
        let Ok(Some(Acquire::Granted(lease))) = replay else {
            panic!("{replay:?}")
        };
        assert_eq!(lease.token().get(), 7);
        assert_eq!(lease.store_id(), STORE);
        // 800 ms were left at `now`; less the drift margin (0.8 ms + 1 ms).
        assert_eq!(lease.deadline(), sent + Duration::from_micros(798_200));
        // The same owner under another id is busy: acquire is not re-entrant.
        let again = request("a", 9).refused(&held, now, STORE, sent);
        assert!(matches!(again, Ok(Some(Acquire::Busy(_)))));
    }

    #[test]
    fn a_free_row_means_round_again() {
        let now = Timestamp::from_millis(1_000);
        let sent = Instant::now();
        for state in [
            record("a", 1, 1_000, Status::Active),
            record("a", 1, 5_000, Status::Released),
            LockState::default(),
        ] {
            assert_eq!(request("b", 2).refused(&state, now, STORE, sent), Ok(None));
        }
    }

    #[test]
    fn a_refused_renew_is_lost_with_the_core_reason_unless_it_would_renew() {
        let resource = ResourceName::new("r").expect("valid");
        let token = FencingToken::new(7).expect("valid");
        let now = Timestamp::from_millis(200);
        let held = record("a", 1, 1_000, Status::Active);
        assert_eq!(refused_renew(&held, &resource, token, now), None);
        let expired = refused_renew(&held, &resource, token, Timestamp::from_millis(1_000));
        assert_eq!(expired.map(|l| l.reason()), Some(LostReason::Expired));
        let other = FencingToken::new(6).expect("valid");
        let stale = refused_renew(&held, &resource, other, now);
        assert_eq!(stale.map(|l| l.reason()), Some(LostReason::NotCurrent));
    }

    #[test]
    fn a_refused_release_repeats_the_first_answer_or_is_not_holder() {
        let resource = ResourceName::new("r").expect("valid");
        let token = FencingToken::new(7).expect("valid");
        let now = Timestamp::from_millis(200);
        let released = record("a", 1, 150, Status::Released);
        assert_eq!(
            refused_release(&released, &resource, token, now),
            Ok(Some(Release::Released))
        );
        let late = record("a", 1, 150, Status::ReleasedAfterExpiry);
        assert_eq!(
            refused_release(&late, &resource, token, now),
            Ok(Some(Release::Expired))
        );
        let other = FencingToken::new(6).expect("valid");
        assert_eq!(
            refused_release(&released, &resource, other, now),
            Ok(Some(Release::NotHolder(None)))
        );
        let active = record("a", 1, 1_000, Status::Active);
        assert_eq!(refused_release(&active, &resource, token, now), Ok(None));
    }
}
