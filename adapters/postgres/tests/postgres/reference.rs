//! The store against the core's `LockTable`, driven by a manual clock through the very statements
//! production runs: after every step the answers must be equal, and so must every stored row and
//! the high-water mark (`Audit::snapshot`). The walks are in `walks.rs`; the generic
//! conformance kit (`leasehold-kit`) runs thousands of random cases the same way.

use leasehold_core::{
    AcquireOutcome, DecideError, EvictOutcome, FencingToken, Grant, GrantKind,
    Holder as CoreHolder, LockTable, Outcome, Owner, ReleaseOutcome, RenewOutcome, Request,
    RequestId, ResourceName, Ttl, check_clock,
};
use leasehold_postgres::{
    Acquire, Audit, Error, Evict, Holder, ManualClock, PgStore, Release, Renew, Timestamp,
};

use super::support::{TestDb, ms};

/// Names whose byte order matters ('P' < 'p' < 'ü').
const RESOURCES: [&str; 3] = ["plan/42", "Plan/7", "ümlaut"];
const OWNERS: [&str; 3] = ["worker-a", "worker-b", "worker-c"];
pub(crate) const MAX_MS: u64 = i64::MAX.unsigned_abs();

#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    Acquire {
        resource: usize,
        owner: usize,
        id: u128,
        ttl: u64,
    },
    Renew {
        resource: usize,
        token: u64,
        ttl: u64,
    },
    Release {
        resource: usize,
        token: u64,
    },
    Evict {
        resource: usize,
    },
    Prune {
        idle: u64,
    },
    SetNow {
        now: u64,
    },
    Holder {
        resource: usize,
    },
    Holders,
}

/// An answer, as the core gives it (a grant's kind forgotten: the store does not report it,
/// and its token tells a replay from a new grant).
#[derive(Debug, PartialEq)]
enum Answer {
    Nothing,
    Outcome(Result<Outcome, DecideError>),
    Holder(Result<Option<(ResourceName, CoreHolder)>, DecideError>),
    Holders(Result<Vec<(ResourceName, CoreHolder)>, DecideError>),
    Pruned(Result<usize, DecideError>),
}

/// The store and the reference side by side.
pub(crate) struct Pair {
    pub(crate) store: PgStore,
    pub(crate) clock: ManualClock,
    pub(crate) table: LockTable,
    pub(crate) now: u64,
    pub(crate) steps: usize,
}

impl Pair {
    pub(crate) fn new(db: &TestDb, start: u64) -> Self {
        let (store, clock) = db.store_at(start);
        // The reference starts where a new schema starts: above its creation instant.
        let table = store.snapshot().expect("the new schema");
        Self {
            store,
            clock,
            table,
            now: start,
            steps: 0,
        }
    }

    /// Runs `step` on both and compares the answers and the whole state.
    pub(crate) fn step(&mut self, step: Step) {
        let expected = forget_kind(self.reference(step));
        let seen = self.run(step);
        assert_eq!(
            seen, expected,
            "the answer differs from the core's at step {}: {step:?} at {}",
            self.steps, self.now
        );
        let stored = self.store.snapshot().expect("the rows");
        assert_eq!(
            stored, self.table,
            "the rows differ from the core's after step {}: {step:?}",
            self.steps
        );
        self.steps += 1;
    }

    fn reference(&mut self, step: Step) -> Answer {
        let now = Timestamp::from_millis(self.now);
        let table = &mut self.table;
        match step {
            Step::Acquire {
                resource: r,
                owner: o,
                id,
                ttl,
            } => {
                let request = Request::Acquire {
                    owner: owner(o),
                    request_id: RequestId::from_u128(id),
                    ttl: Ttl::from_millis(ttl).expect("non-zero"),
                };
                Answer::Outcome(table.apply(&resource(r), &request, now))
            }
            Step::Renew {
                resource: r,
                token,
                ttl,
            } => {
                let ttl = Ttl::from_millis(ttl).expect("non-zero");
                let request = Request::Renew {
                    token: token_of(token),
                    ttl,
                };
                Answer::Outcome(table.apply(&resource(r), &request, now))
            }
            Step::Release { resource: r, token } => {
                let request = Request::Release {
                    token: token_of(token),
                };
                Answer::Outcome(table.apply(&resource(r), &request, now))
            }
            Step::Evict { resource: r } => {
                Answer::Outcome(table.apply(&resource(r), &Request::Evict, now))
            }
            Step::Prune { idle } => {
                Answer::Pruned(check_clock(now).map(|()| table.prune(now, idle)))
            }
            Step::SetNow { now } => {
                self.now = now;
                Answer::Nothing
            }
            Step::Holder { resource: r } => Answer::Holder(
                check_clock(now)
                    .map(|()| table.holder(&resource(r), now).map(|h| (resource(r), h))),
            ),
            Step::Holders => Answer::Holders(
                check_clock(now)
                    .map(|()| table.holders(now).map(|(r, h)| (r.clone(), h)).collect()),
            ),
        }
    }

    fn run(&self, step: Step) -> Answer {
        self.clock.set(Timestamp::from_millis(self.now));
        let store = &self.store;
        match step {
            Step::Acquire {
                resource: r,
                owner: o,
                id,
                ttl,
            } => {
                let id = RequestId::from_u128(id);
                let answer = store.try_acquire_with_id(RESOURCES[r], OWNERS[o], ms(ttl), id);
                Answer::Outcome(rejected(answer).map(|a| acquired(a, r)))
            }
            Step::Renew {
                resource: r,
                token,
                ttl,
            } => {
                let answer = store.renew_by_token(RESOURCES[r], token_of(token), ms(ttl));
                Answer::Outcome(rejected(answer).map(renewed))
            }
            Step::Release { resource: r, token } => {
                let answer = store.release_by_token(RESOURCES[r], token_of(token));
                Answer::Outcome(rejected(answer).map(released))
            }
            Step::Evict { resource: r } => {
                Answer::Outcome(rejected(store.evict(RESOURCES[r])).map(|evict| {
                    Outcome::Evict(match evict {
                        Evict::Evicted(holder) => EvictOutcome::Evicted(core_holder(holder).1),
                        Evict::NotHeld => EvictOutcome::NotHeld,
                    })
                }))
            }
            Step::Prune { idle } => Answer::Pruned(rejected(store.prune(ms(idle)))),
            Step::SetNow { .. } => Answer::Nothing,
            Step::Holder { resource: r } => {
                Answer::Holder(rejected(store.holder(RESOURCES[r])).map(|h| h.map(core_holder)))
            }
            Step::Holders => Answer::Holders(
                rejected(store.holders()).map(|all| all.into_iter().map(core_holder).collect()),
            ),
        }
    }
}

fn resource(index: usize) -> ResourceName {
    ResourceName::new(RESOURCES[index]).expect("valid")
}

fn owner(index: usize) -> Owner {
    Owner::new(OWNERS[index]).expect("valid")
}

fn token_of(value: u64) -> FencingToken {
    FencingToken::new(value).expect("a token in range")
}

/// Keeps the core's refusals, which the store must share; any other error fails the test.
fn rejected<T>(result: Result<T, Error>) -> Result<T, DecideError> {
    match result {
        Ok(value) => Ok(value),
        Err(Error::Rejected(e)) => Err(e),
        Err(other) => panic!("unexpected store error: {other}"),
    }
}

fn core_holder(holder: Holder) -> (ResourceName, CoreHolder) {
    let core = CoreHolder {
        owner: holder.owner().clone(),
        token: holder.token(),
        acquired_at: holder.acquired_at(),
        expires_at: holder.expires_at(),
    };
    (holder.resource().clone(), core)
}

fn acquired(answer: Acquire, r: usize) -> Outcome {
    Outcome::Acquire(match answer {
        Acquire::Granted(lease) => {
            assert_eq!(lease.resource(), &resource(r));
            AcquireOutcome::Granted(Grant {
                token: lease.token(),
                acquired_at: lease.acquired_at(),
                expires_at: lease.expires_at(),
                kind: GrantKind::New,
            })
        }
        Acquire::Busy(holder) => AcquireOutcome::Busy(core_holder(holder).1),
    })
}

fn renewed(answer: Renew) -> Outcome {
    Outcome::Renew(match answer {
        Renew::Renewed(lease) => RenewOutcome::Renewed {
            expires_at: lease.expires_at(),
        },
        Renew::Lost(lost) => RenewOutcome::Lost {
            reason: lost.reason(),
            current: lost.current().cloned().map(|h| core_holder(h).1),
        },
    })
}

fn released(answer: Release) -> Outcome {
    Outcome::Release(match answer {
        Release::Released => ReleaseOutcome::Released,
        Release::Expired => ReleaseOutcome::Expired,
        Release::NotHolder(current) => ReleaseOutcome::NotHolder {
            current: current.map(|h| core_holder(h).1),
        },
    })
}

fn forget_kind(answer: Answer) -> Answer {
    match answer {
        Answer::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(grant)))) => {
            Answer::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(Grant {
                kind: GrantKind::New,
                ..grant
            }))))
        }
        other => other,
    }
}
