//! A grant whose reply was lost (the statement committed, the caller saw an error) is returned
//! again to a retry with the same request id, instead of being reported busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use leasehold_sqlite::{
    Acquire, Audit, Durability, Error, ManualClock, Options, Seam, SqliteStore, Statement,
    Timestamp,
};
use rusqlite::ffi;

use super::support::{CountingSeam, ms, row_count, rows, store_with_seam};

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
    let id = store.new_request_id();

    let lost = store.try_acquire_with_id("job/1", "worker-a", ms(500), id);
    assert!(matches!(lost, Err(Error::Sqlite(_))), "{lost:?}");
    let committed = rows(store);
    assert_eq!(row_count(store), 1, "the lost grant committed");
    let (_, record) = committed.records().next().expect("one row");

    let Ok(Acquire::Granted(lease)) = store.try_acquire_with_id("job/1", "worker-a", ms(500), id)
    else {
        panic!("the retry must be granted");
    };
    assert_eq!(lease.token(), record.token, "same grant");
    assert_eq!(lease.expires_at(), record.expires_at);
    assert_eq!(rows(store), committed, "the replay wrote nothing");

    // Anyone else, and the same owner under a fresh id, is told the resource is busy.
    let other = store.new_request_id();
    let busy = store.try_acquire_with_id("job/1", "worker-a", ms(500), other);
    assert!(matches!(busy, Ok(Acquire::Busy(_))));
    assert!(matches!(
        store.try_acquire("job/1", "worker-b", ms(500)),
        Ok(Acquire::Busy(_))
    ));
}

/// A seam that loses the reply of the first `Acquire` that commits (as `LoseNextGrant`) and
/// counts every statement, so the test can see which retry replayed the grant.
#[derive(Clone, Default)]
struct LoseAndCount {
    lose: LoseNextGrant,
    count: CountingSeam,
}

impl Seam for LoseAndCount {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.count
            .run(statement, || self.lose.run(statement, execute))
    }
}

/// A store whose statements give up at the first busy answer: no retry below the waiting
/// acquire's own loop.
fn no_inner_retries(seam: LoseAndCount) -> (SqliteStore<LoseAndCount>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options::new()
        .clock(ManualClock::new(Timestamp::from_millis(10_000)))
        .busy_timeout(Duration::ZERO)
        .seam(seam);
    let store = SqliteStore::open_with(dir.path().join("locks.db"), options).expect("store");
    (store, dir)
}

fn lose_next_as_busy() -> LoseAndCount {
    LoseAndCount {
        lose: LoseNextGrant {
            armed: Arc::new(AtomicBool::new(true)),
            code: ffi::SQLITE_BUSY,
        },
        count: CountingSeam::default(),
    }
}

/// The waiting acquire's own loop — not the write-lock wait below it — recovers a grant whose
/// reply was lost as a busy answer: its next attempt, with the same request id, gets the grant
/// back. A plain `try_acquire` in the same scenario only reports the busy answer.
#[test]
fn acquire_for_replays_its_own_lost_grant_in_its_retry_loop() {
    let seam = lose_next_as_busy();
    let (store, _dir) = no_inner_retries(seam.clone());
    seam.count.take();
    let outcome = store
        .acquire_for("job/2", "worker-a", ms(500), Duration::from_secs(2))
        .expect("acquire");
    let Acquire::Granted(lease) = outcome else {
        panic!("the second attempt must replay the first grant, got {outcome:?}");
    };
    assert_eq!(
        seam.count.take(),
        [Statement::Acquire, Statement::Acquire, Statement::ReadLock],
        "the first attempt's reply was lost; the second replayed it"
    );
    let table = store.snapshot().expect("rows");
    let (_, record) = table.records().next().expect("one row");
    assert_eq!(table.records().count(), 1);
    assert_eq!(record.token, lease.token(), "one grant, not two");
    assert_eq!(record.request_id, lease.request_id());

    // The negative control: without the waiting loop the lost reply is only an error.
    let seam = lose_next_as_busy();
    let (store, _dir) = no_inner_retries(seam);
    let plain = store.try_acquire("job/2", "worker-a", ms(500));
    assert!(matches!(plain, Err(Error::Busy)), "{plain:?}");
}
