//! The store side of the conformance test: each step run on a real store, its answer translated
//! into the core's terms, and the store's whole state compared with the reference after every
//! step.

use std::collections::BTreeMap;
use std::time::Duration;

use leasehold_contract::{
    Acquire, Audit, Evict, Fenced, Holder, Lease, LockStore, ManualClock, Release, Renew,
    StoreError,
};
use leasehold_core::{
    AcquireOutcome, DecideError, EvictOutcome, Grant, GrantKind, Holder as CoreHolder, LockTable,
    Outcome, ReleaseOutcome, RenewOutcome, RequestId, ResourceName,
};
use proptest_state_machine::StateMachineTest;

use super::reference::{
    Expected, Model, OWNERS, RESOURCES, Reference, Step, owner, resource, token_of,
};
use crate::backend::{Backend, StoreErrorOf};

/// How long a waiting acquire of the test waits for a busy resource: the clock does not move, so
/// the answer cannot change; this only checks that the wait returns the last `Busy`.
const WAIT: Duration = Duration::from_millis(3);

/// The store under test, with the leases its clients were given.
pub(super) struct Sut<B: Backend> {
    backend: B,
    store: B::Store,
    clock: ManualClock,
    leases: BTreeMap<(u8, u64), Lease>,
    // Dropped last: the database outlives the store.
    _db: B::Database,
}

impl<B: Backend> StateMachineTest for Sut<B> {
    type SystemUnderTest = Self;
    type Reference = Reference;

    fn init_test(model: &Model) -> Self {
        let backend = B::default();
        let db = backend.database();
        let clock = ManualClock::new(model.at());
        let store = backend.open(&db, &clock);
        let sut = Self {
            backend,
            store,
            clock,
            leases: BTreeMap::new(),
            _db: db,
        };
        // A new store starts above its creation instant; the reference does too.
        Self::check_invariants(&sut, model);
        sut
    }

    fn apply(mut sut: Self, model: &Model, step: Step) -> Self {
        sut.clock.set(model.at());
        let seen = sut.run(model, &step);
        assert_eq!(
            seen,
            without_grant_kind(&model.expected),
            "{} answered {step:?} unlike the core",
            sut.backend.name()
        );
        sut
    }

    fn check_invariants(sut: &Self, model: &Model) {
        let stored = sut
            .store
            .snapshot()
            .unwrap_or_else(|e| panic!("rows read: {e}"));
        assert_eq!(
            normalized(&stored, model),
            normalized(&model.table, model),
            "{}'s rows differ from the core's table",
            sut.backend.name()
        );
    }
}

impl<B: Backend> Sut<B> {
    fn run(&mut self, model: &Model, step: &Step) -> Expected {
        let store = &self.store;
        match *step {
            Step::Acquire {
                resource: r,
                owner: o,
                id,
                ttl,
            } => {
                let id = RequestId::from_u128(id);
                let answer =
                    store.try_acquire_with_id(name(r), OWNERS[usize::from(o)], ms(ttl), id);
                self.acquired(answer, r, o, Some(id))
            }
            Step::AcquireFor {
                resource: r,
                owner: o,
                ttl,
                ..
            } => {
                let answer = store.acquire_for(name(r), OWNERS[usize::from(o)], ms(ttl), WAIT);
                self.acquired(answer, r, o, None)
            }
            Step::Renew {
                resource: r,
                token,
                ttl,
                by_token,
            } => {
                let answer = match self.lease(r, token, by_token) {
                    Some(lease) => store.renew(lease, ms(ttl)),
                    None => store.renew_by_token(name(r), token_of(token), ms(ttl)),
                };
                renewed(answer, r, model)
            }
            Step::Release {
                resource: r,
                token,
                by_token,
            } => {
                let answer = match self.lease(r, token, by_token) {
                    Some(lease) => store.release(lease),
                    None => store.release_by_token(name(r), token_of(token)),
                };
                released(answer)
            }
            Step::Fence { resource: r, token } => self.fenced(model, r, token),
            Step::Evict { resource: r } => evicted(store.evict(name(r)), r),
            Step::Prune { idle } => Expected::Pruned(rejected(store.prune(ms(idle)))),
            Step::Advance { .. } | Step::SetNow { .. } => Expected::Nothing,
            Step::Holder { resource: r } => {
                let holder = rejected(store.holder(name(r)));
                Expected::Holder(holder.map(|h| h.map(core_holder)))
            }
            Step::Holders => {
                let holders = rejected(store.holders());
                Expected::Holders(holders.map(|l| l.into_iter().map(core_holder).collect()))
            }
        }
    }

    /// The lease the client was given for `(r, token)`, unless the step asks for the by-token
    /// operation.
    fn lease(&self, r: u8, token: u64, by_token: bool) -> Option<&Lease> {
        if by_token {
            return None;
        }
        self.leases.get(&(r, token))
    }

    fn acquired(
        &mut self,
        answer: Result<Acquire, StoreErrorOf<B>>,
        r: u8,
        o: u8,
        id: Option<RequestId>,
    ) -> Expected {
        Expected::Outcome(rejected(answer).map(|outcome| match outcome {
            Acquire::Granted(lease) => {
                assert_eq!(
                    (lease.resource(), lease.owner()),
                    (&resource(r), &owner(o)),
                    "a grant for another request"
                );
                if let Some(id) = id {
                    assert_eq!(lease.request_id(), id, "a grant for another request id");
                }
                assert_eq!(
                    lease.store_id(),
                    self.store.store_id(),
                    "a lease of another store"
                );
                let grant = Grant {
                    token: lease.token(),
                    acquired_at: lease.acquired_at(),
                    expires_at: lease.expires_at(),
                    kind: GrantKind::New,
                };
                self.leases.insert((r, lease.token().get()), lease);
                Outcome::Acquire(AcquireOutcome::Granted(grant))
            }
            Acquire::Busy(holder) => Outcome::Acquire(AcquireOutcome::Busy(holder_of(holder, r))),
        }))
    }

    /// A fenced write under the client's lease, where the store has fenced writes and the client
    /// was given that lease; otherwise the step says what the core says (nothing to compare).
    fn fenced(&self, model: &Model, r: u8, token: u64) -> Expected {
        let Some(lease) = self.leases.get(&(r, token)) else {
            return model.expected.clone();
        };
        let Some(answer) = self.backend.fenced_write(&self.store, lease) else {
            return model.expected.clone();
        };
        Expected::Fence(rejected(answer).map(|fenced| match fenced {
            Fenced::Committed(()) => None,
            Fenced::Lost(lost) => Some((
                lost.reason(),
                lost.current().cloned().map(|h| holder_of(h, r)),
            )),
        }))
    }
}

fn name(r: u8) -> &'static str {
    RESOURCES[usize::from(r)]
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The table with the request id of each record a waiting acquire wrote set to zero: the store
/// chose that id, and the reference could not know it.
fn normalized(table: &LockTable, model: &Model) -> LockTable {
    let records = table.records().map(|(name, record)| {
        let mut record = record.clone();
        let index = RESOURCES.iter().position(|r| *r == name.as_str());
        if index.is_some_and(|i| model.store_chosen_id[i]) {
            record.request_id = RequestId::from_u128(0);
        }
        (name.clone(), record)
    });
    LockTable::from_records(records.collect::<Vec<_>>(), table.pruned_high_water())
}

/// Keeps the core's refusals (which every store must share); any other error fails the test.
fn rejected<T, E: StoreError>(result: Result<T, E>) -> Result<T, DecideError> {
    match result {
        Ok(value) => Ok(value),
        Err(e) => match e.decide_error() {
            Some(refusal) => Err(refusal),
            None => panic!("unexpected store error: {e}"),
        },
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

/// The store's holder as the core reports it, checking it names resource `r`.
fn holder_of(holder: Holder, r: u8) -> CoreHolder {
    let (name, core) = core_holder(holder);
    assert_eq!(name, resource(r), "holder of another resource");
    core
}

/// Forgets whether a grant was new or replayed, which the store does not report: a replay has
/// the earlier grant's token and a new grant a larger one, so comparing tokens (and rows) still
/// tells them apart.
fn without_grant_kind(expected: &Expected) -> Expected {
    match expected {
        Expected::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(grant)))) => {
            Expected::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(Grant {
                kind: GrantKind::New,
                ..*grant
            }))))
        }
        other => other.clone(),
    }
}

fn renewed<E: StoreError>(result: Result<Renew, E>, r: u8, model: &Model) -> Expected {
    Expected::Outcome(rejected(result).map(|outcome| match outcome {
        Renew::Renewed(lease) => {
            // The renewed lease is the row as now stored.
            let record = model.table.state(&resource(r)).record().cloned();
            let record = record.expect("a renewed lease has a row");
            assert_eq!(lease.resource(), &resource(r));
            assert_eq!(
                (
                    lease.owner(),
                    lease.token(),
                    lease.acquired_at(),
                    lease.expires_at()
                ),
                (
                    &record.owner,
                    record.token,
                    record.acquired_at,
                    record.expires_at
                )
            );
            Outcome::Renew(RenewOutcome::Renewed {
                expires_at: lease.expires_at(),
            })
        }
        Renew::Lost(lost) => Outcome::Renew(RenewOutcome::Lost {
            reason: lost.reason(),
            current: lost.current().cloned().map(|h| holder_of(h, r)),
        }),
    }))
}

fn released<E: StoreError>(result: Result<Release, E>) -> Expected {
    Expected::Outcome(rejected(result).map(|outcome| {
        Outcome::Release(match outcome {
            Release::Released => ReleaseOutcome::Released,
            Release::Expired => ReleaseOutcome::Expired,
            Release::NotHolder(current) => ReleaseOutcome::NotHolder {
                current: current.map(|h| core_holder(h).1),
            },
        })
    }))
}

fn evicted<E: StoreError>(result: Result<Evict, E>, r: u8) -> Expected {
    Expected::Outcome(rejected(result).map(|outcome| {
        Outcome::Evict(match outcome {
            Evict::Evicted(holder) => EvictOutcome::Evicted(holder_of(holder, r)),
            Evict::NotHeld => EvictOutcome::NotHeld,
        })
    }))
}
