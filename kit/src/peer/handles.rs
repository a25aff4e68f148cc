//! Handles: who may act on a lease. Not the holder asking again (no re-entrance), not an old
//! lease after a newer grant, not a wrong token; and every store sees a grant at once.

use std::time::{Duration, Instant};

use leasehold_contract::{LockStore, LostReason, Release};

use crate::backend::Backend;
use crate::support::{Fixture, busy, granted, holder_of, lost, ms, ok, released, renewed, timed};

/// The holder asks again: under a new request id it is `Busy` (naming itself, same token), a
/// waiting acquire of its own answers `Busy` at its deadline instead of hanging or granting,
/// another store asking under the holder's name is `Busy` too; under its first request id it
/// gets the same lease back (a retry, not a second lease). Once released, a fresh acquire gets
/// a larger token.
///
/// Peers: madelson/DistributedLock `BasicTest` (a nested `TryAcquire` "should not be
/// reentrant") and `TestReAcquireLockOnSameConnection`; lukas-krecan/ShedLock
/// `AbstractLockProviderIntegrationTest.shouldNotReturnSecondLock`;
/// awslabs/amazon-dynamodb-lock-client `testAcquireLockMultipleTimesNotReentrant`; etcd-io/etcd
/// `TestMutexSessionRelock` as the contrast (etcd is re-entrant per session). Catches
/// [`Flaw::Reentrant`](crate::Flaw::Reentrant) and [`Flaw::NoReplay`](crate::Flaw::NoReplay).
///
/// # Panics
///
/// When the holder is granted a second lease, its own retry is refused, or a wait hangs.
pub fn not_reentrant<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let id = store.new_request_id();
    let lease = granted(
        store.try_acquire_with_id("peer/again", "o", ms(60_000), id),
        "first",
    );
    let again = busy(
        store.try_acquire("peer/again", "o", ms(60_000)),
        "the holder again",
    );
    assert_eq!(&again, lease.holder(), "Busy must name the holder itself");
    let wait = ms(100);
    let (waited, took) = timed(|| store.acquire_for("peer/again", "o", ms(60_000), wait));
    assert_eq!(&busy(waited, "the holder's own wait"), lease.holder());
    assert!(
        took >= wait && took < wait + Duration::from_secs(5),
        "waited {took:?}"
    );
    let elsewhere = other.try_acquire("peer/again", "o", ms(60_000));
    assert_eq!(
        &busy(elsewhere, "the holder's name elsewhere"),
        lease.holder()
    );
    let retry = store.try_acquire_with_id("peer/again", "o", ms(60_000), id);
    assert_eq!(
        granted(retry, "the first request id again").holder(),
        lease.holder()
    );
    released(store.release(&lease), "the release");
    let next = granted(
        store.try_acquire("peer/again", "o", ms(60_000)),
        "after release",
    );
    assert!(next.token() > lease.token(), "tokens must grow");
}

/// An old lease cannot touch a newer holder: `a`'s lease expires and `b` is granted; `a`'s
/// release, renew, release by token and renew by token are all refused (`NotHolder(b)`,
/// `Lost { NotCurrent, b }`), and `b` stays the holder with its expiry unchanged. Then the
/// polite case: `a` releases in time (`Released`), retries (`Released` again), `b` is granted,
/// and `a`'s third release is `NotHolder(b)`.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `testAcquiringSomeoneElsesLock`;
/// madelson/DistributedLock `TestDisposeHandleIsIdempotent`; the bugs behind
/// lukas-krecan/ShedLock #74 and etcd-io/etcd #22082 (a late unlock by name freeing a newer
/// holder). Catches [`Flaw::ReleaseByName`](crate::Flaw::ReleaseByName) and
/// [`Flaw::RenewsAnyToken`](crate::Flaw::RenewsAnyToken).
///
/// # Panics
///
/// When the old lease releases or renews the newer one.
pub fn stale_handle_cannot_touch_newer<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (a, b) = (&fixture.store, fixture.open());
    let old = granted(a.try_acquire("peer/stale", "a", ms(100)), "a");
    fixture.advance(100);
    let new = granted(
        b.try_acquire("peer/stale", "b", ms(60_000)),
        "b after a's expiry",
    );
    let current = Some(new.holder().clone());
    let untouched = |what: &str| {
        assert_eq!(
            holder_of(&b, "peer/stale").as_ref(),
            Some(new.holder()),
            "after {what}"
        );
    };
    assert_eq!(
        ok(a.release(&old), "a's release"),
        Release::NotHolder(current.clone())
    );
    untouched("a's release");
    let by_token = a.release_by_token("peer/stale", old.token());
    assert_eq!(
        ok(by_token, "a's release by token"),
        Release::NotHolder(current.clone())
    );
    untouched("a's release by token");
    for refused in [
        lost(a.renew(&old, ms(60_000)), "a's renew"),
        lost(
            a.renew_by_token("peer/stale", old.token(), ms(60_000)),
            "a's renew by token",
        ),
    ] {
        assert_eq!(refused.reason(), LostReason::NotCurrent);
        assert_eq!(refused.current(), current.as_ref());
    }
    untouched("a's renews");
    released_in_time_then_again(a, &b);
}

/// `a` releases in time, and twice more: after its own release (`Released` again), and after
/// `b`'s grant (`NotHolder(b)`, and `b` keeps its lease).
fn released_in_time_then_again<S: LockStore>(a: &S, b: &S) {
    let polite = granted(a.try_acquire("peer/polite", "a", ms(60_000)), "a, politely");
    released(a.release(&polite), "a's release in time");
    released(a.release(&polite), "a's retried release");
    let next = granted(b.try_acquire("peer/polite", "b", ms(60_000)), "b after a");
    let late = ok(a.release(&polite), "a's third release");
    assert_eq!(late, Release::NotHolder(Some(next.holder().clone())));
    assert_eq!(holder_of(b, "peer/polite").as_ref(), Some(next.holder()));
}

/// A process that knows the resource but not the token cannot end or extend the lease:
/// releases with the token below and above it are `NotHolder(p)`, a renew with a wrong token is
/// `Lost { NotCurrent, p }`, and asking under the holder's own name is `Busy(p)`. The holder's
/// lease is unchanged and still renews.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `cannotReleaseLockYouDontOwn` and
/// `cannotHeartbeatLockYouDontOwn`; delta-io/delta-rs PR #440 (a non-owner could release).
/// Catches [`Flaw::ReleaseByName`](crate::Flaw::ReleaseByName),
/// [`Flaw::RenewsAnyToken`](crate::Flaw::RenewsAnyToken) and
/// [`Flaw::Reentrant`](crate::Flaw::Reentrant) (the owner's name taken as proof of holding).
///
/// # Panics
///
/// When a wrong token or the holder's name alone acts on the lease.
pub fn foreign_token_cannot_release<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (p, q) = (&fixture.store, fixture.open());
    let lease = granted(p.try_acquire("peer/foreign", "p", ms(60_000)), "p");
    let current = Some(lease.holder().clone());
    let token = lease.token().get();
    for wrong in [token - 1, token + 1] {
        let wrong = leasehold_contract::FencingToken::new(wrong).expect("a valid token");
        let release = ok(
            q.release_by_token("peer/foreign", wrong),
            "a wrong token's release",
        );
        assert_eq!(
            release,
            Release::NotHolder(current.clone()),
            "token {wrong}"
        );
        let renew = lost(
            q.renew_by_token("peer/foreign", wrong, ms(90_000)),
            "a wrong renew",
        );
        assert_eq!(
            (renew.reason(), renew.current()),
            (LostReason::NotCurrent, current.as_ref())
        );
    }
    let named = busy(
        q.try_acquire("peer/foreign", "p", ms(60_000)),
        "q under p's name",
    );
    assert_eq!(&named, lease.holder());
    assert_eq!(holder_of(&q, "peer/foreign").as_ref(), Some(lease.holder()));
    renewed(p.renew(&lease, ms(60_000)), "p's own renew");
}

/// Four threads, each on its own resource, grant through one store and look through another at
/// once, 50 times each: the other store sees the holder (same token), renews by token, and sees
/// the resource free right after the release.
///
/// Peers: lukas-krecan/ShedLock
/// `AbstractStorageBasedLockProviderIntegrationTest.lockShouldSurviveCacheClearingInTheMiddle`;
/// madelson/DistributedLock `TestCrossProcess`; etcd-io/etcd `TestV3LeaseRenewStress` and
/// `TestV3LeaseTimeToLiveStress` (a lease read right after its grant must exist). Catches
/// [`Flaw::StaleReads`](crate::Flaw::StaleReads) (a store that answers reads from a cache).
///
/// # Panics
///
/// When a store does not see at once what another store did.
pub fn cross_handle_visibility<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let stores: Vec<B::Store> = (0..8).map(|_| fixture.open()).collect();
    let checked = std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| scope.spawn(move || look_across(&pair[0], &pair[1], i)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a thread does not panic"))
            .sum::<usize>()
    });
    assert_eq!(checked, 4 * 50, "every round was checked");
}

/// 50 rounds on resource `i`: grant through `writer`, look and renew through `reader`.
fn look_across<S: LockStore>(writer: &S, reader: &S, i: usize) -> usize {
    let resource = format!("peer/visible-{i}");
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 50 && started.elapsed() < Duration::from_secs(30) {
        let lease = granted(writer.try_acquire(&resource, "w", ms(60_000)), "the writer");
        assert_eq!(
            holder_of(reader, &resource).as_ref(),
            Some(lease.holder()),
            "seen at once"
        );
        let renew = reader.renew_by_token(&resource, lease.token(), ms(60_000));
        assert_eq!(
            renewed(renew, "renewed elsewhere at once").token(),
            lease.token()
        );
        released(writer.release(&lease), "the writer's release");
        assert_eq!(holder_of(reader, &resource), None, "a release seen at once");
        rounds += 1;
    }
    rounds
}
