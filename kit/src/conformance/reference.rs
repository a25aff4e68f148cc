//! The reference side of the conformance test: random request sequences, and what the core's
//! [`LockTable`] says each step must answer.

use leasehold_core::{
    AcquireOutcome, DecideError, FencingToken, Holder as CoreHolder, LockTable, LostReason,
    Outcome, Owner, Request, RequestId, ResourceName, Timestamp, Ttl, check_clock,
};
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

/// Names chosen so that byte order matters ('P' < 'p' < 'ü'): `holders` must order resources as
/// the core's `BTreeMap` does; two differ only by case.
pub(super) const RESOURCES: [&str; 3] = ["plan/42", "Plan/42", "ümlaut"];
pub(super) const OWNERS: [&str; 3] = ["worker-a", "worker-b", "worker-c"];
/// The largest storable timestamp, where expiries start to overflow.
pub(super) const MAX_MS: u64 = i64::MAX.unsigned_abs();

pub(super) fn resource(index: u8) -> ResourceName {
    ResourceName::new(RESOURCES[usize::from(index)]).expect("valid name")
}

pub(super) fn owner(index: u8) -> Owner {
    Owner::new(OWNERS[usize::from(index)]).expect("valid name")
}

pub(super) fn token_of(value: u64) -> FencingToken {
    FencingToken::new(value).expect("strategy tokens are in range")
}

pub(super) fn ttl_of(millis: u64) -> Ttl {
    Ttl::from_millis(millis).expect("strategy ttls are non-zero")
}

/// One step of a sequence.
#[derive(Clone, Debug)]
pub(super) enum Step {
    /// A fresh attempt (a request id never used before) or a retry (an earlier attempt's id).
    Acquire {
        resource: u8,
        owner: u8,
        id: u128,
        ttl: u64,
    },
    /// A waiting acquire with a short timeout; the clock does not move while it waits, so every
    /// try sees the same state. Its request id is the store's own; the reference uses a fresh one
    /// (`id`) that no retry ever reuses, and rows it wrote are compared without it.
    AcquireFor {
        resource: u8,
        owner: u8,
        id: u128,
        ttl: u64,
    },
    /// A renew, with the lease the client was given when it has one (unless `by_token`), else
    /// with only the resource and the token.
    Renew {
        resource: u8,
        token: u64,
        ttl: u64,
        by_token: bool,
    },
    /// A release, likewise.
    Release {
        resource: u8,
        token: u64,
        by_token: bool,
    },
    /// A fenced write under a lease the client was given.
    Fence {
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
    Holders,
}

/// What the reference says the last step must answer.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expected {
    Nothing,
    Outcome(Result<Outcome, DecideError>),
    /// A fenced write: `None` committed, else why the lease is lost and who holds it.
    Fence(Result<Option<(LostReason, Option<CoreHolder>)>, DecideError>),
    Holder(Result<Option<(ResourceName, CoreHolder)>, DecideError>),
    Holders(Result<Vec<(ResourceName, CoreHolder)>, DecideError>),
    Pruned(Result<usize, DecideError>),
}

/// The reference state: the core's table and clock, and what clients have seen.
#[derive(Clone, Debug)]
pub(super) struct Model {
    pub(super) table: LockTable,
    pub(super) now: u64,
    /// Per resource: every token granted.
    pub(super) issued: [Vec<u64>; 3],
    /// Per resource: every acquire attempt, `(owner, request id)`.
    pub(super) attempts: [Vec<(u8, u128)>; 3],
    /// Per resource: whether its record was last written by a waiting acquire, whose request id
    /// the store chose (rows are then compared without it).
    pub(super) store_chosen_id: [bool; 3],
    pub(super) next_id: u128,
    pub(super) expected: Expected,
}

pub(super) struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        prop_oneof![Just(0_u64), Just(1_700_000_000_000), Just(MAX_MS - 100)]
            .prop_map(|now| Model {
                // A new store starts above its creation instant, as every store does.
                table: LockTable::from_records(
                    [],
                    leasehold_contract::starting_high_water(Timestamp::from_millis(now)),
                ),
                now,
                issued: Default::default(),
                attempts: Default::default(),
                store_chosen_id: [false; 3],
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
            4 => (resource.clone(), 0..3_u8, ttl.clone()).prop_map(move |(resource, owner, ttl)| {
                Step::Acquire { resource, owner, id: fresh_id, ttl }
            }),
            2 => retry(state, ttl.clone()),
            1 => (resource.clone(), 0..3_u8, 1..=50_u64).prop_map(move |(resource, owner, ttl)| {
                Step::AcquireFor { resource, owner, id: fresh_id, ttl }
            }),
            3 => (token(state), ttl, any::<bool>()).prop_map(|((resource, token), ttl, by_token)| {
                Step::Renew { resource, token, ttl, by_token }
            }),
            3 => (token(state), any::<bool>())
                .prop_map(|((resource, token), by_token)| Step::Release { resource, token, by_token }),
            2 => token(state).prop_map(|(resource, token)| Step::Fence { resource, token }),
            1 => resource.clone().prop_map(|resource| Step::Evict { resource }),
            1 => (0..30_u64).prop_map(|idle| Step::Prune { idle }),
            4 => (0..40_u64).prop_map(|ms| Step::Advance { ms }),
            2 => set_now(state),
            1 => resource.prop_map(|resource| Step::Holder { resource }),
            1 => Just(Step::Holders),
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
        return Just(Step::Holders).boxed();
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
    let floor = state.table.pruned_high_water().map_or(0, FencingToken::get);
    let never = (0..3_u8, 1..4_u64).prop_map(move |(r, extra)| (r, floor + 1_000 + extra));
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
    pub(super) fn at(&self) -> Timestamp {
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
            } => self.acquire(r, o, id, ttl, false),
            Step::AcquireFor {
                resource: r,
                owner: o,
                id,
                ttl,
            } => self.acquire(r, o, id, ttl, true),
            Step::Renew {
                resource: r,
                token,
                ttl,
                ..
            } => self.apply(r, &renew(token, ttl)),
            Step::Release {
                resource: r, token, ..
            } => self.apply(
                r,
                &Request::Release {
                    token: token_of(token),
                },
            ),
            Step::Fence { resource: r, token } => Expected::Fence(
                check_clock(now)
                    .map(|()| self.table.state(&resource(r)).loss(token_of(token), now)),
            ),
            Step::Evict { resource: r } => self.apply(r, &Request::Evict),
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
            Step::Holders => Expected::Holders(check_clock(now).map(|()| {
                let holders = self.table.holders(now);
                holders.map(|(r, h)| (r.clone(), h)).collect()
            })),
        }
    }

    fn apply(&mut self, r: u8, request: &Request) -> Expected {
        Expected::Outcome(self.table.apply(&resource(r), request, self.at()))
    }

    fn acquire(&mut self, r: u8, o: u8, id: u128, ttl: u64, store_chosen: bool) -> Expected {
        self.next_id = self.next_id.max(id + 1);
        if !store_chosen {
            self.attempts[usize::from(r)].push((o, id));
        }
        let request = Request::Acquire {
            owner: owner(o),
            request_id: RequestId::from_u128(id),
            ttl: ttl_of(ttl),
        };
        let outcome = self.table.apply(&resource(r), &request, self.at());
        if let Ok(Outcome::Acquire(AcquireOutcome::Granted(grant))) = &outcome {
            let issued = &mut self.issued[usize::from(r)];
            if !issued.contains(&grant.token.get()) {
                issued.push(grant.token.get());
                self.store_chosen_id[usize::from(r)] = store_chosen;
            }
        }
        Expected::Outcome(outcome)
    }
}

fn renew(token: u64, ttl: u64) -> Request {
    Request::Renew {
        token: token_of(token),
        ttl: ttl_of(ttl),
    }
}
