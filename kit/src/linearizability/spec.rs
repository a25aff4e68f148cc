//! The sequential specification the tester serializes histories against: the core's
//! [`LockTable`] at the history's one clock reading. Nothing here restates a rule; every answer
//! is [`LockTable::apply`]'s, [`LockTable::holder`]'s, [`LockTable::holders`]' or
//! [`LockTable::prune`]'s.

use leasehold_core::{
    AcquireOutcome, DecideError, FencingToken, Grant, GrantKind, Holder, LockTable, Outcome, Owner,
    Request, RequestId, ResourceName, Timestamp, Ttl,
};
use stateright::semantics::SequentialSpec;

/// The store as one sequential object: its whole table, at the clock reading every operation of
/// the history was decided at (the clock does not move during a history).
#[derive(Clone, Debug)]
pub(crate) struct LockSpec {
    pub(crate) table: LockTable,
    pub(crate) now: Timestamp,
}

/// One operation a client invoked, in the core's terms. A renew or release through a lease and
/// one by resource and token are the same operation: the core sees only the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `try_acquire_with_id` (or a waiting acquire, with the id it was granted under).
    Acquire {
        resource: ResourceName,
        owner: Owner,
        request_id: RequestId,
        ttl: Ttl,
    },
    Renew {
        resource: ResourceName,
        token: FencingToken,
        ttl: Ttl,
    },
    Release {
        resource: ResourceName,
        token: FencingToken,
    },
    Evict {
        resource: ResourceName,
    },
    Holder {
        resource: ResourceName,
    },
    Holders,
    Prune {
        idle_ms: u64,
    },
}

/// What an operation returned, in the core's terms. Tokens and times are the store's own
/// choices: the specification returns the ones the core would choose in the same serial order,
/// from the same starting table, so a store's answer matches only if its choices are the core's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ret {
    /// The answer to an acquire, renew, release or evict (a grant always as [`GrantKind::New`]:
    /// a store does not say whether it replayed, and a replay's token tells it apart anyway).
    Outcome(Result<Outcome, DecideError>),
    Holder(Option<Holder>),
    Holders(Vec<(ResourceName, Holder)>),
    Pruned(usize),
    /// An answer that cannot be right whatever the order: a lease for another resource, owner,
    /// token or request id than the one asked for. The specification never returns it.
    Malformed(String),
}

impl SequentialSpec for LockSpec {
    type Op = Op;
    type Ret = Ret;

    fn invoke(&mut self, op: &Op) -> Ret {
        let now = self.now;
        match op {
            Op::Acquire {
                resource,
                owner,
                request_id,
                ttl,
            } => self.apply(
                resource,
                &Request::Acquire {
                    owner: owner.clone(),
                    request_id: *request_id,
                    ttl: *ttl,
                },
            ),
            Op::Renew {
                resource,
                token,
                ttl,
            } => self.apply(
                resource,
                &Request::Renew {
                    token: *token,
                    ttl: *ttl,
                },
            ),
            Op::Release { resource, token } => {
                self.apply(resource, &Request::Release { token: *token })
            }
            Op::Evict { resource } => self.apply(resource, &Request::Evict),
            Op::Holder { resource } => Ret::Holder(self.table.holder(resource, now)),
            Op::Holders => Ret::Holders(
                self.table
                    .holders(now)
                    .map(|(name, holder)| (name.clone(), holder))
                    .collect(),
            ),
            Op::Prune { idle_ms } => Ret::Pruned(self.table.prune(now, *idle_ms)),
        }
    }
}

impl LockSpec {
    fn apply(&mut self, resource: &ResourceName, request: &Request) -> Ret {
        Ret::Outcome(
            self.table
                .apply(resource, request, self.now)
                .map(without_grant_kind),
        )
    }
}

/// The outcome with a grant's kind set to [`GrantKind::New`], which a store does not report.
pub(crate) fn without_grant_kind(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Acquire(AcquireOutcome::Granted(grant)) => {
            Outcome::Acquire(AcquireOutcome::Granted(Grant {
                kind: GrantKind::New,
                ..grant
            }))
        }
        other => other,
    }
}
