//! `with_fence`: the caller's writes commit only while its lease is current, checked inside the
//! caller's transaction when the row is locked and again right before `COMMIT`.

use std::cell::Cell;

use leasehold_postgres::{
    AsyncPgStore, Error, Fenced, Lease, LostReason, ManualClock, Options, PgStore, Timestamp,
};

use super::support::{TestDb, granted, ms};

/// A database with an application table `work` beside the store's schema.
fn fixture() -> (TestDb, PgStore, ManualClock) {
    let db = TestDb::create();
    db.sql("CREATE TABLE work (id serial PRIMARY KEY, written_by text NOT NULL, token bigint NOT NULL)");
    let (store, clock) = db.store_at(1_000);
    (db, store, clock)
}

/// Tries to write one row as `lease`'s holder; reports whether the closure ran.
fn write(store: &PgStore, lease: &Lease) -> (Result<Fenced<()>, Error>, bool) {
    let ran = Cell::new(false);
    let result = store.with_fence(lease, |tx| {
        ran.set(true);
        let token = i64::try_from(lease.token().get()).expect("tokens fit i64");
        tx.execute(
            "INSERT INTO work (written_by, token) VALUES ($1, $2)",
            &[&lease.owner().as_str(), &token],
        )?;
        Ok::<_, Error>(())
    });
    (result, ran.get())
}

fn rows(db: &TestDb) -> Vec<(String, i64)> {
    let rows = db
        .client()
        .query("SELECT written_by, token FROM work ORDER BY id", &[])
        .expect("the rows");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn lost_reason(result: Result<Fenced<()>, Error>) -> LostReason {
    match result {
        Ok(Fenced::Lost(lost)) => lost.reason(),
        other => panic!("expected the fence to refuse, got {other:?}"),
    }
}

fn token(lease: &Lease) -> i64 {
    i64::try_from(lease.token().get()).expect("a stored token")
}

#[test]
fn a_current_lease_commits_its_writes() {
    let (db, store, _clock) = fixture();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    let (result, ran) = write(&store, &lease);
    assert!(
        matches!(result, Ok(Fenced::Committed(()))) && ran,
        "{result:?}"
    );
    assert_eq!(rows(&db), [("worker-a".to_owned(), token(&lease))]);
}

#[test]
fn a_holder_paused_past_its_expiry_is_refused_after_a_takeover() {
    let (db, store, clock) = fixture();
    let old = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    // worker-a pauses past its expiry; worker-b takes the lease and writes.
    clock.advance(ms(150));
    let new = granted(store.try_acquire("plan/42", "worker-b", ms(100)));
    assert!(matches!(write(&store, &new).0, Ok(Fenced::Committed(()))));
    // worker-a wakes up and writes as if it still held the lease.
    let (result, ran) = write(&store, &old);
    let Ok(Fenced::Lost(lost)) = result else {
        panic!("the paused holder's write must be refused: {result:?}");
    };
    assert_eq!(lost.reason(), LostReason::NotCurrent);
    assert_eq!(
        lost.current().map(leasehold_postgres::Holder::token),
        Some(new.token())
    );
    assert!(!ran, "the closure must not run");
    assert_eq!(rows(&db), [("worker-b".to_owned(), token(&new))]);
}

#[test]
fn an_expired_released_or_evicted_lease_writes_nothing() {
    let (db, store, clock) = fixture();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    clock.advance(ms(100)); // exactly the expiry: no longer valid
    let (result, ran) = write(&store, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Expired, false));
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    assert!(store.release(&lease).is_ok());
    let (result, ran) = write(&store, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Released, false));
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    assert!(store.evict("plan/42").is_ok());
    let (result, ran) = write(&store, &lease);
    assert_eq!((lost_reason(result), ran), (LostReason::Evicted, false));
    assert!(rows(&db).is_empty(), "nothing was written");
}

#[test]
fn a_lease_that_expires_while_the_closure_runs_is_refused_at_the_commit() {
    let (db, store, clock) = fixture();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    let result = store.with_fence(&lease, |tx| {
        tx.execute(
            "INSERT INTO work (written_by, token) VALUES ('late', 1)",
            &[],
        )?;
        // The holder is slow: its lease ends before the commit.
        clock.advance(ms(100));
        Ok::<_, Error>(())
    });
    assert_eq!(lost_reason(result), LostReason::Expired);
    assert!(rows(&db).is_empty(), "the late write was committed");
    // The store and the connection are fine afterwards.
    let lease = granted(store.try_acquire("plan/42", "worker-b", ms(100)));
    assert!(matches!(write(&store, &lease).0, Ok(Fenced::Committed(()))));
}

/// The caller's own error type, to show `with_fence` works with any `E: From<Error>`.
#[derive(Debug)]
struct AppError(String);

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        Self(e.to_string())
    }
}

#[test]
fn a_closure_error_undoes_its_writes_and_the_store_goes_on() {
    let (db, store, _clock) = fixture();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    let result = store.with_fence(&lease, |tx| {
        tx.execute(
            "INSERT INTO work (written_by, token) VALUES ('half', 1)",
            &[],
        )
        .map_err(|e| AppError(e.to_string()))?;
        Err::<(), _>(AppError("gave up".to_owned()))
    });
    assert!(
        matches!(&result, Err(AppError(m)) if m == "gave up"),
        "{result:?}"
    );
    // A statement that fails aborts the transaction; that is the closure's error too.
    let result = store.with_fence(&lease, |tx| {
        tx.execute("INSERT INTO no_such_table VALUES (1)", &[])?;
        Ok::<_, Error>(())
    });
    assert!(matches!(result, Err(Error::Postgres(_))), "{result:?}");
    assert!(rows(&db).is_empty(), "a half-done write was committed");
    assert!(matches!(write(&store, &lease).0, Ok(Fenced::Committed(()))));
}

#[test]
fn a_closure_that_ends_the_transaction_itself_is_reported() {
    let (_db, store, _clock) = fixture();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)));
    let result = store.with_fence(&lease, |tx| {
        tx.batch_execute("COMMIT")?;
        Ok::<_, Error>(())
    });
    assert!(matches!(result, Err(Error::FenceEnded)), "{result:?}");
    assert!(matches!(write(&store, &lease).0, Ok(Fenced::Committed(()))));
}

#[test]
fn the_async_store_fences_with_an_async_closure() {
    let db = TestDb::create();
    db.sql("CREATE TABLE work (step text)");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let options = Options::new().clock(clock.clone());
        let store = AsyncPgStore::connect_with(db.url(), options)
            .await
            .expect("a store");
        let lease = granted(store.try_acquire("plan/42", "worker-a", ms(100)).await);
        let fenced = store
            .with_fence(&lease, async |tx| {
                tx.execute("INSERT INTO work VALUES ('phase 1')", &[])
                    .await?;
                Ok::<_, Error>(())
            })
            .await;
        assert!(matches!(fenced, Ok(Fenced::Committed(()))), "{fenced:?}");
        clock.advance(ms(100));
        let fenced = store
            .with_fence(&lease, async |tx| {
                tx.execute("INSERT INTO work VALUES ('phase 2')", &[])
                    .await?;
                Ok::<_, Error>(())
            })
            .await;
        assert!(matches!(fenced, Ok(Fenced::Lost(_))), "{fenced:?}");
    });
    let steps = db.value("SELECT count(*) FROM work");
    assert_eq!(steps, 1);
}
