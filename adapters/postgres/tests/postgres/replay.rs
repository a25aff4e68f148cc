//! A reply lost after the server committed (the seam drops it, as a network failure would): the
//! caller gets `Disconnected`, and a retry gets the first answer back. The same with a real
//! connection reset is in `servers.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leasehold_postgres::{
    Acquire, Audit, Error, ManualClock, Options, PgStore, Release, Seam, Statement, Timestamp,
    Verdict,
};

use super::support::{TestDb, granted, ms};

/// Loses the reply of the next `lose` statement that succeeded, once; records every statement.
#[derive(Clone, Debug)]
struct LoseNext {
    lose: Statement,
    armed: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Statement>>>,
}

impl LoseNext {
    fn new(lose: Statement) -> Self {
        Self {
            lose,
            armed: Arc::new(AtomicBool::new(true)),
            seen: Arc::default(),
        }
    }

    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Seam for LoseNext {
    fn answered(&self, statement: Statement, succeeded: bool) -> Verdict {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(statement);
        if statement == self.lose && succeeded && self.armed.swap(false, Ordering::SeqCst) {
            return Verdict::LoseReply;
        }
        Verdict::Deliver
    }
}

fn store_losing(db: &TestDb, lose: Statement) -> (PgStore, LoseNext) {
    let seam = LoseNext::new(lose);
    let clock = ManualClock::new(Timestamp::from_millis(10_000));
    let options = Options::new().clock(clock).seam(seam.clone());
    let store = PgStore::connect_with(db.url(), options).expect("a store");
    seam.take();
    (store, seam)
}

#[test]
fn a_retry_with_the_same_request_id_gets_the_grant_whose_reply_was_lost() {
    let db = TestDb::create();
    let (store, _seam) = store_losing(&db, Statement::Acquire);
    let id = store.new_request_id();
    let lost = store.try_acquire_with_id("job/1", "worker-a", ms(500), id);
    assert!(
        matches!(lost, Err(Error::Disconnected { source: None })),
        "{lost:?}"
    );
    let committed = store.snapshot().expect("the rows");
    let (_, record) = committed
        .records()
        .next()
        .expect("the lost grant committed");
    let lease = granted(store.try_acquire_with_id("job/1", "worker-a", ms(500), id));
    assert_eq!(
        (lease.token(), lease.expires_at()),
        (record.token, record.expires_at)
    );
    assert_eq!(
        store.snapshot().expect("the rows"),
        committed,
        "the replay wrote something"
    );
    // Anyone else, and the same owner under a fresh id, is told the resource is busy.
    let fresh = store.new_request_id();
    let busy = store.try_acquire_with_id("job/1", "worker-a", ms(500), fresh);
    assert!(matches!(busy, Ok(Acquire::Busy(_))), "{busy:?}");
    assert!(matches!(
        store.try_acquire("job/1", "worker-b", ms(500)),
        Ok(Acquire::Busy(_))
    ));
}

/// The waiting acquire's own loop recovers a grant whose reply was lost: its next attempt,
/// with the same request id, gets the grant back.
#[test]
fn acquire_for_replays_its_own_lost_grant() {
    let db = TestDb::create();
    let (store, seam) = store_losing(&db, Statement::Acquire);
    let outcome = store.acquire_for("job/2", "worker-a", ms(500), Duration::from_secs(2));
    let Ok(Acquire::Granted(lease)) = outcome else {
        panic!("the second attempt must replay the first grant, got {outcome:?}");
    };
    assert_eq!(
        seam.take(),
        [Statement::Acquire, Statement::Acquire, Statement::ReadLock],
        "the first attempt's reply was lost; the second replayed it"
    );
    let table = store.snapshot().expect("the rows");
    assert_eq!(table.records().count(), 1);
    let (_, record) = table.records().next().expect("one row");
    assert_eq!(
        (record.token, record.request_id),
        (lease.token(), lease.request_id())
    );
    // The negative control: without the waiting loop, the lost reply is only an error.
    let (store, _seam) = store_losing(&db, Statement::Acquire);
    let plain = store.try_acquire("job/3", "worker-a", ms(500));
    assert!(
        matches!(plain, Err(Error::Disconnected { .. })),
        "{plain:?}"
    );
}

#[test]
fn a_release_whose_reply_was_lost_is_retried_with_the_same_answer() {
    let db = TestDb::create();
    let (store, _seam) = store_losing(&db, Statement::Release);
    let lease = granted(store.try_acquire("job/4", "worker-a", ms(500)));
    let lost = store.release(&lease);
    assert!(matches!(lost, Err(Error::Disconnected { .. })), "{lost:?}");
    let released = store.snapshot().expect("the rows");
    assert_eq!(store.release(&lease).expect("the retry"), Release::Released);
    assert_eq!(
        store.snapshot().expect("the rows"),
        released,
        "the retry wrote something"
    );
}
