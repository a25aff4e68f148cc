//! Counting under contention: exact counts of lock-protected increments, and exactly one winner
//! per round of a try-lock race.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use leasehold_contract::{Acquire, LockStore, Release};

use crate::backend::Backend;
use crate::races::one_winner_per_round;
use crate::support::{Fixture, ms, released};

/// Increments per thread in [`exact_count_threads`] (the first thread does 10, as ShedLock's
/// fuzz test gives one thread fewer iterations).
const INCREMENTS: u64 = 25;

/// One resource's shared counter, read and written back non-atomically under the lease, and
/// how many threads were inside at once.
#[derive(Default)]
struct Counter {
    value: AtomicU64,
    inside: AtomicUsize,
    crowded: AtomicUsize,
}

/// What one thread saw of its increments: `(value read, token)` for each, and its failures.
type Seen = (Vec<(u64, u64)>, Vec<String>);

/// Six threads, three per resource, four with stores of their own and two sharing one, each
/// make lock-protected increments of a plain shared counter: read it, pause, write it back plus
/// one (a read-modify-write that two holders at once would lose). The totals are exact, no two
/// threads were ever inside at once, every release answers `Released`, and the tokens grow with
/// the counter. Returns the two totals.
///
/// Peers: lukas-krecan/ShedLock `AbstractLockProviderIntegrationTest.fuzzTestShouldPass` (with
/// its `FuzzTester`); madelson/DistributedLock `TestParallelism` (an in-section counter that
/// must never reach 2); awslabs/amazon-dynamodb-lock-client
/// `ConsistentLockDataStressTest.consistentDataUsingUpdateLockRecord` (the counter kept in the
/// lock must come out exact). Catches check-then-act (lost increments, two holders inside) and
/// a store that grants nothing.
///
/// # Panics
///
/// When a total is short, two threads were inside at once, a wait or a release failed, or the
/// tokens do not grow with the counter.
pub fn exact_count_threads<B: Backend>() -> [u64; 2] {
    let fixture = Fixture::<B>::new();
    let own: Vec<B::Store> = (0..4).map(|_| fixture.open()).collect();
    let counters = [Counter::default(), Counter::default()];
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let store = own.get(i).unwrap_or(&fixture.store);
                let counter = &counters[i % 2];
                let increments = if i == 0 { 10 } else { INCREMENTS };
                scope.spawn(move || increment(store, i, counter, increments))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a counting thread does not panic"))
            .collect()
    });
    let failures: Vec<&String> = seen.iter().flat_map(|(_, failed)| failed).collect();
    let totals = [0, 1].map(|r| counters[r].value.load(Ordering::SeqCst));
    let crowded = [0, 1].map(|r| counters[r].crowded.load(Ordering::SeqCst));
    let expected = [10 + 2 * INCREMENTS, 3 * INCREMENTS];
    assert!(
        totals == expected && crowded == [0, 0] && failures.is_empty(),
        "{}: totals {totals:?} of {expected:?}, two holders inside {crowded:?} times, \
         failures {failures:?}",
        fixture.backend.name()
    );
    assert_tokens_grow(&seen);
    totals
}

/// Per resource (threads alternate between the two), the tokens ordered by the counter value
/// each increment read must increase: the store's serial order is the counter's.
fn assert_tokens_grow(seen: &[Seen]) {
    for r in 0..2 {
        let mut by_value: Vec<(u64, u64)> = seen
            .iter()
            .skip(r)
            .step_by(2)
            .flat_map(|(s, _)| s.clone())
            .collect();
        by_value.sort_unstable();
        assert!(
            by_value.windows(2).all(|w| w[0].1 < w[1].1),
            "resource {r}: tokens do not grow with the counter: {by_value:?}"
        );
    }
}

/// Thread `i`'s increments of `counter`, each under a lease on the counter's resource.
fn increment<S: LockStore>(store: &S, i: usize, counter: &Counter, increments: u64) -> Seen {
    let (resource, owner) = (format!("count/{}", i % 2), format!("counter-{i}"));
    let mut seen = (Vec::new(), Vec::new());
    for _ in 0..increments {
        let answer = store.acquire_for(&resource, &owner, ms(60_000), ms(10_000));
        let lease = match answer {
            Ok(Acquire::Granted(lease)) => lease,
            other => {
                seen.1
                    .push(format!("{owner} waited 10 s and got {other:?}"));
                break;
            }
        };
        if counter.inside.fetch_add(1, Ordering::SeqCst) > 0 {
            counter.crowded.fetch_add(1, Ordering::SeqCst);
        }
        let value = counter.value.load(Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_micros(50));
        counter.value.store(value + 1, Ordering::SeqCst);
        counter.inside.fetch_sub(1, Ordering::SeqCst);
        seen.0.push((value, lease.token().get()));
        match store.release(&lease) {
            Ok(Release::Released) => {}
            other => seen.1.push(format!("{owner}'s release answered {other:?}")),
        }
    }
    seen
}

/// `rounds` times, six threads on stores of their own call `try_acquire` at once for a free
/// resource: exactly one is granted, with a token above the last round's, every other is told
/// `Busy` naming the winner, and the winner's release answers `Released`.
///
/// Peers: etcd-io/etcd `TestMutexTryLockSingleNode`; lukas-krecan/ShedLock
/// `AbstractLockProviderIntegrationTest.shouldLockTwiceInARow` and `shouldNotReturnSecondLock`;
/// madelson/DistributedLock `BasicTest`. Catches check-then-act (two winners) and a store that
/// grants nothing.
///
/// # Panics
///
/// On a round without exactly one winner, a `Busy` naming someone else, or a failed release.
pub fn try_race_exactly_one<B: Backend>(rounds: usize) {
    let fixture = Fixture::<B>::new();
    one_winner_per_round(&fixture, "count/race", rounds, |store, winner| {
        released(store.release(winner), "the winner's release");
    });
}
