//! **The seed report's race, on real threads and a real file.**
//!
//! Interleaving: worker-a's lease on `plan/42` has expired. Client A reads the row and sees it
//! expired; client B reads the row and sees it expired; A writes its lease; B writes its lease.
//! Both return "acquired", and both believe they hold the lock exclusively.
//!
//! Cause: the decision ("the row is expired, so it is mine") is made in application code on a
//! copy of the row, and the write that acts on it is a second statement that does not re-check
//! anything. Between the two, another client can make the same decision.
//!
//! Fix: the decision is the `WHERE` of the write itself — one `INSERT … ON CONFLICT DO UPDATE …
//! WHERE <free>` — so SQLite decides and writes under one write lock. The second writer's `WHERE`
//! sees the first writer's lease and does nothing: it is told `Busy`.
//!
//! The test forces the interleaving with a scripted seam: two OS threads, two connections to one
//! SQLite file, each statement held back until its turn.

use leasehold_sqlite::{Acquire, Statement};

use crate::support::{Db, Script, granted, ms};

/// A database where worker-a's lease on `plan/42` expired a millisecond ago.
fn expired_lock() -> Db {
    let db = Db::new(1_000);
    let store = db.store(leasehold_sqlite::Direct);
    granted(
        store
            .try_acquire("plan/42", "worker-a", ms(30_000))
            .expect("the first acquire"),
    );
    db.advance(30_001);
    db
}

#[test]
fn check_then_act_grants_the_expired_lock_twice() {
    let db = expired_lock();
    let script = Script::new(&[
        ("A", Statement::ReadLock),
        ("B", Statement::ReadLock),
        ("A", Statement::Acquire),
        ("B", Statement::Acquire),
    ]);
    let (a, b) = (db.naive(script.seam("A")), db.naive(script.seam("B")));
    let (got_a, got_b) = std::thread::scope(|s| {
        let a = s.spawn(|| a.try_acquire("plan/42", "client-a", ms(30_000)));
        let b = s.spawn(|| b.try_acquire("plan/42", "client-b", ms(30_000)));
        (a.join().expect("A runs"), b.join().expect("B runs"))
    });
    assert!(script.is_done(), "the interleaving happened as scripted");
    let (lease_a, lease_b) = (granted(got_a.expect("A")), granted(got_b.expect("B")));
    // Reproduced: both hold a lease valid right now.
    let now = db.now();
    assert!(lease_a.expires_at().as_millis() > now && lease_b.expires_at().as_millis() > now);
    assert_ne!(lease_a.owner(), lease_b.owner());
}

#[test]
fn the_atomic_store_grants_it_once() {
    let db = expired_lock();
    // The same interleaving, as far as the real store has one: its decision and write are one
    // statement, so "A decides and writes" happens before "B decides and writes".
    let script = Script::new(&[("A", Statement::Acquire), ("B", Statement::Acquire)]);
    let (a, b) = (db.store(script.seam("A")), db.store(script.seam("B")));
    let (got_a, got_b) = std::thread::scope(|s| {
        let a = s.spawn(|| a.try_acquire("plan/42", "client-a", ms(30_000)));
        let b = s.spawn(|| b.try_acquire("plan/42", "client-b", ms(30_000)));
        (a.join().expect("A runs"), b.join().expect("B runs"))
    });
    assert!(script.is_done());
    let lease = granted(got_a.expect("A"));
    match got_b.expect("B") {
        Acquire::Busy(holder) => {
            assert_eq!(holder.owner().as_str(), "client-a");
            assert_eq!(holder.token(), lease.token());
        }
        Acquire::Granted(other) => panic!("double grant: {lease:?} and {other:?}"),
    }
}
