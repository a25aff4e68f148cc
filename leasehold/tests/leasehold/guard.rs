//! The blocking guard against a real SQLite file: it renews, releases, and notices loss —
//! evicted, or a store that answers only errors — with its deadline before the store's expiry;
//! a slow reply cannot move that deadline past the expiry, and a driver planted with the bug
//! that would let it is caught.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use leasehold::{
    GuardEvent, HoldOptions, KeeperConfig, LockStore, LossReason, LostReason, Options, PlantedFlaw,
    Release, Ttl,
};

use crate::support::{Scratch, wall_us_of};

fn config(ttl_ms: u64) -> KeeperConfig {
    KeeperConfig::new(Ttl::from_millis(ttl_ms).expect("positive"))
}

/// Collects a guard's events, each with the instant it was observed.
fn observed(options: HoldOptions) -> (HoldOptions, mpsc::Receiver<(Instant, GuardEvent)>) {
    let (tx, rx) = mpsc::channel();
    let options = options.on_event(move |event| {
        let _ = tx.send((Instant::now(), event.clone()));
    });
    (options, rx)
}

#[test]
fn a_guard_renews_across_several_ttls_and_releases_when_dropped() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let (options, events) = observed(HoldOptions::new(config(600)));
    let guard = store
        .hold_with("r", "a", Duration::from_secs(1), options)
        .expect("hold")
        .expect("free");
    let first_deadline = guard.deadline();
    let first_expiry = guard.lease().expires_at().as_millis();
    let end = Instant::now() + Duration::from_millis(2_000);
    while Instant::now() < end {
        assert!(
            guard.is_valid(),
            "lost while renewing: {:?}",
            guard.try_lost()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let renewals = events
        .try_iter()
        .filter(|(_, e)| matches!(e, GuardEvent::Renewed { .. }))
        .count();
    // A renewal every 200 ms over 2 s is about ten; a loaded machine may manage fewer, but more
    // than three ttls cannot pass on the first grant.
    assert!(renewals >= 3, "only {renewals} renewals in three ttls");
    assert!(guard.deadline() > first_deadline + Duration::from_millis(1_400));
    let holder = store.holder("r").expect("read").expect("held");
    assert_eq!(holder.token(), guard.token());
    assert!(
        holder.expires_at().as_millis() >= first_expiry + 1_400,
        "renewed on the store"
    );
    drop(guard);
    assert_eq!(
        store.holder("r").expect("read"),
        None,
        "dropping releases at once"
    );
}

#[test]
fn hold_returns_none_when_busy_and_release_returns_the_answer() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let guard = store
        .hold("r", "a", Duration::from_secs(5), Duration::ZERO)
        .expect("hold")
        .expect("free");
    let other = store
        .hold("r", "b", Duration::from_secs(5), Duration::from_millis(50))
        .expect("hold");
    assert!(other.is_none(), "a held resource is not granted");
    assert_eq!(guard.release().expect("release"), Release::Released);
    assert!(store.holder("r").expect("read").is_none());
}

#[test]
fn a_bad_keeper_configuration_is_refused_before_anything_is_acquired() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let mut bad = config(1_000);
    bad.renew_after = Duration::from_secs(2);
    let refused = store.hold_with("r", "a", Duration::ZERO, HoldOptions::new(bad));
    assert!(
        matches!(refused, Err(leasehold::Error::KeeperConfig(_))),
        "{refused:?}"
    );
    let zero = store.hold("r", "a", Duration::ZERO, Duration::ZERO);
    assert!(
        matches!(zero, Err(leasehold::Error::InvalidTtl(_))),
        "{zero:?}"
    );
    assert!(store.holder("r").expect("read").is_none());
}

#[test]
fn an_evicted_guard_is_lost_at_its_next_renewal() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let guard = store
        .hold("r", "a", Duration::from_millis(900), Duration::ZERO)
        .expect("hold")
        .expect("free");
    // Another process's store, as an administrator's would be.
    let admin = scratch.store();
    let evicted_at = Instant::now();
    assert!(matches!(admin.evict("r"), Ok(leasehold::Evict::Evicted(_))));
    let lost = guard.lost_for(Duration::from_secs(3));
    assert_eq!(lost, Some(LossReason::Refused(LostReason::Evicted)));
    // The next renewal is due a third of the ttl (300 ms) after the last confirmed one.
    assert!(
        evicted_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        evicted_at.elapsed()
    );
    assert!(!guard.is_valid());
    assert!(matches!(guard.release(), Ok(Release::NotHolder(_))));
}

/// The store's write lock, held by another connection: every renewal fails as busy.
fn lock_writes(scratch: &Scratch) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(scratch.db()).expect("open");
    conn.execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    conn
}

#[test]
fn a_store_that_answers_only_errors_loses_the_lease_at_the_deadline_before_the_expiry() {
    let scratch = Scratch::new();
    let options = Options::new().busy_timeout(Duration::from_millis(10));
    let store = leasehold::open_with(scratch.db().to_str().expect("utf-8"), options).expect("open");
    let (hold, events) = observed(HoldOptions::new(config(600)));
    let guard = store
        .hold_with("r", "a", Duration::ZERO, hold)
        .expect("hold")
        .expect("free");
    // Wait for one confirmed renewal: its lease carries the store's expiry.
    let (_, renewed) = events
        .recv_timeout(Duration::from_secs(3))
        .expect("a renewal within 3 s");
    let GuardEvent::Renewed { lease, .. } = renewed else {
        panic!("expected a renewal first, got {renewed:?}")
    };
    let lock = lock_writes(&scratch);
    let deadline = guard.deadline();
    let lost = guard.lost_for(Duration::from_secs(3));
    let lost_at = Instant::now();
    drop(lock);
    assert_eq!(lost, Some(LossReason::DeadlinePassed));
    let failures = events
        .try_iter()
        .filter(|(_, e)| matches!(e, GuardEvent::RenewFailed { .. }))
        .count();
    assert!(failures >= 2, "the keeper retried only {failures} times");
    // Lost at its deadline (not before, and promptly)…
    assert!(lost_at >= deadline, "lost before its deadline");
    assert!(
        lost_at - deadline < Duration::from_millis(500),
        "{:?}",
        lost_at - deadline
    );
    // …which is before the store's expiry, on the store's clock.
    let expiry_us = i128::from(lease.expires_at().as_millis()) * 1_000;
    assert!(
        wall_us_of(deadline) < expiry_us,
        "the deadline is after the store's expiry"
    );
}

/// The keeper's deadline after a renewal whose reply was held back 600 ms, and the store's
/// expiry that renewal wrote, both in wall-clock microseconds. (A 2 s ttl leaves the renewal
/// itself 700 ms before the first deadline, for a loaded machine.)
fn deadline_after_a_slow_reply(flaw: Option<PlantedFlaw>) -> (i128, i128) {
    let scratch = Scratch::new();
    let store = scratch.store();
    let mut options = HoldOptions::new(config(2_000)).slow_reply(0, Duration::from_millis(600));
    if let Some(flaw) = flaw {
        options = options.plant(flaw);
    }
    let (options, events) = observed(options);
    let guard = store
        .hold_with("r", "a", Duration::ZERO, options)
        .expect("hold")
        .expect("free");
    let (_, event) = events
        .recv_timeout(Duration::from_secs(5))
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

#[test]
fn a_slow_reply_never_moves_the_deadline_past_the_stores_expiry() {
    let (deadline, expiry) = deadline_after_a_slow_reply(None);
    assert!(
        deadline < expiry,
        "deadline {deadline} µs is not before expiry {expiry} µs"
    );
}

#[test]
fn negative_control_a_driver_that_dates_renewals_by_their_reply_is_caught() {
    let (deadline, expiry) = deadline_after_a_slow_reply(Some(PlantedFlaw::DeadlineFromReply));
    // The reply came 600 ms after the store dated the renewal: the planted driver relies on the
    // lease for up to that long after the store has let it go.
    assert!(
        deadline > expiry + 500_000,
        "not caught: deadline {deadline} µs, expiry {expiry} µs"
    );
}

#[test]
fn the_keepers_first_deadline_counts_from_when_the_acquire_was_sent() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let before = Instant::now();
    let guard = store
        .hold("r", "a", Duration::from_secs(10), Duration::ZERO)
        .expect("hold")
        .expect("free");
    let after = Instant::now();
    // ttl − the default margin (10 ms of drift + 1 ms) after a send instant inside the call.
    let lifetime = Duration::from_millis(9_989);
    assert!(
        guard.deadline() >= before + lifetime,
        "earlier than the call began"
    );
    assert!(
        guard.deadline() <= after + lifetime,
        "later than the call ended"
    );
    assert_eq!(
        guard.deadline(),
        guard.lease().deadline(),
        "the contract's deadline, exactly"
    );
}

#[test]
fn a_store_is_a_lock_store_for_generic_code() {
    fn holders_of<S: LockStore>(store: &S) -> usize {
        store.holders().map(|h| h.len()).unwrap_or(0)
    }
    let scratch = Scratch::new();
    let store = scratch.store();
    let _guard = store
        .hold("r", "a", Duration::from_secs(5), Duration::ZERO)
        .expect("hold");
    assert_eq!(holders_of(&store), 1);
}
