//! The TOCTOU races, for any store: the interleavings that broke the seed's check-then-act
//! acquire and its tokenless release, and the retry after a lost reply, each run many times over
//! with real threads, each on a store of its own, released together by a barrier.
//!
//! - [`expired_lease_race`]: many threads race for a lease that has just expired; exactly one is
//!   granted each round (catches [`Flaw::CheckThenAct`](crate::Flaw::CheckThenAct)).
//! - [`stale_release_races_new_acquire`]: the holder of an expired lease releases it while
//!   another client acquires; the newcomer's lease survives whichever comes first (catches
//!   [`Flaw::ReleaseByName`](crate::Flaw::ReleaseByName)).
//! - [`lost_reply_retry`]: a client whose grant was lost on the way retries with the same
//!   request id, alone and from several threads at once: the same lease, written once (catches
//!   [`Flaw::NoReplay`](crate::Flaw::NoReplay) and check-then-act).
//!
//! A round's threads start together, but whether they overlap inside the store is up to the
//! operating system: the suites show that the interleavings that happened were handled, and
//! count rounds so that a run that raced nothing fails.

use std::sync::Barrier;

use leasehold_contract::{Acquire, Lease, LockStore, Release};

use crate::backend::Backend;
use crate::support::{Fixture, busy, granted, holder_of, ms, ok, released, show};

/// Threads per round of [`expired_lease_race`].
const RACERS: usize = 6;

/// Runs `f(i, store_i)` on one thread per store, all released together; returns their results
/// in store order.
fn race<S: LockStore, T: Send>(stores: &[S], f: impl Fn(usize, &S) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(stores.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (start, f) = (&start, &f);
                scope.spawn(move || {
                    start.wait();
                    f(i, store)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racer does not panic"))
            .collect()
    })
}

/// `rounds` times: the last winner's lease (10 ms) reaches its expiry, and six threads, each on
/// its own store, ask for it at once. Exactly one is granted, with a token above the last
/// round's; every other is told `Busy` naming the winner; the stored holder is the winner.
///
/// Peers: etcd-io/etcd `TestMutexTryLockSingleNode` (lockers race, exactly one succeeds);
/// awslabs/amazon-dynamodb-lock-client
/// `acquireLock_whenExpiredCachedLockIsConcurrentlyAcquired_andSkipBlockingWait_throwsUnavailable`
/// (an expired lock taken by someone else first is refused). Catches check-then-act (two grants
/// in a round) and a store that grants nothing.
///
/// # Panics
///
/// On a round with no grant, two grants, a `Busy` naming someone else, or a token not above the
/// last round's.
pub fn expired_lease_race<B: Backend>(rounds: usize) {
    let fixture = Fixture::<B>::new();
    one_winner_per_round(&fixture, "race/expired", rounds, |_, _| fixture.advance(10));
}

/// `rounds` rounds of [`RACERS`] threads, each on its own store, asking at once for
/// `resource` with a 10 ms lease; `end_round` frees it for the next round (through the store
/// that won). Exactly one is granted each round, with a token above the last round's; every
/// other answer is `Busy` naming the winner, and the stored holder is the winner.
pub(crate) fn one_winner_per_round<B: Backend>(
    fixture: &Fixture<B>,
    resource: &str,
    rounds: usize,
    end_round: impl Fn(&B::Store, &Lease),
) {
    let stores: Vec<B::Store> = (0..RACERS).map(|_| fixture.open()).collect();
    let mut last_token = None;
    for round in 0..rounds {
        let answers = race(&stores, |i, store| {
            store.try_acquire(resource, &format!("racer-{i}"), ms(10))
        });
        let answers: Vec<Acquire> = answers.into_iter().map(|a| ok(a, "a racer")).collect();
        let (won, winner) = the_winner(&answers, round);
        assert!(
            last_token.is_none_or(|t| winner.token() > t),
            "round {round}: token {} is not above {last_token:?}",
            winner.token()
        );
        let stored = holder_of(&fixture.store, resource);
        assert_eq!(stored.as_ref(), Some(winner.holder()), "round {round}");
        last_token = Some(winner.token());
        end_round(&stores[won], winner);
    }
}

/// The one grant among a round's answers, with its racer; every other answer must be `Busy`
/// naming it.
fn the_winner(answers: &[Acquire], round: usize) -> (usize, &Lease) {
    let winners: Vec<(usize, &Lease)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Acquire::Granted(lease) => Some((i, lease)),
            Acquire::Busy(_) => None,
        })
        .collect();
    let [(won, winner)] = winners[..] else {
        let leases: Vec<_> = winners.iter().map(|(_, l)| show(l.holder())).collect();
        panic!(
            "round {round}: {} grants of one lease: {leases:?}",
            winners.len()
        );
    };
    for answer in answers {
        if let Acquire::Busy(holder) = answer {
            let what = format!("round {round}: Busy names another holder");
            assert_eq!(holder, winner.holder(), "{what}");
        }
    }
    (won, winner)
}

/// `rounds` times: `a` holds a 10 ms lease that has just expired; at once, `a` releases it
/// (through its lease, or by token every other round) and `b` acquires. `b` is granted, and
/// whichever came first, `a`'s release answers `Expired` or `NotHolder(b)` and `b`'s lease
/// stays the holder (and renews). Every fourth round runs the bad order on purpose: `b` first.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `testAcquiringSomeoneElsesLock` (a release of a
/// lock taken over fails, the new owner keeps it); the bugs behind lukas-krecan/ShedLock #74
/// and etcd-io/etcd #22082 (a late unlock by name freeing a newer holder). Catches a release
/// that frees by name.
///
/// # Panics
///
/// When `b` is not granted, `a`'s release ends `b`'s lease, or the holder afterwards is not `b`.
pub fn stale_release_races_new_acquire<B: Backend>(rounds: usize) {
    let fixture = Fixture::<B>::new();
    let stores = [fixture.open(), fixture.open()];
    for round in 0..rounds {
        let resource = "race/stale";
        let old = granted(stores[0].try_acquire(resource, "a", ms(10)), "a's acquire");
        fixture.advance(10);
        let by_token = round % 2 == 1;
        let release = |store: &B::Store| {
            if by_token {
                store.release_by_token(resource, old.token())
            } else {
                store.release(&old)
            }
        };
        let (release_answer, new) = if round % 4 == 0 {
            let new = granted(stores[1].try_acquire(resource, "b", ms(60_000)), "b first");
            (ok(release(&stores[0]), "a's late release"), new)
        } else {
            let answers = race(&stores, |i, store| match i {
                0 => Raced::Released(ok(release(store), "a's stale release")),
                _ => Raced::Granted(granted(store.try_acquire(resource, "b", ms(60_000)), "b")),
            });
            match <[Raced; 2]>::try_from(answers) {
                Ok([Raced::Released(answer), Raced::Granted(new)]) => (answer, new),
                _ => unreachable!("racer 0 releases and racer 1 acquires"),
            }
        };
        let acceptable = [
            Release::Expired,
            Release::NotHolder(Some(new.holder().clone())),
        ];
        assert!(
            acceptable.contains(&release_answer),
            "round {round}: a's stale release answered {release_answer:?} while b held {}",
            show(new.holder())
        );
        assert_eq!(
            holder_of(&stores[1], resource).as_ref(),
            Some(new.holder()),
            "round {round}"
        );
        released(stores[1].release(&new), "b's release");
    }
}

/// What a racer of [`stale_release_races_new_acquire`] was told.
enum Raced {
    Released(Release),
    Granted(Lease),
}

/// A grant whose answer never reached the client, retried with the same request id: first
/// alone (after the clock moved, and by another owner with the same id), then from four threads
/// at once, `rounds` times. Every retry gets the same lease (token, times), the store's state is
/// what the first attempt left (nothing written twice), another owner with that id is `Busy`,
/// and once the lease has expired the id grants nothing old.
///
/// Peers: etcd-io/etcd `TestElectionOnSessionRestart` (resuming with the same lease keeps what
/// it held), re-stated for a lock; the bug behind madelson/DistributedLock #147 (a lock taken
/// but reported as not taken, then leaked). Catches a store that forgets request ids, and
/// check-then-act (two concurrent deliveries both granted anew).
///
/// # Panics
///
/// When a retry gets another lease or `Busy`, or a retry changes the stored state.
pub fn lost_reply_retry<B: Backend>(rounds: usize) {
    let fixture = Fixture::<B>::new();
    let store = &fixture.store;
    let id = store.new_request_id();
    let first = granted(
        store.try_acquire_with_id("race/lost", "a", ms(100), id),
        "the lost grant",
    );
    let before = fixture.snapshot();
    fixture.advance(60);
    let retried = granted(
        store.try_acquire_with_id("race/lost", "a", ms(100), id),
        "the retry",
    );
    assert_eq!(
        retried.holder(),
        first.holder(),
        "a retry got another lease"
    );
    assert_eq!(fixture.snapshot(), before, "a retry wrote to the store");
    let stranger = store.try_acquire_with_id("race/lost", "b", ms(100), id);
    assert_eq!(
        busy(stranger, "another owner, same id").token(),
        first.token()
    );
    fixture.advance(40);
    let late = granted(
        store.try_acquire_with_id("race/lost", "a", ms(100), id),
        "after expiry",
    );
    assert!(
        late.token() > first.token(),
        "an expired lease came back: {}",
        show(late.holder())
    );
    concurrent_retries(&fixture, rounds);
}

/// Four threads deliver the same request at once, `rounds` times: one lease, four answers.
fn concurrent_retries<B: Backend>(fixture: &Fixture<B>, rounds: usize) {
    let stores: Vec<B::Store> = (0..4).map(|_| fixture.open()).collect();
    for round in 0..rounds {
        let id = stores[0].new_request_id();
        let leases = race(&stores, |_, store| {
            granted(
                store.try_acquire_with_id("race/dup", "a", ms(60_000), id),
                "a duplicate",
            )
        });
        let first = &leases[0];
        for lease in &leases {
            assert_eq!(
                lease.holder(),
                first.holder(),
                "round {round}: duplicates got two leases"
            );
        }
        released(stores[0].release(first), "the release");
    }
}
