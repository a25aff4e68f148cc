//! Properties of the core over random request sequences: several resources, several owners,
//! `now` non-decreasing, with retries, renewals, stale tokens, evictions, prunes and refused input
//! mixed in.
//!
//! The harness keeps what the **callers** were told (which leases they believe they hold, until
//! when) apart from the table, and checks the promises against that: a bug in the core that
//! kept its own records consistent but told two callers "granted" would still be caught.

use std::collections::BTreeMap;

use leasehold_core::{
    AcquireOutcome, DecideError, EvictOutcome, FencingToken, Grant, GrantKind, LockState,
    LockTable, MAX_NAME_LEN, Outcome, Owner, ReleaseOutcome, RenewOutcome, Request, RequestId,
    ResourceName, Timestamp, Ttl,
};
use proptest::prelude::*;

const RESOURCES: u8 = 3;
const OWNERS: u8 = 3;

#[derive(Clone, Debug)]
enum Op {
    Acquire {
        resource: u8,
        owner: u8,
        ttl: u64,
    },
    /// Retry the `pick`-th earlier acquire on `resource` with its request id and owner.
    Retry {
        resource: u8,
        pick: usize,
        ttl: u64,
    },
    /// Renew with the `pick`-th token issued for `resource`, or a never-issued one.
    Renew {
        resource: u8,
        pick: usize,
        ttl: u64,
    },
    Release {
        resource: u8,
        pick: usize,
    },
    Evict {
        resource: u8,
    },
    Prune {
        idle_for_ms: u64,
    },
    Advance {
        ms: u64,
    },
    /// A request whose expiry cannot be stored.
    Overflowing {
        resource: u8,
        renew: bool,
    },
    /// A clock reading no store can keep.
    ClockOutOfRange {
        resource: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let resource = 0..RESOURCES;
    let ttl = 1..=50_u64;
    let pick = 0..8_usize;
    prop_oneof![
        4 => (resource.clone(), 0..OWNERS, ttl.clone())
            .prop_map(|(resource, owner, ttl)| Op::Acquire { resource, owner, ttl }),
        2 => (resource.clone(), pick.clone(), ttl.clone())
            .prop_map(|(resource, pick, ttl)| Op::Retry { resource, pick, ttl }),
        2 => (resource.clone(), pick.clone(), ttl)
            .prop_map(|(resource, pick, ttl)| Op::Renew { resource, pick, ttl }),
        2 => (resource.clone(), pick).prop_map(|(resource, pick)| Op::Release { resource, pick }),
        1 => resource.clone().prop_map(|resource| Op::Evict { resource }),
        1 => (0..30_u64).prop_map(|idle_for_ms| Op::Prune { idle_for_ms }),
        4 => (0..40_u64).prop_map(|ms| Op::Advance { ms }),
        1 => (resource.clone(), any::<bool>())
            .prop_map(|(resource, renew)| Op::Overflowing { resource, renew }),
        1 => resource.prop_map(|resource| Op::ClockOutOfRange { resource }),
    ]
}

/// What callers were told, per resource.
#[derive(Default)]
struct Told {
    /// Leases callers believe they hold: token → expiry they were given.
    believed: BTreeMap<FencingToken, Timestamp>,
    /// Every token granted, in order.
    issued: Vec<FencingToken>,
    /// Every acquire attempt: (owner, request id), with the grant it got if any.
    attempts: Vec<(Owner, RequestId, Option<Grant>)>,
}

struct Harness {
    table: LockTable,
    told: Vec<Told>,
    now: Timestamp,
    next_request_id: u128,
}

fn resource(index: u8) -> ResourceName {
    ResourceName::new(format!("resource-{index}")).expect("valid name")
}

fn owner(index: u8) -> Owner {
    Owner::new(format!("owner-{index}")).expect("valid name")
}

fn ttl(ms: u64) -> Ttl {
    Ttl::from_millis(ms).expect("strategy ttls are non-zero")
}

impl Harness {
    fn new(start: u64) -> Self {
        Self {
            table: LockTable::new(),
            told: (0..RESOURCES).map(|_| Told::default()).collect(),
            now: Timestamp::from_millis(start),
            next_request_id: 1,
        }
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Acquire {
                resource,
                owner: who,
                ttl: ms,
            } => {
                self.next_request_id += 1;
                let id = RequestId::from_u128(self.next_request_id);
                self.acquire(resource, owner(who), id, ttl(ms))
            }
            Op::Retry {
                resource,
                pick,
                ttl: ms,
            } => {
                let attempts = &self.told[usize::from(resource)].attempts;
                let Some((who, id, _)) = attempts.get(pick % attempts.len().max(1)).cloned() else {
                    return Ok(());
                };
                self.acquire(resource, who, id, ttl(ms))
            }
            Op::Renew {
                resource,
                pick,
                ttl: ms,
            } => {
                let token = self.pick_token(resource, pick);
                self.renew(resource, token, ttl(ms))
            }
            Op::Release { resource, pick } => {
                let token = self.pick_token(resource, pick);
                self.release(resource, token)
            }
            Op::Evict { resource } => self.evict(resource),
            Op::Prune { idle_for_ms } => {
                self.table.prune(self.now, idle_for_ms);
                Ok(())
            }
            Op::Advance { ms } => {
                self.now = Timestamp::from_millis(self.now.as_millis() + ms);
                Ok(())
            }
            Op::Overflowing { resource, renew } => self.refused(resource, renew),
            Op::ClockOutOfRange { resource } => self.clock_out_of_range(resource),
        }
    }

    /// An issued token of `resource`, or one never issued (one past the last).
    fn pick_token(&self, resource: u8, pick: usize) -> FencingToken {
        let issued = &self.told[usize::from(resource)].issued;
        match issued.get(pick) {
            Some(token) => *token,
            None => {
                let last = issued.last().map_or(0, |t| t.get());
                FencingToken::new(last + 1 + pick as u64).expect("small")
            }
        }
    }

    fn apply(&mut self, index: u8, request: &Request) -> Result<Outcome, TestCaseError> {
        self.table
            .apply(&resource(index), request, self.now)
            .map_err(|e| TestCaseError::fail(format!("valid request refused: {e}")))
    }

    fn acquire(
        &mut self,
        index: u8,
        who: Owner,
        id: RequestId,
        ttl: Ttl,
    ) -> Result<(), TestCaseError> {
        let before = self.table.state(&resource(index));
        let owns_valid_lease = before
            .valid_record(self.now)
            .is_some_and(|r| r.request_id == id && r.owner == who);
        let request = Request::Acquire {
            owner: who.clone(),
            request_id: id,
            ttl,
        };
        let outcome = self.apply(index, &request)?;
        let Outcome::Acquire(outcome) = outcome else {
            return Err(TestCaseError::fail(
                "acquire answered with another request's outcome",
            ));
        };
        let told = &mut self.told[usize::from(index)];
        let grant = match outcome {
            AcquireOutcome::Granted(grant) => grant,
            AcquireOutcome::Busy(holder) => {
                prop_assert!(!owns_valid_lease, "a retry was told its own lease is busy");
                prop_assert!(holder.expires_at > self.now, "busy with an expired holder");
                told.attempts.push((who, id, None));
                return Ok(());
            }
        };
        let earlier = told
            .attempts
            .iter()
            .rev()
            .find(|(o, i, g)| *o == who && *i == id && g.is_some());
        prop_assert_eq!(
            grant.kind == GrantKind::Replayed,
            owns_valid_lease,
            "replay iff retry"
        );
        match grant.kind {
            GrantKind::New => {
                let high_water = before.high_water();
                prop_assert!(
                    Some(grant.token) > high_water,
                    "token {} not above {high_water:?}",
                    grant.token
                );
                prop_assert!(told.issued.iter().all(|t| *t < grant.token), "token reused");
                told.issued.push(grant.token);
                told.believed.insert(grant.token, grant.expires_at);
            }
            GrantKind::Replayed => {
                // The same grant as the attempt that produced the lease: same token, same start,
                // and the expiry the holder was last told.
                let original = earlier.and_then(|(_, _, g)| *g);
                let original = original.ok_or_else(|| TestCaseError::fail("replay of nothing"))?;
                prop_assert_eq!(grant.token, original.token);
                prop_assert_eq!(grant.acquired_at, original.acquired_at);
                prop_assert_eq!(Some(&grant.expires_at), told.believed.get(&grant.token));
                prop_assert_eq!(self.table.state(&resource(index)), before, "replay wrote");
            }
        }
        told.attempts.push((who, id, Some(grant)));
        Ok(())
    }

    fn renew(&mut self, index: u8, token: FencingToken, ttl: Ttl) -> Result<(), TestCaseError> {
        let before = self.table.state(&resource(index));
        let current = before.valid_record(self.now).map(|r| r.token);
        let outcome = self.apply(index, &Request::Renew { token, ttl })?;
        let after = self.table.state(&resource(index));
        let told = &mut self.told[usize::from(index)];
        match outcome {
            Outcome::Renew(RenewOutcome::Renewed { expires_at }) => {
                prop_assert_eq!(current, Some(token), "renewed a lease that was not valid");
                let previous = told.believed.insert(token, expires_at);
                prop_assert!(previous.is_some_and(|p| p <= expires_at), "renew shortened");
            }
            Outcome::Renew(RenewOutcome::Lost { .. }) => {
                prop_assert_ne!(current, Some(token), "lost a valid lease");
                prop_assert_eq!(after, before, "a failed renew changed the state");
            }
            other => return Err(TestCaseError::fail(format!("renew answered {other:?}"))),
        }
        Ok(())
    }

    fn release(&mut self, index: u8, token: FencingToken) -> Result<(), TestCaseError> {
        let before = self.table.state(&resource(index));
        let latest = before.record().map(|r| r.token);
        let outcome = self.apply(index, &Request::Release { token })?;
        let after = self.table.state(&resource(index));
        let told = &mut self.told[usize::from(index)];
        if latest != Some(token) {
            prop_assert_eq!(&after, &before, "a stale release changed the state");
        }
        match outcome {
            Outcome::Release(ReleaseOutcome::Released | ReleaseOutcome::Expired) => {
                prop_assert_eq!(latest, Some(token));
                told.believed.remove(&token);
            }
            Outcome::Release(ReleaseOutcome::NotHolder { current }) => {
                prop_assert_eq!(&after, &before, "NotHolder changed the state");
                prop_assert_eq!(current, after.holder_at(self.now));
            }
            other => return Err(TestCaseError::fail(format!("release answered {other:?}"))),
        }
        prop_assert!(
            after
                .valid_record(self.now)
                .is_none_or(|r| r.token != token)
        );
        Ok(())
    }

    fn evict(&mut self, index: u8) -> Result<(), TestCaseError> {
        let outcome = self.apply(index, &Request::Evict)?;
        prop_assert!(self.table.holder(&resource(index), self.now).is_none());
        if let Outcome::Evict(EvictOutcome::Evicted(holder)) = outcome {
            self.told[usize::from(index)].believed.remove(&holder.token);
        }
        Ok(())
    }

    fn refused(&mut self, index: u8, renew: bool) -> Result<(), TestCaseError> {
        // One millisecond past the largest storable expiry.
        let huge = ttl(Timestamp::MAX.as_millis() - self.now.as_millis() + 1);
        let request = if renew {
            let token = self.pick_token(index, 0);
            Request::Renew { token, ttl: huge }
        } else {
            Request::Acquire {
                owner: owner(0),
                request_id: RequestId::from_u128(0),
                ttl: huge,
            }
        };
        let before = self.table.clone();
        let result = self.table.apply(&resource(index), &request, self.now);
        prop_assert_eq!(
            result,
            Err(DecideError::ExpiryOverflow {
                now: self.now,
                ttl: huge
            })
        );
        prop_assert_eq!(&self.table, &before, "refused input changed the table");
        Ok(())
    }

    fn clock_out_of_range(&mut self, index: u8) -> Result<(), TestCaseError> {
        let beyond = Timestamp::from_millis(Timestamp::MAX.as_millis() + 1);
        let before = self.table.clone();
        let result = self.table.apply(&resource(index), &Request::Evict, beyond);
        prop_assert_eq!(result, Err(DecideError::ClockOutOfRange { now: beyond }));
        prop_assert_eq!(&self.table, &before, "refused input changed the table");
        Ok(())
    }

    /// After every step: per resource, at most one lease that a caller believes valid; it is the
    /// one the table says is valid, with the expiry the caller was told.
    fn check_exclusion(&self) -> Result<(), TestCaseError> {
        for (index, told) in (0..RESOURCES).zip(&self.told) {
            let valid: Vec<_> = told
                .believed
                .iter()
                .filter(|(_, exp)| **exp > self.now)
                .collect();
            prop_assert!(
                valid.len() <= 1,
                "two valid leases on resource {index}: {valid:?}"
            );
            let holder = self.table.holder(&resource(index), self.now);
            let table_view = holder.map(|h| (h.token, h.expires_at));
            let told_view = valid.first().map(|(t, e)| (**t, **e));
            prop_assert_eq!(
                table_view,
                told_view,
                "table and callers disagree on {}",
                index
            );
        }
        Ok(())
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Mutual exclusion, increasing tokens, stale requests changing nothing, identical replays
    /// and refused input changing nothing, checked after every step of a random history.
    #[test]
    fn random_histories_keep_every_promise(
        start in 0..1_000_u64,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut harness = Harness::new(start);
        for op in &ops {
            harness.run(op)?;
            harness.check_exclusion()?;
        }
    }

    /// No state, request or clock reading makes `decide` panic, and an error never comes with a
    /// changed state.
    #[test]
    fn decide_never_panics(
        state in arbitrary_state(),
        request in arbitrary_request(),
        now in prop_oneof![any::<u64>(), 0..1_000_u64, Just(u64::MAX), Just(Timestamp::MAX.as_millis())],
    ) {
        let mut applied = state.clone();
        if applied.apply(&request, Timestamp::from_millis(now)).is_err() {
            prop_assert_eq!(applied, state);
        }
    }

    /// Name validation accepts exactly 1..=255 bytes without control characters, and never panics.
    #[test]
    fn names_follow_the_documented_rules(name in ".{0,300}") {
        let valid = !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control);
        prop_assert_eq!(Owner::new(name.as_str()).is_ok(), valid);
        prop_assert_eq!(ResourceName::new(name).is_ok(), valid);
    }
}

fn arbitrary_token() -> impl Strategy<Value = FencingToken> {
    prop_oneof![
        1..10_u64,
        Just(FencingToken::MAX.get()),
        1..=FencingToken::MAX.get()
    ]
    .prop_map(|v| FencingToken::new(v).expect("in range"))
}

fn arbitrary_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![0..1_000_u64, any::<u64>(), Just(u64::MAX)].prop_map(Timestamp::from_millis)
}

fn arbitrary_state() -> impl Strategy<Value = LockState<u8>> {
    use leasehold_core::{LeaseRecord, Status};
    let status = prop_oneof![
        Just(Status::Active),
        Just(Status::Released),
        Just(Status::ReleasedAfterExpiry),
        Just(Status::Evicted),
    ];
    let record = (
        any::<u8>(),
        arbitrary_token(),
        any::<u128>(),
        arbitrary_time(),
        arbitrary_time(),
        status,
    )
        .prop_map(|(owner, token, id, acquired_at, expires_at, status)| {
            LockState::Recorded(LeaseRecord {
                owner,
                token,
                request_id: RequestId::from_u128(id),
                acquired_at,
                expires_at,
                status,
            })
        });
    let vacant = proptest::option::of(arbitrary_token())
        .prop_map(|high_water| LockState::Vacant { high_water });
    prop_oneof![vacant, record]
}

fn arbitrary_request() -> impl Strategy<Value = Request<u8>> {
    let ttl = prop_oneof![
        1..100_u64,
        any::<u64>().prop_filter("non-zero", |v| *v > 0),
        Just(u64::MAX)
    ]
    .prop_map(|ms| Ttl::from_millis(ms).expect("non-zero"));
    prop_oneof![
        (any::<u8>(), any::<u128>(), ttl.clone()).prop_map(|(owner, id, ttl)| Request::Acquire {
            owner,
            request_id: RequestId::from_u128(id),
            ttl,
        }),
        (arbitrary_token(), ttl).prop_map(|(token, ttl)| Request::Renew { token, ttl }),
        arbitrary_token().prop_map(|token| Request::Release { token }),
        Just(Request::Evict),
    ]
}
