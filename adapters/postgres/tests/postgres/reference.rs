//! The store against the core's `LockTable`, driven by a manual clock through the very statements
//! production runs: after every step the answers must be equal, and so must every stored row and
//! the high-water mark (`Audit::snapshot`). A scripted walk over the boundaries, then a seeded
//! random walk; the generic conformance kit (`leasehold-kit`) runs thousands of cases the same
//! way.

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
const MAX_MS: u64 = i64::MAX.unsigned_abs();

#[derive(Clone, Copy, Debug)]
enum Step {
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
struct Pair {
    store: PgStore,
    clock: ManualClock,
    table: LockTable,
    now: u64,
    steps: usize,
}

impl Pair {
    fn new(db: &TestDb, start: u64) -> Self {
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
    fn step(&mut self, step: Step) {
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

#[test]
fn every_operation_and_boundary_equals_the_core() {
    let db = TestDb::create();
    let mut pair = Pair::new(&db, 1_000);
    let first = pair.table.pruned_high_water().map_or(0, FencingToken::get) + 1;
    let script = [
        Step::Acquire {
            resource: 0,
            owner: 0,
            id: 1,
            ttl: 100,
        },
        Step::Acquire {
            resource: 0,
            owner: 1,
            id: 2,
            ttl: 100,
        },
        // The same request again: the same lease, not Busy; the same owner anew: Busy.
        Step::Acquire {
            resource: 0,
            owner: 0,
            id: 1,
            ttl: 100,
        },
        Step::Acquire {
            resource: 0,
            owner: 0,
            id: 3,
            ttl: 100,
        },
        Step::Renew {
            resource: 0,
            token: first,
            ttl: 50,
        },
        Step::Renew {
            resource: 0,
            token: first,
            ttl: 500,
        },
        Step::Holder { resource: 0 },
        Step::Holders,
        // Exactly at the expiry the lease is over.
        Step::SetNow { now: 1_500 },
        Step::Holder { resource: 0 },
        Step::Renew {
            resource: 0,
            token: first,
            ttl: 100,
        },
        Step::Acquire {
            resource: 0,
            owner: 1,
            id: 4,
            ttl: 100,
        },
        Step::Release {
            resource: 0,
            token: first,
        },
        Step::Release {
            resource: 0,
            token: first + 1,
        },
        Step::Release {
            resource: 0,
            token: first + 1,
        },
        Step::Acquire {
            resource: 1,
            owner: 2,
            id: 5,
            ttl: 10,
        },
        Step::Evict { resource: 1 },
        Step::Evict { resource: 1 },
        Step::Renew {
            resource: 1,
            token: first,
            ttl: 10,
        },
        Step::Acquire {
            resource: 2,
            owner: 0,
            id: 6,
            ttl: 5,
        },
        Step::SetNow { now: 1_505 },
        Step::Release {
            resource: 2,
            token: first,
        },
        Step::Holders,
        // Prune keeps the tokens: resource 0 starts above its pruned row's token.
        Step::SetNow { now: 1_600 },
        Step::Prune { idle: 10 },
        Step::Acquire {
            resource: 0,
            owner: 0,
            id: 7,
            ttl: 10,
        },
        Step::Acquire {
            resource: 1,
            owner: 0,
            id: 8,
            ttl: 10,
        },
        // Expiries that overflow, and clocks out of range.
        Step::Acquire {
            resource: 2,
            owner: 0,
            id: 9,
            ttl: u64::MAX,
        },
        Step::Renew {
            resource: 0,
            token: first + 1,
            ttl: u64::MAX,
        },
        Step::SetNow { now: MAX_MS - 10 },
        Step::Acquire {
            resource: 2,
            owner: 1,
            id: 10,
            ttl: 10,
        },
        Step::Acquire {
            resource: 1,
            owner: 1,
            id: 11,
            ttl: 11,
        },
        Step::Renew {
            resource: 1,
            token: first + 2,
            ttl: 20,
        },
        Step::SetNow { now: MAX_MS + 1 },
        Step::Acquire {
            resource: 2,
            owner: 1,
            id: 12,
            ttl: 10,
        },
        Step::Holder { resource: 2 },
        Step::Holders,
        Step::Prune { idle: 0 },
        Step::Evict { resource: 2 },
    ];
    for step in script {
        pair.step(step);
    }
}

#[test]
fn fencing_tokens_run_out_exactly_where_the_core_says() {
    let db = TestDb::create();
    let mut pair = Pair::new(&db, 1_000);
    let max = i64::MAX;
    // A recorded resource whose token is at i64::MAX: its next grant is refused.
    pair.step(Step::Acquire {
        resource: 0,
        owner: 0,
        id: 1,
        ttl: 10,
    });
    db.sql(&format!(
        "UPDATE leasehold.leasehold_locks SET token = {max}"
    ));
    pair.table = pair.store.snapshot().expect("the edited rows");
    pair.step(Step::SetNow { now: 1_010 });
    pair.step(Step::Acquire {
        resource: 0,
        owner: 1,
        id: 2,
        ttl: 10,
    });
    // A vacant resource while the mark is at i64::MAX: refused by the token guard.
    db.sql(&format!(
        "UPDATE leasehold.leasehold_meta SET value = {max} WHERE key = 'pruned_high_water'"
    ));
    pair.table = pair.store.snapshot().expect("the edited mark");
    pair.step(Step::Acquire {
        resource: 1,
        owner: 1,
        id: 3,
        ttl: 10,
    });
    // A recorded resource with a small token while the mark is at i64::MAX: granted.
    db.sql("UPDATE leasehold.leasehold_locks SET token = 7");
    pair.table = pair.store.snapshot().expect("the edited rows");
    pair.step(Step::Acquire {
        resource: 0,
        owner: 1,
        id: 4,
        ttl: 10,
    });
    pair.step(Step::Holders);
}

/// xorshift64*: a fixed sequence, so a failure replays.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).expect("small")
    }
}

/// A random step, with tokens that were granted (current or stale) or never issued.
fn random_step(random: &mut Random, pair: &Pair, ids: &mut Vec<(usize, usize, u128)>) -> Step {
    let r = random.index(3);
    let ttl = if random.below(20) == 0 {
        u64::MAX
    } else {
        1 + random.below(50)
    };
    let token = {
        let tokens: Vec<u64> = pair
            .table
            .records()
            .map(|(_, record)| record.token.get())
            .collect();
        match tokens.len() {
            0 => 1 + random.below(3),
            n => tokens[random.index(n)]
                .saturating_sub(random.below(2))
                .max(1),
        }
    };
    match random.below(20) {
        0..=4 => {
            let id = u128::from(random.next());
            let owner = random.index(3);
            ids.push((r, owner, id));
            Step::Acquire {
                resource: r,
                owner,
                id,
                ttl,
            }
        }
        5..=6 if !ids.is_empty() => {
            let (resource, owner, id) = ids[random.index(ids.len())];
            Step::Acquire {
                resource,
                owner,
                id,
                ttl,
            }
        }
        7..=9 => Step::Renew {
            resource: r,
            token,
            ttl,
        },
        10..=12 => Step::Release { resource: r, token },
        13 => Step::Evict { resource: r },
        14 => Step::Prune {
            idle: random.below(30),
        },
        15..=17 => Step::SetNow {
            now: pair.now + random.below(40),
        },
        18 => Step::Holder { resource: r },
        _ => Step::Holders,
    }
}

#[test]
fn a_seeded_random_walk_equals_the_core_after_every_step() {
    let db = TestDb::create();
    let mut pair = Pair::new(&db, 1_700_000_000_000);
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut ids = Vec::new();
    let mut grants = 0;
    for _ in 0..400 {
        let step = random_step(&mut random, &pair, &mut ids);
        let before = pair.table.records().count();
        pair.step(step);
        grants += usize::from(pair.table.records().count() > before);
    }
    // The walk made progress: leases were granted and the clock moved.
    assert!(grants >= 3, "only {grants} new rows");
    assert!(pair.now > 1_700_000_000_000);
}

/// The negative control: a bug planted in the database (every update stores one millisecond
/// more than the statement wrote) must make the comparison fail.
#[test]
#[should_panic(expected = "differs from the core")]
fn a_planted_bug_is_caught() {
    let db = TestDb::create();
    let mut pair = Pair::new(&db, 1_000);
    db.sql(
        "CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN NEW.expires_at := NEW.expires_at + 1; RETURN NEW; END $$; \
         CREATE TRIGGER planted BEFORE UPDATE ON leasehold.leasehold_locks \
         FOR EACH ROW EXECUTE FUNCTION public.planted()",
    );
    let first = pair.table.pruned_high_water().map_or(0, FencingToken::get) + 1;
    pair.step(Step::Acquire {
        resource: 0,
        owner: 0,
        id: 1,
        ttl: 100,
    });
    pair.step(Step::Renew {
        resource: 0,
        token: first,
        ttl: 200,
    });
}
