//! Walks of the store beside the core's table (`reference`): a script over every boundary,
//! fencing tokens running out, a seeded random walk, and the negative control.

use leasehold_core::FencingToken;
use leasehold_postgres::Audit;

use super::reference::{MAX_MS, Pair, Step};
use super::support::TestDb;

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
