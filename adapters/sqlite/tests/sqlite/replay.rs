//! A grant whose reply was lost (the statement committed, the caller saw an error) is returned
//! again to a retry with the same request id, instead of being reported busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leasehold_sqlite::{Acquire, Durability, Error, Seam, Statement, new_request_id};
use rusqlite::ffi;

use super::support::{ms, store_with_seam};

/// Drops the reply of the next `Acquire` that committed, as a network or a crash between
/// commit and reply would: the caller gets an error, the database keeps the grant.
#[derive(Clone, Default)]
struct LoseNextGrant {
    armed: Arc<AtomicBool>,
    /// The error the caller sees instead of the reply.
    code: i32,
}

impl Seam for LoseNextGrant {
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
            let error = ffi::Error::new(self.code);
            return Err(rusqlite::Error::SqliteFailure(
                error,
                Some("reply lost".into()),
            ));
        }
        result
    }
}

#[test]
fn a_retry_with_the_same_id_gets_the_lost_grant() {
    let seam = LoseNextGrant {
        armed: Arc::new(AtomicBool::new(true)),
        code: ffi::SQLITE_IOERR,
    };
    let fixture = store_with_seam(10_000, Durability::Full, seam);
    let store = &fixture.store;
    let id = new_request_id().expect("random id");

    let lost = store.try_acquire_with_id("job/1", "worker-a", ms(500), id);
    assert!(matches!(lost, Err(Error::Sqlite(_))), "{lost:?}");
    let committed = store.records().expect("rows");
    assert_eq!(committed.len(), 1, "the lost grant committed");

    let Ok(Acquire::Granted(lease)) = store.try_acquire_with_id("job/1", "worker-a", ms(500), id)
    else {
        panic!("the retry must be granted");
    };
    assert_eq!(lease.token(), committed[0].1.token, "same grant");
    assert_eq!(lease.expires_at(), committed[0].1.expires_at);
    assert_eq!(
        store.records().expect("rows"),
        committed,
        "the replay wrote nothing"
    );

    // Anyone else, and the same owner under a fresh id, is told the resource is busy.
    let other = new_request_id().expect("random id");
    let busy = store.try_acquire_with_id("job/1", "worker-a", ms(500), other);
    assert!(matches!(busy, Ok(Acquire::Busy(_))));
    assert!(matches!(
        store.try_acquire("job/1", "worker-b", ms(500)),
        Ok(Acquire::Busy(_))
    ));
}

#[test]
fn acquire_with_a_deadline_replays_its_own_lost_grant() {
    // The lost reply surfaces as a busy database, which `acquire` waits out with the same id.
    let seam = LoseNextGrant {
        armed: Arc::new(AtomicBool::new(true)),
        code: ffi::SQLITE_BUSY,
    };
    let fixture = store_with_seam(10_000, Durability::Full, seam);
    let store = &fixture.store;
    let deadline = Instant::now() + Duration::from_secs(2);
    let outcome = store
        .acquire("job/2", "worker-a", ms(500), deadline)
        .expect("acquire");
    let Acquire::Granted(lease) = outcome else {
        panic!("the second attempt must replay the first grant, got {outcome:?}");
    };
    let rows = store.records().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.token, lease.token(), "one grant, not two");
    assert_eq!(rows[0].1.request_id, lease.request_id());
}
