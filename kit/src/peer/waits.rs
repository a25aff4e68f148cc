//! Bounded waits: they return `Busy` at their deadline (not before, not much after), are
//! granted soon after the lease frees, and leave nothing behind when they give up.
//!
//! Timing bounds use the store's tolerance ([`Fixture::tolerance`]): one whole 50 ms pause (the
//! contract's backoff cap: a store whose last pause is not cut at the deadline may sleep that
//! much past it), ten statements, and 50 ms for a loaded machine. Lower bounds are exact (a wait
//! never answers before its deadline), upper bounds are judged on the median of repeated waits
//! where a single late sample is plausible on a shared machine.

use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Holder, LockStore};

use crate::backend::Backend;
use crate::support::{Fixture, busy, granted, holder_of, ms, ok, released, show, timed};

/// The median of `samples`.
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// How long a bounded wait took on this store, per timeout: what [`bounded_wait_timing`]
/// measured, for its report.
pub type Timings = Vec<(Duration, Vec<Duration>)>;

/// While another holds the lease, `acquire_for(d)` for d = 0, 40 and 150 ms and
/// `acquire_until(now + 150 ms)`, three times each, answer `Busy` naming the holder, never
/// before their deadline and (on the median) within the store's tolerance after it; a deadline
/// already past answers within the tolerance; and none of these waits leaves a lease behind.
/// Returns what was measured.
///
/// Peers: madelson/DistributedLock `TestTimeouts` (a 0.2 s wait on a held lock ends within
/// 0.5 s); awslabs/amazon-dynamodb-lock-client `testAcquireLockAfterTimeout`; etcd-io/etcd
/// `TestMutexLockSessionExpired` (and the bug behind etcd-io/etcd #10111: a wait that ended
/// without the lock reported success). Catches [`Flaw::ReturnsEarly`](crate::Flaw::ReturnsEarly)
/// and [`Flaw::ReturnsLate`](crate::Flaw::ReturnsLate).
///
/// # Panics
///
/// When a wait is granted, answers early, answers late on the median, or leaves a lease.
pub fn bounded_wait_timing<B: Backend>() -> Timings {
    let fixture = Fixture::<B>::new();
    let waiter = fixture.open();
    let held = granted(
        fixture.store.try_acquire("wait/held", "h", ms(60_000)),
        "the holder",
    );
    let tolerance = fixture.tolerance();
    let mut timings = Vec::new();
    for (wait, until) in [(0, false), (40, false), (150, false), (150, true)] {
        let wait = ms(wait);
        let mut took: Vec<Duration> = (0..3)
            .map(|_| {
                let (answer, took) = timed(|| {
                    if until {
                        waiter.acquire_until("wait/held", "w", ms(1_000), Instant::now() + wait)
                    } else {
                        waiter.acquire_for("wait/held", "w", ms(1_000), wait)
                    }
                });
                assert_eq!(&busy(answer, "a bounded wait"), held.holder());
                assert!(took >= wait, "a {wait:?} wait answered after {took:?}");
                took
            })
            .collect();
        let middle = median(&mut took);
        assert!(
            middle <= wait + tolerance,
            "{}: {wait:?} waits answered after {took:?} (median past {:?})",
            fixture.backend.name(),
            wait + tolerance
        );
        timings.push((wait, took));
    }
    let past = Instant::now();
    let (answer, took) = timed(|| waiter.acquire_until("wait/held", "w", ms(1_000), past));
    assert_eq!(&busy(answer, "a wait until a past deadline"), held.holder());
    assert!(took <= tolerance, "a past deadline answered after {took:?}");
    let holders = ok(waiter.holders(), "holders after the waits");
    assert_eq!(
        holders,
        [held.holder().clone()],
        "a wait that gave up left a lease"
    );
    timings
}

/// A waiter is granted when the lease frees, by expiry or release: behind a 1 s lease that is
/// never renewed, `acquire_for(2 s)` is still waiting until the clock reaches the expiry and is
/// then granted from it; behind a lease released through another store, three waiters in turn
/// are granted (on the median) within the tolerance of the release.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `testSucceedToAcquireLockAfterTimeout`;
/// madelson/DistributedLock `TestCrossProcess` (a `TryAcquire` of 10 s succeeds once the other
/// process lets go); etcd-io/etcd `TestV3LockLockWaiter` (the waiter gets the lock soon after
/// the unlock, with a later revision). Catches [`Flaw::ReturnsEarly`](crate::Flaw::ReturnsEarly)
/// (the waiter gives up at once).
///
/// # Panics
///
/// When a waiter answers before the lease frees, is not granted, or notices the release late.
pub fn wait_succeeds_when_freed<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let waiter = fixture.open();
    let held = granted(
        fixture.store.try_acquire("wait/expiry", "h", ms(1_000)),
        "the holder",
    );
    let (lease, early, _) = wait_behind(&waiter, "wait/expiry", || fixture.advance(1_000));
    assert!(!early, "the waiter answered before the lease expired");
    assert_eq!(
        lease.acquired_at(),
        held.expires_at(),
        "granted when the lease expired"
    );
    assert!(lease.token() > held.token());
    let mut noticed: Vec<Duration> = (0..3)
        .map(|round| {
            let resource = format!("wait/released/{round}");
            let held = granted(
                fixture.store.try_acquire(&resource, "h", ms(60_000)),
                "holder",
            );
            let (lease, early, noticed) = wait_behind(&waiter, &resource, || {
                released(fixture.store.release(&held), "the holder's release");
            });
            assert!(!early, "the waiter answered before the release");
            assert!(lease.token() > held.token());
            noticed
        })
        .collect();
    let tolerance = fixture.tolerance();
    assert!(
        median(&mut noticed) <= tolerance,
        "releases noticed after {noticed:?}"
    );
}

/// `waiter` waits (2 s) for `resource`; after 30 ms, `free` frees it. The grant, whether the
/// waiter had answered before `free`, and how long after `free` it answered.
fn wait_behind<S: LockStore>(
    waiter: &S,
    resource: &str,
    free: impl FnOnce(),
) -> (leasehold_contract::Lease, bool, Duration) {
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let answer = waiter.acquire_for(resource, "w", ms(60_000), ms(2_000));
            (answer, Instant::now())
        });
        std::thread::sleep(ms(30));
        let early = waiting.is_finished();
        free();
        let freed = Instant::now();
        let (answer, answered) = waiting.join().expect("the waiter does not panic");
        let lease = granted(answer, "the waiter");
        (lease, early, answered.saturating_duration_since(freed))
    })
}

/// A waiter that gives up hands nothing on: `w1` (150 ms) and then `w2` (3 s) wait through one
/// store behind `h`; `w1` answers `Busy(h)`; at 300 ms `h` still holds and `w2` still waits;
/// once `h` releases, `w2` is granted promptly, and `w1` is never a holder.
///
/// Peers: etcd-io/etcd `TestMutexWaitsOnCurrentHolder` (a departed waiter does not let a later
/// one in before the holder unlocks) and `TestCtlV3Lock`; the bug behind etcd-io/etcd #19597.
/// Catches [`Flaw::ReturnsEarly`](crate::Flaw::ReturnsEarly).
///
/// # Panics
///
/// When `w1`'s departure frees the lease, `w2` is not granted after the release, or `w1`
/// holds.
pub fn departing_waiter_does_not_free<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (line, holder) = (fixture.open(), fixture.open());
    let held = granted(
        holder.try_acquire("wait/depart", "h", ms(60_000)),
        "the holder",
    );
    let started = Instant::now();
    let (w1, w2, during, noticed) = std::thread::scope(|scope| {
        let w1 =
            scope.spawn(|| timed(|| line.acquire_for("wait/depart", "w1", ms(60_000), ms(150))));
        std::thread::sleep(ms(10));
        let w2 = scope.spawn(|| {
            let answer = line.acquire_for("wait/depart", "w2", ms(60_000), ms(3_000));
            (answer, Instant::now())
        });
        let w1 = w1.join().expect("w1 does not panic");
        std::thread::sleep(ms(300).saturating_sub(started.elapsed()));
        let during = (holder_of(&holder, "wait/depart"), w2.is_finished());
        released(holder.release(&held), "the holder's release");
        let freed = Instant::now();
        let (answer, answered) = w2.join().expect("w2 does not panic");
        (
            w1,
            answer,
            during,
            answered.saturating_duration_since(freed),
        )
    });
    let (answer, took) = w1;
    assert_eq!(&busy(answer, "w1"), held.holder());
    assert!(took >= ms(150), "w1 answered after {took:?}");
    assert_eq!(
        during,
        (Some(held.holder().clone()), false),
        "(holder, w2 done) after w1 left"
    );
    let lease = granted(w2, "w2 after the release");
    assert!(
        noticed <= fixture.tolerance() * 2,
        "w2 noticed the release after {noticed:?}"
    );
    let holders: Vec<Holder> = ok(line.holders(), "holders");
    assert_eq!(holders, [lease.holder().clone()], "only w2 holds");
}

/// Two holders each wait for the other's lease — `t1` holds `A` and waits 150 ms for `B`,
/// `t2` holds `B` and waits 150 ms for `A` — first through stores of their own, then through
/// one shared store: both answer `Busy` at their deadline, with no deadlock, and once both
/// release, both resources are free.
///
/// Peers: madelson/DistributedLock `TestDeadlockDetection` (crossed acquires must not hang).
/// Catches [`Flaw::ReturnsEarly`](crate::Flaw::ReturnsEarly) and
/// [`Flaw::ReturnsLate`](crate::Flaw::ReturnsLate).
///
/// # Panics
///
/// When a crossed wait is granted, answers early, or answers far past its deadline.
pub fn crossed_waits_time_out<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let own = [fixture.open(), fixture.open()];
    let late = ms(150) + fixture.tolerance() * 2;
    for shared in [false, true] {
        let stores = if shared {
            [&fixture.store; 2]
        } else {
            [&own[0], &own[1]]
        };
        let names = ["wait/A", "wait/B"];
        let held = [0, 1].map(|i| granted(stores[i].try_acquire(names[i], "t", ms(60_000)), "t"));
        let answers = std::thread::scope(|scope| {
            let crossed = [0, 1].map(|i| {
                let (store, other) = (stores[i], names[1 - i]);
                scope.spawn(move || timed(|| store.acquire_for(other, "x", ms(60_000), ms(150))))
            });
            crossed.map(|t| t.join().expect("a crossed waiter does not panic"))
        });
        for (i, (answer, took)) in answers.into_iter().enumerate() {
            let holder = busy(answer, "a crossed wait");
            assert_eq!(&holder, held[1 - i].holder(), "{}", show(&holder));
            assert!(
                took >= ms(150) && took <= late,
                "shared {shared}: answered after {took:?}"
            );
        }
        for (i, lease) in held.iter().enumerate() {
            released(stores[i].release(lease), "a crossed holder's release");
        }
        for name in names {
            let free = ok(
                fixture.store.try_acquire(name, "after", ms(60_000)),
                "afterwards",
            );
            let Acquire::Granted(lease) = free else {
                panic!("{name} is still held")
            };
            released(fixture.store.release(&lease), "the release afterwards");
        }
    }
}
