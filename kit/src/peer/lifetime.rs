//! A lease's life: what a grant says, how renewals extend it, how it ends (expiry, release,
//! eviction, abandonment), and that an ended lease stays ended.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use leasehold_contract::{Holder, Lease, LockStore, LostReason, Release, Renew, drift_margin};

use crate::backend::Backend;
use crate::support::{
    Fixture, busy, granted, holder_of, lost, ms, ok, released, renewed, show, timed,
};

/// Asserts what every fresh grant must say: the resource and owner asked for, byte for byte;
/// an expiry exactly `ttl` after the grant; the same holder seen by `observer`; and a local
/// deadline of `ttl` less the drift margin, counted from a moment between `sent` (before the
/// call) and `returned` (after it) — never from the answer's arrival alone.
pub(crate) fn assert_exact_grant<S: LockStore>(
    lease: &Lease,
    (resource, owner, ttl): (&str, &str, Duration),
    (sent, returned): (Instant, Instant),
    observer: &S,
) {
    let what = show(lease.holder());
    assert_eq!(
        lease.resource().as_str(),
        resource,
        "{what}: the resource, byte for byte"
    );
    assert_eq!(
        lease.owner().as_str(),
        owner,
        "{what}: the owner, byte for byte"
    );
    let lasts = lease.expires_at().millis_since(lease.acquired_at());
    assert_eq!(
        Duration::from_millis(lasts),
        ttl,
        "{what}: expires exactly a ttl after"
    );
    assert_eq!(
        holder_of(observer, resource).as_ref(),
        Some(lease.holder()),
        "{what}: seen"
    );
    let usable = ttl - drift_margin(ttl);
    let (earliest, latest) = (sent + usable, returned + usable);
    assert!(
        (earliest..=latest).contains(&lease.deadline()),
        "{what}: its deadline is not the send time plus the ttl less the drift margin"
    );
}

/// One way of acquiring a resource, granted.
type Acquirer<'a> = dyn Fn(&str) -> Lease + 'a;

/// One way of ending a lease.
type Ending<'a> = dyn Fn(&Lease) + 'a;

/// Grants by each way of acquiring (`try_acquire`, `try_acquire_with_id`, `acquire_for`,
/// `acquire_until`) say exactly what was asked: the resource and owner byte for byte, an expiry
/// exactly a ttl after the grant, the same holder seen through another store, and a local
/// deadline counted from when the request was sent. A lease granted after a wait starts when it
/// was granted, not when the wait began: a waiter behind a 400 ms lease is granted at its expiry
/// with a full ttl from there.
///
/// Peers: etcd-io/etcd `TestLeaseGrantTimeToLive` (the remaining ttl is the one asked for) and
/// the bug behind etcd-io/etcd #9921 (a waiter granted with an expiry computed when it began
/// waiting); awslabs/amazon-dynamodb-lock-client `testAcquireBasicLock` and `testGetLock`.
/// Catches [`Flaw::TruncatesNames`](crate::Flaw::TruncatesNames) (the name does not come back).
///
/// # Panics
///
/// When a grant says anything but what was asked.
pub fn grant_fields_exact<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let ttl = ms(30_000);
    let ways: [(&str, &Acquirer<'_>); 4] = [
        ("try_acquire", &|r| {
            granted(store.try_acquire(r, "ówner ü", ttl), r)
        }),
        ("try_acquire_with_id", &|r| {
            let id = store.new_request_id();
            granted(store.try_acquire_with_id(r, "ówner ü", ttl, id), r)
        }),
        ("acquire_for", &|r| {
            granted(store.acquire_for(r, "ówner ü", ttl, ms(500)), r)
        }),
        ("acquire_until", &|r| {
            let until = Instant::now() + ms(500);
            granted(store.acquire_until(r, "ówner ü", ttl, until), r)
        }),
    ];
    for (way, acquire) in ways {
        let resource = format!("peer/fields/{way}/ü");
        let sent = Instant::now();
        let lease = acquire(&resource);
        assert_exact_grant(
            &lease,
            (&resource, "ówner ü", ttl),
            (sent, Instant::now()),
            &other,
        );
    }
    granted_after_a_wait(&fixture, &other);
}

/// `w` (ttl 100 ms) waits behind `h`'s 400 ms lease; once the clock reaches `h`'s expiry, `w`
/// is granted from there with its full 100 ms.
fn granted_after_a_wait<B: Backend>(fixture: &Fixture<B>, other: &B::Store) {
    let h = granted(
        fixture.store.try_acquire("peer/fields/wait", "h", ms(400)),
        "h",
    );
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let sent = Instant::now();
            let answer = other.acquire_for("peer/fields/wait", "w", ms(100), ms(10_000));
            (granted(answer, "w after h's expiry"), sent, Instant::now())
        });
        std::thread::sleep(ms(30));
        fixture.advance(400);
        let (w, sent, returned) = waiter.join().expect("the waiter does not panic");
        assert_eq!(
            w.acquired_at(),
            h.expires_at(),
            "w granted when h expired, not before"
        );
        assert_exact_grant(
            &w,
            ("peer/fields/wait", "w", ms(100)),
            (sent, returned),
            other,
        );
    });
}

/// A lease that ended — released, expired or evicted — cannot be renewed: `Lost` with the
/// reason, through the lease and by token, and the resource stays free. Then 50 rounds of a
/// renewer in a tight loop racing a release: every renew that begins after the release has
/// answered is `Lost { Released }`, and the resource is free at the end.
///
/// Peers: lukas-krecan/ShedLock
/// `AbstractExtensibleLockProviderIntegrationTest.shouldNotBeAbleToExtendUnlockedLock` and
/// `shouldNotBeAbleToExtendExpiredLock`; awslabs/amazon-dynamodb-lock-client
/// `cannotHeartbeatExpiredLock` and
/// `sendHeartbeat_whenNotExpired_andSameOwner_releasedTrue_throwsLockNotGrantedException`
/// (and its PR #116, a heartbeat racing a release); madelson/DistributedLock
/// `TestHandleLostTriggersCorrectly`. Catches
/// [`Flaw::RenewResurrects`](crate::Flaw::RenewResurrects).
///
/// # Panics
///
/// When an ended lease renews, or the resource is held after it.
pub fn renew_after_end_is_lost<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let end: [(LostReason, &Ending<'_>); 3] = [
        (LostReason::Released, &|l| {
            released(store.release(l), "the release");
        }),
        (LostReason::Expired, &|_| fixture.advance(1_000)),
        (LostReason::Evicted, &|l| {
            let evicted = ok(other.evict(l.resource().as_str()), "the eviction");
            assert_eq!(
                evicted,
                leasehold_contract::Evict::Evicted(l.holder().clone())
            );
        }),
    ];
    for (reason, end) in end {
        for by_token in [false, true] {
            let resource = format!("peer/ended/{reason:?}/{by_token}");
            let lease = granted(store.try_acquire(&resource, "h", ms(1_000)), "h");
            end(&lease);
            let answer = if by_token {
                other.renew_by_token(&resource, lease.token(), ms(60_000))
            } else {
                store.renew(&lease, ms(60_000))
            };
            let refused = lost(answer, &format!("a renew after {reason:?}"));
            assert_eq!(
                (refused.reason(), refused.current()),
                (reason, None),
                "{resource}"
            );
            assert_eq!(holder_of(&other, &resource), None, "{resource} stays free");
        }
    }
    renew_races_release(&fixture, &other);
}

/// A renewer in a tight loop and one release, started together, 50 times.
fn renew_races_release<B: Backend>(fixture: &Fixture<B>, other: &B::Store) {
    for round in 0..50 {
        let lease = granted(
            fixture
                .store
                .try_acquire("peer/ended/race", "h", ms(60_000)),
            "h",
        );
        let released_at = AtomicU64::new(u64::MAX);
        let clock = AtomicU64::new(0);
        let start = Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                start.wait();
                released(fixture.store.release(&lease), "the release");
                released_at.store(clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
            });
            start.wait();
            loop {
                let began = clock.fetch_add(1, Ordering::SeqCst);
                match ok(other.renew(&lease, ms(60_000)), "the renewer") {
                    Renew::Renewed(_) => assert!(
                        began < released_at.load(Ordering::SeqCst),
                        "round {round}: renewed after the release had answered"
                    ),
                    Renew::Lost(lost) => {
                        assert_eq!(lost.reason(), LostReason::Released, "round {round}");
                        break;
                    }
                }
            }
        });
        assert_eq!(
            holder_of(other, "peer/ended/race"),
            None,
            "round {round}: free at the end"
        );
    }
}

/// A holder that renews keeps its lease: `h` (100 ms) renews every 40 ms of clock, alternately
/// for 100 ms and for 30 ms, 20 times (eight ttls); each renewal is `Renewed` with an expiry
/// never earlier than before, and two contenders asking after each step are `Busy` naming `h`
/// with its token. Once `h` stops, the lease is still held a millisecond before its last
/// expiry, and a contender is granted at that expiry with a larger token.
///
/// Peers: lukas-krecan/ShedLock
/// `AbstractExtensibleLockProviderIntegrationTest.shouldBeAbleToExtendMultipleTimes`;
/// awslabs/amazon-dynamodb-lock-client `testBackgroundThread`; etcd-io/etcd
/// `TestLeaseKeepAlive`; madelson/DistributedLock `TestLockAbandonment` (its keep-alive
/// variant). Catches [`Flaw::ShortensOnRenew`](crate::Flaw::ShortensOnRenew) (the 30 ms renewals
/// cut the lease short) and [`Flaw::NeverExpires`](crate::Flaw::NeverExpires) (no contender is
/// ever granted).
///
/// # Panics
///
/// When the renewing holder loses its lease, or the lease outlives its last expiry.
pub fn renew_keeps_lease_alive<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let contenders = [fixture.open(), fixture.open()];
    let mut lease = granted(fixture.store.try_acquire("peer/alive", "h", ms(100)), "h");
    for step in 0..20 {
        fixture.advance(40);
        let ttl = if step % 2 == 0 { ms(100) } else { ms(30) };
        let next = renewed(fixture.store.renew(&lease, ttl), &format!("renewal {step}"));
        assert!(
            next.expires_at() >= lease.expires_at(),
            "renewal {step} shortened the lease"
        );
        assert_eq!(next.token(), lease.token(), "a renewal keeps the token");
        lease = next;
        for contender in &contenders {
            let seen = busy(
                contender.try_acquire("peer/alive", "c", ms(100)),
                "a contender",
            );
            assert_eq!(&seen, lease.holder(), "step {step}");
        }
    }
    let left = lease.expires_at().millis_since(fixture.now());
    fixture.advance(left - 1);
    busy(
        contenders[0].try_acquire("peer/alive", "c", ms(100)),
        "a millisecond before",
    );
    fixture.advance(1);
    let taken = granted(
        contenders[0].try_acquire("peer/alive", "c", ms(100)),
        "at the expiry",
    );
    assert_eq!(taken.acquired_at(), lease.expires_at());
    assert!(taken.token() > lease.token());
}

/// Renewing asks for "at least until now + ttl": `h` (5 s) renews for 1 s (its expiry does not
/// move), for 10 s (its expiry becomes now + 10 s exactly), for 2 s (it does not move); the
/// token never changes, and the holder every store sees has the same expiry.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `testEnsureLock`; etcd-io/etcd `TestLessorRenew`;
/// lukas-krecan/ShedLock `AbstractExtensibleLockProviderIntegrationTest.shouldBeAbleToExtendAtLeast`.
/// Catches [`Flaw::ShortensOnRenew`](crate::Flaw::ShortensOnRenew).
///
/// # Panics
///
/// When a renewal shortens the lease, moves it anywhere but now + ttl, or changes the token.
pub fn renew_never_shortens<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let lease = granted(store.try_acquire("peer/longer", "h", ms(5_000)), "h");
    let first = lease.expires_at();
    fixture.advance(100);
    let ten = fixture.now().as_millis() + 10_000;
    for (ttl, expected) in [(1_000, first.as_millis()), (10_000, ten), (2_000, ten)] {
        let renewal = renewed(store.renew(&lease, ms(ttl)), &format!("a {ttl} ms renewal"));
        assert_eq!(
            renewal.expires_at().as_millis(),
            expected,
            "after a {ttl} ms renewal"
        );
        assert_eq!(renewal.token(), lease.token(), "a renewal keeps the token");
        let seen = holder_of(&other, "peer/longer").map(|h| h.expires_at().as_millis());
        assert_eq!(
            seen,
            Some(expected),
            "seen elsewhere after a {ttl} ms renewal"
        );
    }
}

/// A lease ends at its expiry, and every ending is told as it is: after 100 ms of clock the
/// resource has no holder, is not listed, and a new acquire is granted with a larger token,
/// after which the old lease's release is `NotHolder(new)`; a lapsed lease nobody took is
/// released as `Expired` (twice); a lease released in time is `Released` and free at once; a
/// token never granted is `NotHolder(current)`.
///
/// Peers: lukas-krecan/ShedLock `AbstractLockProviderIntegrationTest.shouldTimeout` and
/// `shouldBeAbleToLockRightAfterUnlock`; awslabs/amazon-dynamodb-lock-client
/// `testNoBackgroundThread`, `testReleasingLock` and `canReleaseExpiredLock`; etcd-io/etcd
/// `TestLeaseGrantTimeToLiveExpired` and `TestMutexUnlock`. Catches
/// [`Flaw::NeverExpires`](crate::Flaw::NeverExpires).
///
/// # Panics
///
/// When a lease outlives its expiry, or an ending is told as another.
pub fn expiry_frees<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let old = granted(store.try_acquire("peer/expiry", "h", ms(100)), "h");
    fixture.advance(100);
    assert_eq!(
        holder_of(&other, "peer/expiry"),
        None,
        "expired at its expiry"
    );
    assert!(
        ok(other.holders(), "holders").is_empty(),
        "an expired lease is not listed"
    );
    let new = granted(
        other.try_acquire("peer/expiry", "n", ms(60_000)),
        "after the expiry",
    );
    assert!(new.token() > old.token(), "tokens grow");
    let current = Some(new.holder().clone());
    assert_eq!(
        ok(store.release(&old), "the old lease's release"),
        Release::NotHolder(current)
    );
    lapsed_release_is_expired(&fixture);
    released(other.release(&new), "a release in time");
    assert_eq!(holder_of(store, "peer/expiry"), None, "free at once");
    let again = granted(
        store.try_acquire("peer/expiry", "h", ms(60_000)),
        "at once after",
    );
    let never = leasehold_contract::FencingToken::new(again.token().get() + 1_000);
    let never = never.expect("a valid token");
    let answer = ok(
        other.release_by_token("peer/expiry", never),
        "a token never granted",
    );
    assert_eq!(answer, Release::NotHolder(Some(again.holder().clone())));
}

/// A lapsed lease nobody took over is released as `Expired`, and again as `Expired`.
fn lapsed_release_is_expired<B: Backend>(fixture: &Fixture<B>) {
    let store = &fixture.store;
    let lapsed = granted(store.try_acquire("peer/lapsed", "h", ms(100)), "h");
    fixture.advance(100);
    for what in ["the late release", "the late release again"] {
        assert_eq!(ok(store.release(&lapsed), what), Release::Expired);
    }
}

/// A holder that walks away frees the resource at its expiry, not before: `h` takes 500 ms and
/// drops its lease and its store without releasing; a waiter (`acquire_for`, 1 s) is still
/// waiting a millisecond before the expiry and is granted at it, with a larger token.
///
/// Peers: madelson/DistributedLock `TestLockAbandonment`, `TestCrossProcessAbandonment` and
/// `TestCrossProcessAbandonmentWithKill`; etcd-io/etcd `TestCtlV3Lock` (and the bug behind
/// etcd-io/etcd #17470, a lock held forever after its holder exited). Catches
/// [`Flaw::NeverExpires`](crate::Flaw::NeverExpires).
///
/// # Panics
///
/// When the abandoned lease frees early, or not at its expiry.
pub fn abandoned_holder_frees_after_ttl<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let abandoned: Holder = {
        let holder = fixture.open();
        let lease = granted(holder.try_acquire("peer/abandoned", "h", ms(500)), "h");
        lease.holder().clone()
    };
    let (waiter, prober) = (fixture.open(), fixture.open());
    std::thread::scope(|scope| {
        let waiting = scope
            .spawn(|| timed(|| waiter.acquire_for("peer/abandoned", "w", ms(60_000), ms(1_000))));
        std::thread::sleep(ms(20));
        fixture.advance(499);
        let still = busy(
            prober.try_acquire("peer/abandoned", "p", ms(100)),
            "just before",
        );
        assert_eq!(still, abandoned, "held until its expiry");
        std::thread::sleep(ms(20));
        assert!(
            !waiting.is_finished(),
            "the waiter was answered before the expiry"
        );
        fixture.advance(1);
        let (answer, _) = waiting.join().expect("the waiter does not panic");
        let taken = granted(answer, "the waiter, at the expiry");
        assert_eq!(taken.acquired_at(), abandoned.expires_at());
        assert!(taken.token() > abandoned.token());
    });
}
