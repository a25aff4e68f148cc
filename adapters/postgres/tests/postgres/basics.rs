//! The store's everyday use on a real server: the blocking store shared by threads and called
//! from inside an async runtime, and the async store on a pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use leasehold_postgres::{Acquire, AsyncPgStore, Error, Fenced, Release, Renew};

use super::support::{TestDb, granted, ms};

#[test]
fn acquire_renew_release_on_the_server_clock() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(30_000)));
    let Ok(Acquire::Busy(holder)) = store.try_acquire("plan/42", "worker-b", ms(30_000)) else {
        panic!("the lease is valid");
    };
    assert_eq!(holder.token(), lease.token());
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    assert!(store.holder("plan/42").expect("holder").is_none());
}

/// One blocking store shared by eight threads that wait for the same resource: they take turns
/// on the store's one connection, never hold the lease together, and all get in.
#[test]
fn one_store_serves_many_threads_at_once() {
    let db = TestDb::create();
    let store = db.store();
    let inside = AtomicBool::new(false);
    let entries = AtomicUsize::new(0);
    thread::scope(|scope| {
        for i in 0..8 {
            let (store, inside, entries) = (&store, &inside, &entries);
            scope.spawn(move || {
                for _ in 0..5 {
                    let owner = format!("thread-{i}");
                    let lease = granted(store.acquire_for("r", &owner, ms(5_000), ms(20_000)));
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    entries.fetch_add(1, Ordering::SeqCst);
                    inside.store(false, Ordering::SeqCst);
                    assert_eq!(store.release(&lease).expect("release"), Release::Released);
                }
            });
        }
    });
    assert_eq!(entries.load(Ordering::SeqCst), 40);
}

/// The blocking store called, and dropped, on a thread that is running a tokio runtime: it
/// works (blocking that thread for the call), and never panics.
#[test]
fn the_blocking_store_works_inside_an_async_runtime() {
    let db = TestDb::create();
    for runtime in [
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    ] {
        let runtime = runtime.expect("a runtime");
        runtime.block_on(async {
            let store = db.store();
            let lease = granted(store.try_acquire("r", "inside", ms(30_000)));
            let fenced = store.with_fence(&lease, |tx| {
                tx.query_one("SELECT 1", &[])?;
                Ok::<_, Error>(())
            });
            assert!(matches!(fenced, Ok(Fenced::Committed(()))), "{fenced:?}");
            assert_eq!(store.release(&lease).expect("release"), Release::Released);
            drop(store);
        });
    }
}

/// The async store on a deadpool pool the application already has.
#[test]
fn the_async_store_works_on_a_pool() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let config: tokio_postgres::Config = db.url().parse().expect("a config");
        let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(2)
            .build()
            .expect("a pool");
        let store = AsyncPgStore::from_pool(pool)
            .await
            .expect("a store on the pool");
        let lease = granted(store.try_acquire("r", "pooled", ms(30_000)).await);
        let fenced = store
            .with_fence(&lease, async |tx| {
                tx.query_one("SELECT 1", &[]).await?;
                Ok::<_, Error>(())
            })
            .await;
        assert!(matches!(fenced, Ok(Fenced::Committed(()))), "{fenced:?}");
        let busy = store.try_acquire("r", "other", ms(30_000)).await;
        assert!(matches!(busy, Ok(Acquire::Busy(_))), "{busy:?}");
        assert_eq!(
            store.release(&lease).await.expect("release"),
            Release::Released
        );
    });
}
