//! **A lost reply makes a client wait for its own lease ("ghost lease").**
//!
//! Interleaving: A's acquire commits, but the reply never reaches A (the connection drops, the
//! process is interrupted). A retries. The store sees a valid lease on the resource — A's own —
//! and answers `Busy`: A waits for a lease it holds, and nobody can use the resource until it
//! expires.
//!
//! Cause: the retry cannot be told apart from a new request.
//!
//! Fix: each acquire carries a request id; a retry reuses it. While the lease that id produced is
//! valid, the store answers with that same grant (same token, same expiry) and writes nothing.
//! The seam here lets the statement commit and then drops its reply.

use std::sync::atomic::{AtomicBool, Ordering};

use leasehold_sqlite::{Acquire, Direct, Seam, Statement};

use crate::support::{Db, granted, ms};

/// Lets one `Acquire` statement commit, then replaces its reply with an I/O error.
#[derive(Default)]
struct DropNextAcquireReply {
    armed: AtomicBool,
}

impl Seam for DropNextAcquireReply {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let result = execute();
        if statement == Statement::Acquire
            && result.is_ok()
            && self.armed.swap(false, Ordering::SeqCst)
        {
            let io = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR);
            return Err(rusqlite::Error::SqliteFailure(
                io,
                Some("reply lost (injected)".into()),
            ));
        }
        result
    }
}

#[test]
fn a_retry_with_the_same_request_id_gets_its_own_lease() {
    let db = Db::new(0);
    let seam = DropNextAcquireReply::default();
    seam.armed.store(true, Ordering::SeqCst);
    let store = db.store(seam);
    let id = store.new_request_id();
    let lost = store.try_acquire_with_id("plan/42", "A", ms(30_000), id);
    assert!(lost.is_err(), "the reply was lost");
    let holder = db
        .store(Direct)
        .holder("plan/42")
        .expect("read")
        .expect("the acquire committed");
    assert_eq!(holder.owner().as_str(), "A");
    let lease = granted(
        store
            .try_acquire_with_id("plan/42", "A", ms(30_000), id)
            .expect("retry"),
    );
    assert_eq!(
        (lease.token(), lease.expires_at()),
        (holder.token(), holder.expires_at())
    );
}

#[test]
fn a_retry_as_a_new_request_finds_its_own_ghost() {
    let db = Db::new(0);
    let seam = DropNextAcquireReply::default();
    seam.armed.store(true, Ordering::SeqCst);
    let store = db.store(seam);
    assert!(
        store.try_acquire("plan/42", "A", ms(30_000)).is_err(),
        "the reply was lost"
    );
    // Reproduced: without the request id, A is told its own lease is someone's.
    match store
        .try_acquire("plan/42", "A", ms(30_000))
        .expect("retry")
    {
        Acquire::Busy(holder) => assert_eq!(holder.owner().as_str(), "A"),
        Acquire::Granted(_) => panic!("acquire is not re-entrant: a new request must be Busy"),
    }
}
