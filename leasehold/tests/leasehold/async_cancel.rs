//! Regression: a cancelled async acquire on SQLite grants a lease nobody holds.
//!
//! Interleaving: `timeout(200ms, store.acquire_for(r, ttl 30 s, wait 10 s))` on a busy resource.
//! The timeout drops the future, but the SQLite call runs on tokio's blocking pool and cannot be
//! interrupted; it went on waiting, and when the holder released, it was granted a lease for
//! 30 s that no one would ever use or release. Fix: dropping the future marks the call
//! cancelled, and the call releases a lease it is granted afterwards (or the drop releases one
//! granted but not yet delivered).

use std::time::Duration;

use leasehold::{Acquire, AsyncStore};

use crate::support::Scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_acquire_releases_what_it_is_granted_afterwards() {
    let scratch = Scratch::new();
    let holder = scratch.store();
    let Acquire::Granted(held) = holder
        .try_acquire("r", "holder", Duration::from_secs(30))
        .expect("acquire")
    else {
        panic!("r is free");
    };
    let release = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(1));
        let answer = holder.release(&held).expect("release");
        assert!(matches!(answer, leasehold::Release::Released), "{answer:?}");
    });
    let store = AsyncStore::open(scratch.db().to_str().expect("utf-8"))
        .await
        .expect("open");
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        store.acquire_for(
            "r",
            "cancelled",
            Duration::from_secs(30),
            Duration::from_secs(10),
        ),
    )
    .await;
    assert!(cancelled.is_err(), "not cancelled: {cancelled:?}");
    release.await.expect("the holder released");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let now = store.holder("r").await.expect("read");
    assert!(now.is_none(), "held by a cancelled acquire: {now:?}");
}
