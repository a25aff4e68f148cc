//! What a statement decides when it had to wait for a lease's row lock while time passed: the
//! claims of `docs/postgres.md`, checked on the server's clock.
//!
//! - An acquire that sees a valid lease in its snapshot is refused at once, without waiting for
//!   (or taking) the row lock.
//! - Otherwise the acquire upsert decides after it holds the lock (its `DO UPDATE … WHERE` is
//!   evaluated on the locked row's newest version), with a clock reading taken then.
//! - An `UPDATE` (renew, release, evict) decides when it first reads the row. If the transaction
//!   it waited for *changed* the row, PostgreSQL evaluates the condition again on the new version,
//!   with a fresh reading; if that transaction only *locked* it (`SELECT … FOR UPDATE`) or rolled
//!   back, the decision taken before the wait stands.
//! - Hence the fenced transaction takes its lock with a no-op update that it always commits: a
//!   statement that waited for a fence decides afresh.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use leasehold_postgres::{Acquire, Error, Fenced, LostReason, PgStore, Renew};

use super::support::{TestDb, granted, ms};

/// The lease's ttl: long enough to send a request while it is valid, short enough to expire
/// while that request waits.
const TTL: Duration = Duration::from_millis(400);
/// How long the lock is held: well past the lease's expiry.
const HELD: Duration = Duration::from_millis(800);

/// Waits until some session of the database waits for a lock.
fn until_someone_waits(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.value(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    ) == 0
    {
        assert!(Instant::now() < deadline, "nobody waits for the lock");
        thread::sleep(ms(5));
    }
}

/// Holds the row of `r` locked by another session with `lock` (an SQL statement) for `HELD`
/// while `during` runs against `store`; returns what `during` returned.
fn behind_a_lock<T: Send>(db: &TestDb, lock: &str, during: impl FnOnce() -> T + Send) -> T {
    let mut locker = db.client();
    let mut tx = locker.transaction().expect("a transaction");
    tx.batch_execute(lock).expect("the row locked");
    let locked_at = Instant::now();
    thread::scope(|scope| {
        let waiting = scope.spawn(during);
        until_someone_waits(db);
        thread::sleep(HELD.saturating_sub(locked_at.elapsed()));
        tx.commit().expect("the lock released");
        waiting.join().expect("no panic")
    })
}

const FOR_UPDATE: &str = "SELECT 1 FROM leasehold.leasehold_locks WHERE resource = 'r' FOR UPDATE";
const NO_OP_UPDATE: &str =
    "UPDATE leasehold.leasehold_locks SET token = token WHERE resource = 'r'";

#[test]
fn an_acquire_that_sees_a_valid_lease_is_refused_without_waiting_for_the_lock() {
    let db = TestDb::create();
    let (holder, other) = (db.store(), db.store());
    let lease = granted(holder.try_acquire("r", "a", ms(60_000)));
    let mut locker = db.client();
    let mut tx = locker.transaction().expect("a transaction");
    tx.batch_execute(FOR_UPDATE).expect("the row locked");
    let answer = other.try_acquire("r", "b", ms(60_000));
    let Ok(Acquire::Busy(current)) = answer else {
        panic!("a valid lease must be refused at once: {answer:?}");
    };
    assert_eq!(current.token(), lease.token());
    tx.commit().expect("the lock released");
}

/// The lease another session is granting (its `UPDATE` not yet committed) is invisible to the
/// acquire's snapshot, so the acquire goes on to the upsert, waits for the row lock, and decides
/// on the new version with a reading taken after the wait: by then that lease has expired.
#[test]
fn an_acquire_that_waited_decides_after_the_lock_with_a_fresh_reading() {
    let db = TestDb::create();
    let (holder, other) = (db.store(), db.store());
    let first = granted(holder.try_acquire("r", "a", ms(60_000)));
    let released = holder.release(&first).expect("released");
    assert!(
        matches!(released, leasehold_postgres::Release::Released),
        "{released:?}"
    );
    let now_ms = "(EXTRACT(epoch FROM clock_timestamp()) * 1000)::bigint";
    let grant_by_hand = format!(
        "UPDATE leasehold.leasehold_locks SET status = 0, token = token + 1,          acquired_at = {now_ms}, expires_at = {now_ms} + {} WHERE resource = 'r'",
        TTL.as_millis()
    );
    let answer = behind_a_lock(&db, &grant_by_hand, || {
        other.try_acquire("r", "b", ms(60_000))
    });
    // Sent while that lease was being granted (valid for TTL at the reading before the wait),
    // decided on its version after it expired: granted, with the token after it. A decision with
    // the reading from before the wait would have found it valid and refused.
    let taken = granted(answer);
    assert_eq!(taken.token().get(), first.token().get() + 2);
}

#[test]
fn a_renew_that_waited_for_a_change_of_the_row_decides_afresh() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("r", "a", TTL));
    let answer = behind_a_lock(&db, NO_OP_UPDATE, || store.renew(&lease, ms(60_000)));
    let Ok(Renew::Lost(lost)) = answer else {
        panic!("the renew must see the lease expired: {answer:?}");
    };
    assert_eq!(lost.reason(), LostReason::Expired);
}

/// The residual case `docs/postgres.md` describes: another session's `SELECT … FOR UPDATE` of a
/// leasehold row (which no leasehold statement issues) makes a waiting renew apply the decision
/// it took before the wait. Nobody else could be granted meanwhile: acquires wait for the same
/// lock, and decide after it.
#[test]
fn a_renew_that_waited_for_a_lock_only_keeps_its_decision_from_before_the_wait() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("r", "a", TTL));
    let answer = behind_a_lock(&db, FOR_UPDATE, || store.renew(&lease, ms(60_000)));
    assert!(matches!(answer, Ok(Renew::Renewed(_))), "{answer:?}");
}

/// A renew waits for the holder's own fenced transaction, during which the lease expires: the
/// fence refuses the writes at its commit, and the renew, woken by the fence's committed no-op
/// update, finds the lease expired too.
#[test]
fn a_renew_that_waited_for_a_fence_decides_afresh() {
    let db = TestDb::create();
    let (fencing, renewing) = (db.store(), db.store());
    let lease = granted(fencing.try_acquire("r", "a", TTL));
    let (locked, wait_for_lock) = mpsc::channel();
    let (fenced, renewed) = thread::scope(|scope| {
        let fence = scope.spawn(|| {
            let started = Instant::now();
            fencing.with_fence(&lease, |_tx| {
                locked.send(()).expect("the test waits");
                thread::sleep(HELD.saturating_sub(started.elapsed()));
                Ok::<_, Error>(())
            })
        });
        wait_for_lock.recv().expect("the fence ran");
        let renew = scope.spawn(|| renewing.renew(&lease, ms(60_000)));
        (
            fence.join().expect("no panic"),
            renew.join().expect("no panic"),
        )
    });
    assert!(
        matches!(&fenced, Ok(Fenced::Lost(lost)) if lost.reason() == LostReason::Expired),
        "{fenced:?}"
    );
    assert!(
        matches!(&renewed, Ok(Renew::Lost(lost)) if lost.reason() == LostReason::Expired),
        "{renewed:?}"
    );
    let other = PgStore::connect(db.url()).expect("a store");
    assert!(matches!(
        other.try_acquire("r", "b", ms(1_000)),
        Ok(Acquire::Granted(_))
    ));
}
