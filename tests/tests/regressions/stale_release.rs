//! **A stale holder's release frees the new holder's lock ("lost release").**
//!
//! Interleaving: A acquires `plan/42` for 100 ms and stalls. Its lease expires; B acquires.
//! A wakes up, finishes, and releases — by resource name. The release frees B's lease, and C
//! acquires while B is still working: B and C both hold the lock.
//!
//! Cause: the release names the resource (or the owner), not the lease. Nothing tells A's
//! release apart from B's.
//!
//! Fix: release carries the fencing token and is one conditional `UPDATE … WHERE token = ? AND
//! status = active`. A's token is not the row's any more, so nothing changes, and A is told
//! `NotHolder` with B as the current holder.

use leasehold_sqlite::{Acquire, Direct, Release};
use leasehold_tests::history::{self, Event};

use crate::support::{Db, granted, ms};

#[test]
fn a_release_by_name_frees_the_new_holders_lock() {
    let db = Db::new(0);
    let (store, naive) = (db.store(Direct), db.naive(Direct));
    let a = granted(store.try_acquire("plan/42", "A", ms(100)).expect("A"));
    db.advance(100);
    let b = granted(store.try_acquire("plan/42", "B", ms(100)).expect("B"));
    assert!(
        naive.release_by_name("plan/42").expect("A's release"),
        "it freed B's lease"
    );
    db.advance(10);
    let c = granted(store.try_acquire("plan/42", "C", ms(100)).expect("C"));
    // Reproduced: B (valid until 200) and C both hold the lock at 110.
    let violations = history::check(&[Event::granted(&a), Event::granted(&b), Event::granted(&c)]);
    assert_eq!(violations.len(), 1, "{violations:?}");
}

#[test]
fn a_release_with_a_stale_token_frees_nothing() {
    let db = Db::new(0);
    let store = db.store(Direct);
    let a = granted(store.try_acquire("plan/42", "A", ms(100)).expect("A"));
    db.advance(100);
    let b = granted(store.try_acquire("plan/42", "B", ms(100)).expect("B"));
    match store.release(a).expect("A's release") {
        Release::NotHolder(Some(holder)) => assert_eq!(holder.token(), b.token()),
        other => panic!("a stale release must not free the lock: {other:?}"),
    }
    db.advance(10);
    match store.try_acquire("plan/42", "C", ms(100)).expect("C") {
        Acquire::Busy(holder) => assert_eq!(holder.owner().as_str(), "B"),
        Acquire::Granted(c) => panic!("B and C both hold the lock: {c:?}"),
    }
    assert_eq!(
        store.holder("plan/42").expect("read").map(|h| h.token()),
        Some(b.token())
    );
}
