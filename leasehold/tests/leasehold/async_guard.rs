//! The async guard (feature `tokio`): a tokio task keeps the lease; `lost()` resolves on loss;
//! dropping the guard releases; the task dates renewals by their send instant too (with its
//! planted-driver negative control).

use std::sync::mpsc;
use std::time::Duration;

use leasehold::{
    AsyncStore, GuardEvent, HoldOptions, KeeperConfig, LossReason, LostReason, PlantedFlaw,
    Release, Ttl,
};

use crate::support::{Scratch, wall_us_of};

async fn open(scratch: &Scratch) -> AsyncStore {
    AsyncStore::open(scratch.db().to_str().expect("utf-8"))
        .await
        .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_guard_renews_and_its_lost_future_resolves_on_eviction() {
    let scratch = Scratch::new();
    let store = open(&scratch).await;
    let guard = store
        .hold("r", "a", Duration::from_millis(600), Duration::ZERO)
        .await
        .expect("hold")
        .expect("free");
    let first = guard.lease().expires_at();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(
        guard.is_valid(),
        "lost while renewing: {:?}",
        guard.try_lost()
    );
    let holder = store.holder("r").await.expect("read").expect("held");
    assert_eq!(holder.token(), guard.token());
    assert!(
        holder.expires_at().as_millis() >= first.as_millis() + 600,
        "renewed"
    );
    assert!(matches!(
        store.evict("r").await,
        Ok(leasehold::Evict::Evicted(_))
    ));
    let lost = tokio::time::timeout(Duration::from_secs(2), guard.lost())
        .await
        .expect("lost within 2 s");
    assert_eq!(lost, LossReason::Refused(LostReason::Evicted));
    assert!(matches!(guard.release().await, Ok(Release::NotHolder(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_async_guard_releases_the_lease() {
    let scratch = Scratch::new();
    let store = open(&scratch).await;
    let guard = store
        .hold("r", "a", Duration::from_secs(10), Duration::ZERO)
        .await
        .expect("hold")
        .expect("free");
    let busy = store
        .hold("r", "b", Duration::from_secs(10), Duration::ZERO)
        .await;
    assert!(matches!(busy, Ok(None)));
    drop(guard);
    let mut released = false;
    for _ in 0..100 {
        if store.holder("r").await.expect("read").is_none() {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        released,
        "the task released the lease within a second of the drop"
    );
}

/// The async keeper's deadline and the store's expiry after a reply held back 600 ms.
async fn async_deadline_after_a_slow_reply(flaw: Option<PlantedFlaw>) -> (i128, i128) {
    let scratch = Scratch::new();
    let store = open(&scratch).await;
    let config = KeeperConfig::new(Ttl::from_millis(2_000).expect("positive"));
    let mut options = HoldOptions::new(config).slow_reply(0, Duration::from_millis(600));
    if let Some(flaw) = flaw {
        options = options.plant(flaw);
    }
    let (tx, rx) = mpsc::channel();
    let options = options.on_event(move |e| {
        let _ = tx.send(e.clone());
    });
    let guard = store
        .hold_with("r", "a", Duration::ZERO, options)
        .await
        .expect("hold")
        .expect("free");
    let event = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
        .await
        .expect("join")
        .expect("a renewal");
    let GuardEvent::Renewed { lease, deadline } = event else {
        panic!("expected a renewal, got {event:?}")
    };
    drop(guard);
    (
        wall_us_of(deadline),
        i128::from(lease.expires_at().as_millis()) * 1_000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_keeper_dates_renewals_by_their_send_instant() {
    let (deadline, expiry) = async_deadline_after_a_slow_reply(None).await;
    assert!(
        deadline < expiry,
        "deadline {deadline} µs is not before expiry {expiry} µs"
    );
    let (deadline, expiry) =
        async_deadline_after_a_slow_reply(Some(PlantedFlaw::DeadlineFromReply)).await;
    assert!(
        deadline > expiry + 500_000,
        "negative control not caught: {deadline} vs {expiry}"
    );
}
