//! `with_fence`: the caller's writes commit only while its lease is current, checked inside the
//! same write transaction.

use std::cell::Cell;

use leasehold_sqlite::{Acquire, Durability, Error, Fenced, Lease, LostReason};
use rusqlite::Connection;

use super::support::{TestStore, ms, store_at};

/// A store plus an application table `work` in the same database file.
fn fixture() -> TestStore {
    let fixture = store_at(1_000, Durability::Full);
    let conn = Connection::open(&fixture.path).expect("app connection");
    conn.execute(
        "CREATE TABLE work (id INTEGER PRIMARY KEY, written_by TEXT NOT NULL, token INTEGER NOT NULL)",
        [],
    )
    .expect("app table");
    fixture
}

fn acquire(fixture: &TestStore, owner: &str, ttl: u64) -> Lease {
    match fixture.store.try_acquire("plan/42", owner, ms(ttl)) {
        Ok(Acquire::Granted(lease)) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// Tries to write one row as `lease`'s holder; reports whether the closure ran.
fn write(fixture: &TestStore, lease: &Lease) -> (Result<Fenced<()>, Error>, bool) {
    let ran = Cell::new(false);
    let result = fixture.store.with_fence(lease, |tx| {
        ran.set(true);
        let token = i64::try_from(lease.token().get()).expect("tokens fit i64");
        tx.execute(
            "INSERT INTO work (written_by, token) VALUES (?1, ?2)",
            (lease.owner().as_str(), token),
        )?;
        Ok::<_, Error>(())
    });
    (result, ran.get())
}

fn rows(fixture: &TestStore) -> Vec<(String, i64)> {
    let conn = Connection::open(&fixture.path).expect("reader");
    let mut statement = conn
        .prepare("SELECT written_by, token FROM work ORDER BY id")
        .expect("select");
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows");
    rows.map(|r| r.expect("row")).collect()
}

fn lost_reason(result: Result<Fenced<()>, Error>) -> LostReason {
    match result {
        Ok(Fenced::Lost(lost)) => lost.reason(),
        other => panic!("expected the fence to refuse, got {other:?}"),
    }
}

impl From<rusqlite::Error> for TestError {
    fn from(e: rusqlite::Error) -> Self {
        Self(Error::Sqlite(e))
    }
}

#[test]
fn a_valid_lease_commits_its_writes() {
    let fixture = fixture();
    let lease = acquire(&fixture, "worker-a", 100);
    let (result, ran) = write(&fixture, &lease);
    assert!(matches!(result, Ok(Fenced::Committed(()))) && ran);
    let token = i64::try_from(lease.token().get()).expect("a stored token");
    assert_eq!(rows(&fixture), [("worker-a".to_owned(), token)]);
}

#[test]
fn a_holder_paused_past_expiry_is_refused_after_someone_else_acquired() {
    let fixture = fixture();
    let old = acquire(&fixture, "worker-a", 100);
    // worker-a pauses (a GC pause, a stopped VM) past its expiry; worker-b takes the lock.
    fixture.clock.advance(ms(150));
    let new = acquire(&fixture, "worker-b", 100);
    assert!(matches!(write(&fixture, &new).0, Ok(Fenced::Committed(()))));

    // worker-a wakes up and writes as if it still held the lease.
    let (result, ran) = write(&fixture, &old);
    let Ok(Fenced::Lost(lost)) = result else {
        panic!("the paused holder's write must be refused");
    };
    assert_eq!(lost.reason(), LostReason::NotCurrent);
    assert_eq!(
        lost.current().map(leasehold_sqlite::Holder::token),
        Some(new.token())
    );
    assert!(!ran, "the closure must not run");
    assert_eq!(
        rows(&fixture),
        [(
            "worker-b".to_owned(),
            i64::try_from(new.token().get()).expect("a stored token")
        )],
        "only the new holder wrote"
    );
}

#[test]
fn an_expired_released_or_evicted_lease_writes_nothing() {
    let fixture = fixture();
    let lease = acquire(&fixture, "worker-a", 100);
    fixture.clock.advance(ms(100)); // exactly the expiry: no longer valid
    let (result, ran) = write(&fixture, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Expired, false));

    let lease = acquire(&fixture, "worker-a", 100);
    assert!(fixture.store.release(&lease).is_ok());
    let (result, ran) = write(&fixture, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Released, false));

    let lease = acquire(&fixture, "worker-a", 100);
    assert!(fixture.store.evict("plan/42").is_ok());
    let (result, ran) = write(&fixture, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Evicted, false));
    assert!(rows(&fixture).is_empty(), "nothing was written");
}

/// The caller's own error type, to show `with_fence` works with any `E: From<Error>`.
#[derive(Debug)]
struct TestError(Error);

impl From<Error> for TestError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

#[test]
fn a_closure_error_rolls_everything_back() {
    let fixture = fixture();
    let lease = acquire(&fixture, "worker-a", 100);
    let result = fixture.store.with_fence(&lease, |tx| {
        tx.execute(
            "INSERT INTO work (written_by, token) VALUES ('half', 1)",
            [],
        )?;
        Err::<(), _>(TestError(Error::Busy))
    });
    assert!(matches!(result, Err(TestError(Error::Busy))));
    assert!(
        rows(&fixture).is_empty(),
        "the half-done write was rolled back"
    );
    // The store is usable afterwards and the lease is untouched.
    assert!(matches!(
        write(&fixture, &lease).0,
        Ok(Fenced::Committed(()))
    ));
}
