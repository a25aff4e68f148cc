//! The proof that the SQL implements the specification: random sequences of requests run against
//! the core's `LockTable` (the reference) and a real `SqliteStore` side by side. After every step
//! the outcomes must be equal, and so must every stored row and the pruned high-water mark.
//!
//! Cases: `LEASEHOLD_CONFORMANCE_CASES` (default 2,000). Shrunk failures are saved in
//! `tests/proptest-regressions/conformance.txt` and replayed first on every run.

use leasehold_core::{
    AcquireOutcome, DecideError, EvictOutcome, FencingToken, Holder as CoreHolder, LockTable,
    Outcome, Owner, ReleaseOutcome, RenewOutcome, Request, RequestId, ResourceName, Timestamp, Ttl,
    check_clock,
};
use leasehold_sqlite::{
    Acquire, Durability, Error, Evict, Holder, Lease, Release, Renew, SqliteStore,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

use super::support::{TestStore, ms, store_at};

/// Names chosen so that byte order matters ('P' < 'p' < 'ü'): `list` and `records` must order
/// resources as the core's `BTreeMap` does.
const RESOURCES: [&str; 3] = ["plan/42", "Plan/7", "ümlaut"];
const OWNERS: [&str; 3] = ["worker-a", "worker-b", "worker-c"];
/// The largest storable timestamp, where expiries start to overflow.
const MAX_MS: u64 = i64::MAX.unsigned_abs();

fn resource(index: u8) -> ResourceName {
    ResourceName::new(RESOURCES[usize::from(index)]).expect("valid name")
}

fn owner(index: u8) -> Owner {
    Owner::new(OWNERS[usize::from(index)]).expect("valid name")
}

#[derive(Clone, Debug)]
enum Step {
    /// A fresh attempt (a request id never used before) or a retry (an earlier attempt's id).
    Acquire {
        resource: u8,
        owner: u8,
        id: u128,
        ttl: u64,
    },
    Renew {
        resource: u8,
        token: u64,
        ttl: u64,
    },
    Release {
        resource: u8,
        token: u64,
    },
    Evict {
        resource: u8,
    },
    Prune {
        idle: u64,
    },
    Advance {
        ms: u64,
    },
    /// Jumps the clock, e.g. to exactly a lease's expiry, or past what any store can keep.
    SetNow {
        now: u64,
    },
    Holder {
        resource: u8,
    },
    List,
}

/// What the reference says the last step must answer.
#[derive(Clone, Debug, PartialEq)]
enum Expected {
    Nothing,
    Outcome(Result<Outcome, DecideError>),
    Holder(Result<Option<(ResourceName, CoreHolder)>, DecideError>),
    List(Result<Vec<(ResourceName, CoreHolder)>, DecideError>),
    Pruned(Result<usize, DecideError>),
}

#[derive(Clone, Debug)]
struct Model {
    table: LockTable,
    now: u64,
    /// Per resource: every token granted.
    issued: [Vec<u64>; 3],
    /// Per resource: every acquire attempt, `(owner, request id)`.
    attempts: [Vec<(u8, u128)>; 3],
    next_id: u128,
    expected: Expected,
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        prop_oneof![Just(0_u64), Just(1_700_000_000_000), Just(MAX_MS - 100)]
            .prop_map(|now| Model {
                table: LockTable::new(),
                now,
                issued: Default::default(),
                attempts: Default::default(),
                next_id: 1,
                expected: Expected::Nothing,
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let resource = 0..3_u8;
        let ttl = prop_oneof![20 => 1..=50_u64, 1 => Just(u64::MAX)];
        let fresh_id = state.next_id;
        prop_oneof![
            4 => (resource.clone(), 0..3_u8, ttl.clone())
                .prop_map(move |(resource, owner, ttl)| Step::Acquire { resource, owner, id: fresh_id, ttl }),
            2 => retry(state, ttl.clone()),
            3 => (token(state), ttl)
                .prop_map(|((resource, token), ttl)| Step::Renew { resource, token, ttl }),
            3 => token(state).prop_map(|(resource, token)| Step::Release { resource, token }),
            1 => resource.clone().prop_map(|resource| Step::Evict { resource }),
            1 => (0..30_u64).prop_map(|idle| Step::Prune { idle }),
            4 => (0..40_u64).prop_map(|ms| Step::Advance { ms }),
            2 => set_now(state),
            1 => resource.prop_map(|resource| Step::Holder { resource }),
            1 => Just(Step::List),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.expected = state.step(step);
        state
    }
}

/// A retry of an earlier attempt on some resource (a fresh attempt when there is none yet).
fn retry(state: &Model, ttl: impl Strategy<Value = u64> + 'static) -> BoxedStrategy<Step> {
    let attempts: Vec<(u8, u8, u128)> = (0..3_u8)
        .flat_map(|r| {
            let list = &state.attempts[usize::from(r)];
            list.iter().map(move |(o, id)| (r, *o, *id))
        })
        .collect();
    if attempts.is_empty() {
        return Just(Step::List).boxed();
    }
    (proptest::sample::select(attempts), ttl)
        .prop_map(|((resource, owner, id), ttl)| Step::Acquire {
            resource,
            owner,
            id,
            ttl,
        })
        .boxed()
}

/// A resource and a token for it: one it was granted (current or stale) or one never issued.
fn token(state: &Model) -> BoxedStrategy<(u8, u64)> {
    let issued: Vec<(u8, u64)> = (0..3_u8)
        .flat_map(|r| state.issued[usize::from(r)].iter().map(move |t| (r, *t)))
        .collect();
    let never = (0..3_u8, 1..4_u64).prop_map(|(r, extra)| (r, 1_000 + extra));
    if issued.is_empty() {
        return never.boxed();
    }
    prop_oneof![4 => proptest::sample::select(issued), 1 => never].boxed()
}

/// A clock jump: to a stored expiry or just before it, near the largest storable time, or past it.
fn set_now(state: &Model) -> BoxedStrategy<Step> {
    let mut targets: Vec<u64> = state
        .table
        .records()
        .flat_map(|(_, r)| {
            let e = r.expires_at.as_millis();
            [e, e.saturating_sub(1)]
        })
        .collect();
    targets.extend([MAX_MS - 10, MAX_MS + 1, state.now.saturating_add(1)]);
    proptest::sample::select(targets)
        .prop_map(|now| Step::SetNow { now })
        .boxed()
}

impl Model {
    fn at(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    fn step(&mut self, step: &Step) -> Expected {
        let now = self.at();
        match *step {
            Step::Acquire {
                resource: r,
                owner: o,
                id,
                ttl,
            } => self.acquire(r, o, id, ttl),
            Step::Renew {
                resource: r,
                token,
                ttl,
            } => Expected::Outcome(self.table.apply(&resource(r), &renew(token, ttl), now)),
            Step::Release { resource: r, token } => {
                let release = Request::Release {
                    token: token_of(token),
                };
                Expected::Outcome(self.table.apply(&resource(r), &release, now))
            }
            Step::Evict { resource: r } => {
                Expected::Outcome(self.table.apply(&resource(r), &Request::Evict, now))
            }
            Step::Prune { idle } => {
                Expected::Pruned(check_clock(now).map(|()| self.table.prune(now, idle)))
            }
            Step::Advance { ms } => {
                self.now = self.now.saturating_add(ms);
                Expected::Nothing
            }
            Step::SetNow { now } => {
                self.now = now;
                Expected::Nothing
            }
            Step::Holder { resource: r } => Expected::Holder(check_clock(now).map(|()| {
                self.table
                    .holder(&resource(r), now)
                    .map(|h| (resource(r), h))
            })),
            Step::List => Expected::List(check_clock(now).map(|()| {
                let holders = self.table.holders(now);
                holders.map(|(r, h)| (r.clone(), h)).collect()
            })),
        }
    }

    fn acquire(&mut self, r: u8, o: u8, id: u128, ttl: u64) -> Expected {
        self.next_id = self.next_id.max(id + 1);
        let request = Request::Acquire {
            owner: owner(o),
            request_id: RequestId::from_u128(id),
            ttl: Ttl::from_millis(ttl).expect("strategy ttls are non-zero"),
        };
        let outcome = self.table.apply(&resource(r), &request, self.at());
        self.attempts[usize::from(r)].push((o, id));
        if let Ok(Outcome::Acquire(AcquireOutcome::Granted(grant))) = &outcome {
            let issued = &mut self.issued[usize::from(r)];
            if !issued.contains(&grant.token.get()) {
                issued.push(grant.token.get());
            }
        }
        Expected::Outcome(outcome)
    }
}

fn token_of(value: u64) -> FencingToken {
    FencingToken::new(value).expect("strategy tokens are in range")
}

fn renew(token: u64, ttl: u64) -> Request {
    Request::Renew {
        token: token_of(token),
        ttl: Ttl::from_millis(ttl).expect("strategy ttls are non-zero"),
    }
}

/// The store under test: a real database file. `Durability::Relaxed` only changes when SQLite
/// flushes to disk (`synchronous=NORMAL`), never what a statement decides or returns, so the
/// semantics checked here are those of the default mode, at a fraction of the fsyncs.
struct Sut {
    fixture: TestStore,
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Self;
    type Reference = Reference;

    fn init_test(model: &Model) -> Self {
        Self {
            fixture: store_at(model.now, Durability::Relaxed),
        }
    }

    fn apply(sut: Self, model: &Model, step: Step) -> Self {
        sut.fixture.clock.set(model.at());
        let store = &sut.fixture.store;
        let seen = match step {
            Step::Acquire {
                resource: r,
                owner: o,
                id,
                ttl,
            } => acquire(store, r, o, id, ttl),
            Step::Renew {
                resource: r,
                token,
                ttl,
            } => renewed(store.renew(&lease(r, token), ms(ttl)), r, model),
            Step::Release { resource: r, token } => released(store.release(lease(r, token))),
            Step::Evict { resource: r } => evicted(store.evict(RESOURCES[usize::from(r)]), r),
            Step::Prune { idle } => Expected::Pruned(rejected(store.prune(ms(idle)))),
            Step::Advance { .. } | Step::SetNow { .. } => Expected::Nothing,
            Step::Holder { resource: r } => {
                let holder = store.holder(RESOURCES[usize::from(r)]);
                Expected::Holder(rejected(holder).map(|h| h.map(core_holder)))
            }
            Step::List => {
                let list = rejected(store.list());
                Expected::List(list.map(|l| l.into_iter().map(core_holder).collect()))
            }
        };
        assert_eq!(
            seen,
            without_grant_kind(&model.expected),
            "outcome differs from the core's"
        );
        sut
    }

    fn check_invariants(sut: &Self, model: &Model) {
        let store = &sut.fixture.store;
        let stored = store.records().expect("rows read");
        let expected: Vec<_> = model
            .table
            .records()
            .map(|(r, record)| (r.clone(), record.clone()))
            .collect();
        assert_eq!(stored, expected, "stored rows differ from the core's table");
        assert_eq!(
            store.pruned_high_water().expect("mark read"),
            model.table.pruned_high_water(),
            "pruned high-water mark differs"
        );
    }
}

/// A lease with `token` on resource `r`; the store looks at nothing else.
fn lease(r: u8, token: u64) -> Lease {
    let zero = Timestamp::ZERO;
    let request_id = RequestId::from_u128(0);
    Lease::from_parts(
        resource(r),
        owner(0),
        token_of(token),
        request_id,
        zero,
        zero,
    )
}

/// Keeps `Rejected` errors (the core's refusals, which the store must share); any other error
/// fails the test.
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

/// The store's holder as the core reports it, checking it names resource `r`.
fn holder_of(holder: Holder, r: u8) -> CoreHolder {
    let (name, core) = core_holder(holder);
    assert_eq!(name, resource(r), "holder of another resource");
    core
}

fn acquire(store: &SqliteStore, r: u8, o: u8, id: u128, ttl: u64) -> Expected {
    let name = RESOURCES[usize::from(r)];
    let request_id = RequestId::from_u128(id);
    let result = store.try_acquire_with_id(name, OWNERS[usize::from(o)], ms(ttl), request_id);
    Expected::Outcome(rejected(result).map(|outcome| match outcome {
        Acquire::Granted(lease) => {
            assert_eq!(
                (lease.resource(), lease.owner(), lease.request_id()),
                (&resource(r), &owner(o), request_id),
                "a grant for another request"
            );
            // The kind is not reported by the store; the token tells a replay from a new grant.
            Outcome::Acquire(AcquireOutcome::Granted(leasehold_core::Grant {
                token: lease.token(),
                acquired_at: lease.acquired_at(),
                expires_at: lease.expires_at(),
                kind: leasehold_core::GrantKind::New,
            }))
        }
        Acquire::Busy(holder) => Outcome::Acquire(AcquireOutcome::Busy(holder_of(holder, r))),
    }))
}

/// Forgets whether a grant was new or replayed, which the store does not report: a replay has
/// the earlier grant's token and a new grant a larger one, so comparing tokens (and rows) still
/// tells them apart.
fn without_grant_kind(expected: &Expected) -> Expected {
    match expected {
        Expected::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(grant)))) => {
            Expected::Outcome(Ok(Outcome::Acquire(AcquireOutcome::Granted(
                leasehold_core::Grant {
                    kind: leasehold_core::GrantKind::New,
                    ..*grant
                },
            ))))
        }
        other => other.clone(),
    }
}

fn renewed(result: Result<Renew, Error>, r: u8, model: &Model) -> Expected {
    Expected::Outcome(rejected(result).map(|outcome| match outcome {
        Renew::Renewed(lease) => {
            // The renewed lease is the row as now stored.
            let record = model.table.state(&resource(r)).record().cloned();
            let record = record.expect("a renewed lease has a row");
            assert_eq!(lease.resource(), &resource(r));
            assert_eq!(
                (lease.owner(), lease.token(), lease.request_id()),
                (&record.owner, record.token, record.request_id)
            );
            assert_eq!(
                (lease.acquired_at(), lease.expires_at()),
                (record.acquired_at, record.expires_at)
            );
            Outcome::Renew(RenewOutcome::Renewed {
                expires_at: lease.expires_at(),
            })
        }
        Renew::Lost(lost) => Outcome::Renew(RenewOutcome::Lost {
            reason: lost.reason(),
            current: lost.current().cloned().map(|h| core_holder(h).1),
        }),
    }))
}

fn released(result: Result<Release, Error>) -> Expected {
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

fn evicted(result: Result<Evict, Error>, r: u8) -> Expected {
    Expected::Outcome(rejected(result).map(|outcome| {
        Outcome::Evict(match outcome {
            Evict::Evicted(holder) => EvictOutcome::Evicted(holder_of(holder, r)),
            Evict::NotHeld => EvictOutcome::NotHeld,
        })
    }))
}

fn cases() -> u32 {
    std::env::var("LEASEHOLD_CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: cases(),
        max_shrink_iters: 4_096,
        ..Config::default()
    })]

    #[test]
    fn sqlite_store_equals_the_core(sequential 1..40 => Sut);
}
