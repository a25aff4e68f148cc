//! A statement that had to wait for another connection's write lock is judged — and its lease
//! stamped — with the clock reading of the moment it ran, not of the moment it was asked for.

use std::time::Duration;

use leasehold_sqlite::{Acquire, Durability, Renew, Timestamp};
use rusqlite::Connection;

use crate::support::{ms, store_at};

/// Holds the write lock on `path` from another connection until dropped.
fn hold_write_lock(path: &std::path::Path) -> Connection {
    let other = Connection::open(path).expect("a second connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock");
    other
}

/// Runs `op` on a thread while the write lock is held, moves the clock to `then`, and frees the
/// lock: `op` can only run after the clock moved.
fn after_a_wait<T: Send>(
    fixture: &crate::support::TestStore,
    then: u64,
    op: impl FnOnce() -> T + Send,
) -> T {
    let lock = hold_write_lock(&fixture.path);
    std::thread::scope(|s| {
        let waiting = s.spawn(op);
        std::thread::sleep(Duration::from_millis(50));
        fixture.clock.set(Timestamp::from_millis(then));
        lock.execute_batch("ROLLBACK").expect("the lock is freed");
        waiting.join().expect("the operation returns")
    })
}

#[test]
fn an_acquire_that_waited_past_an_expiry_is_granted_from_when_it_ran() {
    let fixture = store_at(1_000, Durability::Relaxed);
    let store = &fixture.store;
    assert!(matches!(
        store.try_acquire("r", "a", ms(100)),
        Ok(Acquire::Granted(_))
    ));
    // Asked at 1 000, while a's lease (until 1 100) is valid; it runs at 1 100, when it is not.
    let outcome = after_a_wait(&fixture, 1_100, || store.try_acquire("r", "b", ms(100)));
    let Ok(Acquire::Granted(lease)) = outcome else {
        panic!("judged at 1 000: {outcome:?}")
    };
    assert_eq!(
        (
            lease.acquired_at().as_millis(),
            lease.expires_at().as_millis()
        ),
        (1_100, 1_200)
    );
}

#[test]
fn a_renew_that_waited_past_its_expiry_is_lost() {
    let fixture = store_at(1_000, Durability::Relaxed);
    let store = &fixture.store;
    let Ok(Acquire::Granted(lease)) = store.try_acquire("r", "a", ms(100)) else {
        panic!("free")
    };
    let outcome = after_a_wait(&fixture, 1_100, || store.renew(&lease, ms(100)));
    assert!(
        matches!(outcome, Ok(Renew::Lost(_))),
        "judged before the wait: {outcome:?}"
    );
}
