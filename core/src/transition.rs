//! The transition function: [`LockState::decide`].

use crate::error::DecideError;
use crate::name::Owner;
use crate::outcome::{
    AcquireOutcome, EvictOutcome, Grant, GrantKind, Holder, LostReason, Outcome, ReleaseOutcome,
    RenewOutcome,
};
use crate::state::{LeaseRecord, LockState, Status};
use crate::time::{Timestamp, Ttl};
use crate::token::{FencingToken, RequestId};

/// A request about one resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request<O = Owner> {
    /// Take the lease if nobody holds a valid one.
    Acquire {
        /// Who asks.
        owner: O,
        /// This attempt's identity; a retry after a lost reply reuses it.
        request_id: RequestId,
        /// How long the lease lasts from now.
        ttl: Ttl,
    },
    /// Extend the caller's still-valid lease to at least `now + ttl`.
    Renew {
        /// The token of the lease to extend.
        token: FencingToken,
        /// How long the lease lasts from now (at least).
        ttl: Ttl,
    },
    /// End the caller's lease.
    Release {
        /// The token of the lease to end.
        token: FencingToken,
    },
    /// Administrative: end whatever lease is valid, whoever holds it.
    Evict,
}

/// What [`LockState::decide`] concluded: the answer, and the one record the store must write
/// atomically for that answer to be true.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[must_use = "a decision does nothing until the store writes it"]
pub struct Decision<O = Owner> {
    /// The answer for the caller.
    pub outcome: Outcome<O>,
    /// The record that replaces the resource's state; `None` when nothing changes.
    pub write: Option<LeaseRecord<O>>,
}

impl<O> Decision<O> {
    fn unchanged(outcome: Outcome<O>) -> Self {
        Self {
            outcome,
            write: None,
        }
    }

    /// The resource's state after this decision, given the state it was taken on.
    pub fn next_state(self, current: LockState<O>) -> (LockState<O>, Outcome<O>) {
        match self.write {
            Some(record) => (LockState::Recorded(record), self.outcome),
            None => (current, self.outcome),
        }
    }
}

impl<O: Clone + Eq> LockState<O> {
    /// Decides `request` on this state at `now` (the store's clock): the outcome, and what to
    /// write. Pure: the same inputs give the same decision.
    ///
    /// Input errors are decided before the state is looked at, so a refused request is refused
    /// whatever the state, and never changes it.
    ///
    /// # Errors
    ///
    /// [`DecideError::ClockOutOfRange`] when `now` is past [`Timestamp::MAX`],
    /// [`DecideError::ExpiryOverflow`] when `now + ttl` is, and
    /// [`DecideError::TokensExhausted`] when a grant would need a token past
    /// [`FencingToken::MAX`].
    pub fn decide(&self, request: &Request<O>, now: Timestamp) -> Result<Decision<O>, DecideError> {
        check_clock(now)?;
        match request {
            Request::Acquire {
                owner,
                request_id,
                ttl,
            } => self.acquire(owner, *request_id, lease_expiry(now, *ttl)?, now),
            Request::Renew { token, ttl } => Ok(self.renew(*token, lease_expiry(now, *ttl)?, now)),
            Request::Release { token } => Ok(self.release(*token, now)),
            Request::Evict => Ok(self.evict(now)),
        }
    }

    /// Decides `request` and applies the result to `self`.
    ///
    /// # Errors
    ///
    /// As [`LockState::decide`]; `self` is unchanged on error.
    pub fn apply(
        &mut self,
        request: &Request<O>,
        now: Timestamp,
    ) -> Result<Outcome<O>, DecideError> {
        let decision = self.decide(request, now)?;
        let current = core::mem::take(self);
        let (next, outcome) = decision.next_state(current);
        *self = next;
        Ok(outcome)
    }

    fn acquire(
        &self,
        owner: &O,
        request_id: RequestId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Decision<O>, DecideError> {
        if let Some(current) = self.valid_record(now) {
            return Ok(Decision::unchanged(Outcome::Acquire(replay_or_busy(
                current, owner, request_id,
            ))));
        }
        let high_water = self.high_water().map_or(0, FencingToken::get);
        let token = FencingToken::after(high_water).ok_or(DecideError::TokensExhausted)?;
        let grant = Grant {
            token,
            acquired_at: now,
            expires_at,
            kind: GrantKind::New,
        };
        Ok(Decision {
            outcome: Outcome::Acquire(AcquireOutcome::Granted(grant)),
            write: Some(LeaseRecord {
                owner: owner.clone(),
                token,
                request_id,
                acquired_at: now,
                expires_at,
                status: Status::Active,
            }),
        })
    }

    fn renew(&self, token: FencingToken, expiry: Timestamp, now: Timestamp) -> Decision<O> {
        if let Some((reason, current)) = self.loss(token, now) {
            return Decision::unchanged(Outcome::Renew(RenewOutcome::Lost { reason, current }));
        }
        let current = self
            .valid_record(now)
            .expect("`loss` is None only when `token` is the valid lease's");
        // Never shorten: a renew asks for "at least until now + ttl".
        let expires_at = current.expires_at.max(expiry);
        Decision {
            outcome: Outcome::Renew(RenewOutcome::Renewed { expires_at }),
            write: Some(LeaseRecord {
                expires_at,
                ..current.clone()
            }),
        }
    }

    /// Whether the lease with `token` is lost at `now`: `None` when it is the valid lease,
    /// otherwise how it ended and who holds the resource now — the answer a renew with `token`
    /// gets. An adapter uses it to fence writes and to report a refused renew.
    #[must_use]
    pub fn loss(
        &self,
        token: FencingToken,
        now: Timestamp,
    ) -> Option<(LostReason, Option<Holder<O>>)> {
        match self.valid_record(now) {
            Some(current) if current.token == token => None,
            _ => Some((self.lost_reason(token), self.holder_at(now))),
        }
    }

    fn release(&self, token: FencingToken, now: Timestamp) -> Decision<O> {
        let Some(record) = self.record().filter(|record| record.token == token) else {
            return self.not_holder(now);
        };
        let (status, expires_at, outcome) = match record.status {
            Status::Active if record.is_valid_at(now) => {
                (Status::Released, now, ReleaseOutcome::Released)
            }
            Status::Active => (
                Status::ReleasedAfterExpiry,
                record.expires_at,
                ReleaseOutcome::Expired,
            ),
            // A retried release gets the answer the first one got, and writes nothing.
            Status::Released => {
                return Decision::unchanged(Outcome::Release(ReleaseOutcome::Released));
            }
            Status::ReleasedAfterExpiry => {
                return Decision::unchanged(Outcome::Release(ReleaseOutcome::Expired));
            }
            Status::Evicted => return self.not_holder(now),
        };
        Decision {
            outcome: Outcome::Release(outcome),
            write: Some(LeaseRecord {
                status,
                expires_at,
                ..record.clone()
            }),
        }
    }

    fn evict(&self, now: Timestamp) -> Decision<O> {
        match self.valid_record(now) {
            // The record keeps the expiry the lease had, so the answer can report it (a store's
            // single UPDATE ... RETURNING sees only the row it wrote).
            Some(current) => Decision {
                outcome: Outcome::Evict(EvictOutcome::Evicted(current.holder())),
                write: Some(LeaseRecord {
                    status: Status::Evicted,
                    ..current.clone()
                }),
            },
            None => Decision::unchanged(Outcome::Evict(EvictOutcome::NotHeld)),
        }
    }

    fn not_holder(&self, now: Timestamp) -> Decision<O> {
        Decision::unchanged(Outcome::Release(ReleaseOutcome::NotHolder {
            current: self.holder_at(now),
        }))
    }

    /// Why `token` cannot be renewed, given that it is not the valid lease's token.
    fn lost_reason(&self, token: FencingToken) -> LostReason {
        match self.record() {
            Some(record) if record.token == token => match record.status {
                Status::Active => LostReason::Expired,
                Status::Released | Status::ReleasedAfterExpiry => LostReason::Released,
                Status::Evicted => LostReason::Evicted,
            },
            _ => LostReason::NotCurrent,
        }
    }
}

/// Checks that a store can keep the clock reading `now`.
///
/// [`LockState::decide`] runs this first; an adapter that decides in its store rather than through
/// `decide` runs it too, so that every store refuses the same readings.
///
/// # Errors
///
/// [`DecideError::ClockOutOfRange`] when `now` is past [`Timestamp::MAX`].
pub fn check_clock(now: Timestamp) -> Result<(), DecideError> {
    if now.is_representable() {
        Ok(())
    } else {
        Err(DecideError::ClockOutOfRange { now })
    }
}

/// The expiry of a lease granted or renewed at `now` for `ttl`: `now + ttl`.
///
/// [`LockState::decide`] computes every expiry with this function; an adapter that decides in its
/// store uses it to compute the expiry it passes to the store, so that every store refuses the
/// same requests.
///
/// # Errors
///
/// [`DecideError::ClockOutOfRange`] when `now` is past [`Timestamp::MAX`],
/// [`DecideError::ExpiryOverflow`] when `now + ttl` is.
pub fn lease_expiry(now: Timestamp, ttl: Ttl) -> Result<Timestamp, DecideError> {
    check_clock(now)?;
    now.checked_add(ttl)
        .ok_or(DecideError::ExpiryOverflow { now, ttl })
}

/// The answer to an acquire while `current` is valid: the same grant for a retry of the request
/// that produced it, `Busy` for anyone else, including the holder under a new request id.
fn replay_or_busy<O: Clone + Eq>(
    current: &LeaseRecord<O>,
    owner: &O,
    request_id: RequestId,
) -> AcquireOutcome<O> {
    if current.request_id == request_id && current.owner == *owner {
        AcquireOutcome::Granted(Grant {
            token: current.token,
            acquired_at: current.acquired_at,
            expires_at: current.expires_at,
            kind: GrantKind::Replayed,
        })
    } else {
        AcquireOutcome::Busy(current.holder())
    }
}
