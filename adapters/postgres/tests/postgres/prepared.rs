//! `Options::prepared_statements`: each statement is prepared once per connection, the cache goes
//! with the connection, and a statement the server no longer knows is prepared again.
//!
//! What is prepared is read from `pg_prepared_statements` inside a fenced transaction: the view
//! shows only the session's own statements, and the fence runs on the store's connection. The
//! closure reads it with `query_typed` (unnamed), so the reading adds nothing to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use leasehold_postgres::{
    Acquire, AsyncPgStore, Error, Fenced, Lease, Options, PgStore, Release, Renew, Statement,
};

use super::support::{Record, TestDb, granted, ms};

/// The store's statements prepared on the fence's connection (texts on the store's table), and
/// that connection's backend pid.
const PREPARED: &str = "SELECT (SELECT count(*) FROM pg_catalog.pg_prepared_statements \
                        WHERE statement LIKE '%leasehold_locks%'), \
                        pg_catalog.pg_backend_pid()::bigint";

/// How many of the store's statements are prepared on its connection, and that connection's pid.
fn prepared(store: &PgStore, lease: &Lease) -> (i64, i64) {
    let fenced = store.with_fence(lease, |tx| {
        let row = tx.query_typed(PREPARED, &[])?;
        let row = row.first().expect("one row");
        Ok::<_, Error>((row.get(0), row.get(1)))
    });
    match fenced {
        Ok(Fenced::Committed(found)) => found,
        other => panic!("the fence ran: {other:?}"),
    }
}

fn prepared_store(db: &TestDb, options: Options) -> PgStore {
    PgStore::connect_with(db.url(), options.prepared_statements(true)).expect("a store")
}

#[test]
fn a_prepared_store_prepares_each_statement_once_on_its_connection() {
    let db = TestDb::create();
    let store = prepared_store(&db, Options::new());
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    assert!(matches!(
        store.try_acquire("r", "b", ms(60_000)),
        Ok(Acquire::Busy(_))
    ));
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    // Acquire, ReadLock, Renew, and the fence's FenceLock (FenceCheck comes after the closure).
    let (first, pid) = prepared(&store, &lease);
    assert_eq!(first, 4, "the statements used so far");
    for _ in 0..3 {
        assert!(matches!(
            store.renew(&lease, ms(60_000)),
            Ok(Renew::Renewed(_))
        ));
        assert!(matches!(
            store.try_acquire("r", "b", ms(60_000)),
            Ok(Acquire::Busy(_))
        ));
    }
    // Now FenceCheck too, and nothing prepared twice.
    assert_eq!(prepared(&store, &lease), (5, pid));
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
}

/// Negative control: by default nothing is prepared (the reading sees the store's statements
/// when they are there, as the test above shows).
#[test]
fn a_default_store_prepares_nothing() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(prepared(&store, &lease).0, 0);
    assert_eq!(prepared(&store, &lease).0, 0);
}

/// A new connection starts with an empty cache: after `pg_terminate_backend` the next operation
/// fails typed (or finds the connection closed and reconnects), the one after succeeds, and the
/// new session has only what was prepared on it.
#[test]
fn after_the_backend_is_terminated_the_cache_starts_empty() {
    let db = TestDb::create();
    let store = prepared_store(&db, Options::new());
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    let (before, pid) = prepared(&store, &lease);
    assert_eq!(before, 2, "Acquire and FenceLock");
    db.sql(&format!("SELECT pg_terminate_backend({pid})"));
    match store.renew(&lease, ms(60_000)) {
        Ok(Renew::Renewed(_)) | Err(Error::Disconnected { .. }) => {}
        other => panic!("the first call after the termination: {other:?}"),
    }
    thread::sleep(ms(50));
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    let (after, new_pid) = prepared(&store, &lease);
    assert_ne!(new_pid, pid, "a new session");
    assert_eq!(after, 2, "Renew and FenceLock, prepared on the new session");
}

/// A statement deallocated under the store (here by the caller's own fenced closure, which then
/// fails, so that nothing of the store's runs after it in that transaction) is prepared again by
/// the next operation, which succeeds and is one statement for the seam.
#[test]
fn a_deallocated_statement_is_prepared_again_once() {
    let db = TestDb::create();
    let seen = Record::default();
    let store = prepared_store(&db, Options::new().seam(seen.clone()));
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    let left = Arc::new(AtomicUsize::new(usize::MAX));
    let fenced = store.with_fence(&lease, |tx| {
        tx.batch_execute("DEALLOCATE ALL")?;
        let rows = tx.query_typed(PREPARED, &[])?;
        let count: i64 = rows.first().expect("one row").get(0);
        left.store(usize::try_from(count).expect("a count"), Ordering::SeqCst);
        Err::<(), _>(Error::FenceEnded)
    });
    assert!(matches!(fenced, Err(Error::FenceEnded)), "{fenced:?}");
    // The control: the statements really are gone from the session.
    assert_eq!(left.load(Ordering::SeqCst), 0);
    seen.take();
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(
        seen.take(),
        [Statement::Renew],
        "one statement for the seam"
    );
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
}

/// Inside a fenced transaction a stale statement cannot be sent again (the error aborted the
/// transaction): the call fails as one to retry, and the retry succeeds.
#[test]
fn a_statement_deallocated_inside_a_fence_fails_that_call_as_retryable() {
    let db = TestDb::create();
    let store = prepared_store(&db, Options::new());
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    // FenceCheck prepared by a first fence.
    prepared(&store, &lease);
    let fenced = store.with_fence(&lease, |tx| {
        tx.batch_execute("DEALLOCATE ALL")?;
        Ok::<_, Error>(())
    });
    assert!(
        matches!(fenced, Err(Error::SerializationFailure { .. })),
        "{fenced:?}"
    );
    assert_eq!(prepared(&store, &lease).0, 1, "FenceLock prepared again");
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
}

/// A handed-in client and a pool prepare too (the pool in deadpool's per-connection cache).
#[test]
fn handed_in_clients_and_pools_prepare_too() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .expect("a client");
        tokio::spawn(connection);
        let options = Options::new().prepared_statements(true);
        let store = AsyncPgStore::from_client_with(client, options.clone())
            .await
            .expect("a store");
        assert_eq!(prepared_async(&store).await, 2, "handed-in client");
        let config: tokio_postgres::Config = db.url().parse().expect("a config");
        let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(1)
            .build()
            .expect("a pool");
        let store = AsyncPgStore::from_pool_with(pool.clone(), options)
            .await
            .expect("a store");
        assert_eq!(prepared_async(&store).await, 2, "pool");
        let object = pool.get().await.expect("the pooled connection");
        // Acquire, FenceLock, FenceCheck, Release.
        assert_eq!(object.statement_cache.size(), 4, "in the pool's cache");
    });
}

/// Acquire on `store` (on resource `r`), then count what a fence sees prepared.
async fn prepared_async(store: &AsyncPgStore) -> i64 {
    let lease = granted(store.try_acquire("r", "a", ms(60_000)).await);
    let fenced = store
        .with_fence(&lease, async |tx| {
            let rows = tx.query_typed(PREPARED, &[]).await?;
            Ok::<i64, Error>(rows.first().expect("one row").get(0))
        })
        .await;
    assert_eq!(
        store.release(&lease).await.expect("release"),
        Release::Released
    );
    match fenced {
        Ok(Fenced::Committed(count)) => count,
        other => panic!("the fence ran: {other:?}"),
    }
}
