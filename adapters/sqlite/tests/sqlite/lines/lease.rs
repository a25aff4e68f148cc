//! The line for a lease: arrival order across stores, prompt wake-ups, no barging by a caller
//! that just released — and a killed waiter, a killed holder, a waiter that times out, a full
//! line.
//!
//! Negative controls: the same waits through stores opened `without_shared_line` are woken late
//! and lose the lease to the releaser.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_sqlite::{Acquire, Options, SqliteStore};

use super::{Database, RESOURCE, hold, released, spawn, until_says};
use crate::support::{granted, ms};

#[test]
fn waiters_of_different_stores_are_served_in_arrival_order() {
    let db = Database::new();
    let (holder, lease) = hold(&db);
    let order = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for me in 0..4 {
            let (db, order) = (&db, &order);
            scope.spawn(move || {
                let store = db.store();
                let lease = granted(store.acquire_for(RESOURCE, "w", ms(60_000), ms(30_000)));
                order.lock().expect("not poisoned").push(me);
                thread::sleep(ms(5));
                released(&store, &lease);
            });
            db.until_in_line(me + 1);
        }
        released(&holder, &lease);
    });
    assert_eq!(*order.lock().expect("not poisoned"), [0, 1, 2, 3]);
    assert!(
        db.tickets().is_empty(),
        "every waiter left: {:?}",
        db.tickets()
    );
}

/// How long `waiter` took to be granted after the holder's release, once it has waited long
/// enough for its pauses to reach their 50 ms ceiling.
fn wake_latency(db: &Database, waiter: &SqliteStore) -> Duration {
    let (holder, lease) = hold(db);
    thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let lease = granted(waiter.acquire_for(RESOURCE, "w", ms(60_000), ms(30_000)));
            let at = Instant::now();
            released(waiter, &lease);
            at
        });
        thread::sleep(ms(200));
        let freed = Instant::now();
        released(&holder, &lease);
        waiting.join().expect("the waiter returns") - freed
    })
}

#[test]
fn a_release_by_another_store_wakes_the_waiter_at_once() {
    let db = Database::new();
    let waiter = db.store();
    let mut latencies: Vec<_> = (0..7).map(|_| wake_latency(&db, &waiter)).collect();
    latencies.sort();
    // Polling alone would take up to 50 ms at this point of the wait (the negative control
    // below).
    assert!(
        latencies[3] < ms(5) && latencies[5] < ms(15),
        "woken late: {latencies:?}"
    );
}

#[test]
fn without_the_shared_line_a_waiter_learns_of_a_release_only_at_its_next_poll() {
    let db = Database::new();
    let waiter = db.open(Options::new().without_shared_line());
    let mut latencies: Vec<_> = (0..7).map(|_| wake_latency(&db, &waiter)).collect();
    latencies.sort();
    // Pauses of 25-50 ms by now: the release is noticed somewhere in the next 50 ms.
    assert!(
        latencies[6] >= ms(15),
        "woken without a line? {latencies:?}"
    );
}

/// `releaser` holds the lease, `waiter` waits for it; `releaser` releases and asks again at
/// once, 20 times: how many of those grants went back to the releaser. `shared`: the waiter
/// stands in the shared line (its file shows when it waits).
fn barged(db: &Database, releaser: &SqliteStore, waiter: &SqliteStore, shared: bool) -> usize {
    let mut lease = granted(releaser.try_acquire(RESOURCE, "releaser", ms(60_000)));
    let mut barged = 0;
    for _ in 0..20 {
        let served = AtomicBool::new(false);
        thread::scope(|scope| {
            scope.spawn(|| {
                let lease = granted(waiter.acquire_for(RESOURCE, "w", ms(60_000), ms(30_000)));
                served.store(true, Ordering::SeqCst);
                thread::sleep(ms(2));
                released(waiter, &lease);
            });
            if shared {
                db.until_in_line(1);
            }
            thread::sleep(ms(10));
            released(releaser, &lease);
            lease = granted(releaser.acquire_for(RESOURCE, "releaser", ms(60_000), ms(30_000)));
            if !served.load(Ordering::SeqCst) {
                // Taken back ahead of the waiter: let the waiter have it, then hold it again.
                barged += 1;
                released(releaser, &lease);
                while !served.load(Ordering::SeqCst) {
                    thread::sleep(ms(1));
                }
                lease = granted(releaser.acquire_for(RESOURCE, "releaser", ms(60_000), ms(30_000)));
            }
        });
    }
    barged
}

#[test]
fn a_caller_that_releases_and_asks_again_joins_the_back_of_the_line() {
    let db = Database::new();
    let barged = barged(&db, &db.store(), &db.store(), true);
    assert_eq!(
        barged, 0,
        "the releaser took its lease back ahead of the waiter"
    );
}

#[test]
fn without_the_shared_line_the_releaser_takes_its_lease_back() {
    let db = Database::new();
    let (releaser, waiter) = (
        db.open(Options::new().without_shared_line()),
        db.open(Options::new().without_shared_line()),
    );
    let barged = barged(&db, &releaser, &waiter, false);
    assert!(
        barged >= 15,
        "the waiter won {} of 20 without a line",
        20 - barged
    );
}

#[test]
fn a_waiter_that_times_out_hands_the_turn_on() {
    let db = Database::new();
    let (holder, lease) = hold(&db);
    thread::scope(|scope| {
        let hasty = scope.spawn(|| {
            db.store()
                .acquire_for(RESOURCE, "hasty", ms(1_000), ms(100))
        });
        db.until_in_line(1);
        let patient = scope.spawn(|| {
            let store = db.store();
            let lease = granted(store.acquire_for(RESOURCE, "patient", ms(1_000), ms(30_000)));
            (Instant::now(), lease.owner().to_string())
        });
        db.until_in_line(2);
        assert!(matches!(
            hasty.join().expect("returns"),
            Ok(Acquire::Busy(_))
        ));
        assert_eq!(db.tickets().len(), 1, "the hasty waiter left the line");
        let freed = Instant::now();
        released(&holder, &lease);
        let (at, owner) = patient.join().expect("returns");
        assert_eq!(owner, "patient");
        // Not stranded behind the waiter that left (how promptly a release wakes is
        // `a_release_by_another_store_wakes_the_waiter_at_once`'s to judge).
        assert!(
            at - freed < ms(1_000),
            "the new front was not woken: {:?}",
            at - freed
        );
    });
    assert!(db.tickets().is_empty());
}

#[test]
fn a_full_line_sends_later_waiters_to_polling_and_every_one_is_served() {
    let db = Database::new();
    let (holder, lease) = hold(&db);
    let most = Mutex::new(0);
    thread::scope(|scope| {
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                scope.spawn(|| {
                    let store = db.open(Options::new().line_capacity(2));
                    let lease = granted(store.acquire_for(RESOURCE, "w", ms(60_000), ms(30_000)));
                    let mut most = most.lock().expect("not poisoned");
                    *most = (*most).max(db.tickets().len());
                    drop(most);
                    released(&store, &lease);
                })
            })
            .collect();
        db.until_in_line(2);
        thread::sleep(ms(100));
        assert_eq!(db.tickets().len(), 2, "a full line takes nobody else");
        released(&holder, &lease);
        for waiter in waiters {
            waiter.join().expect("every waiter is served");
        }
    });
    assert!(*most.lock().expect("not poisoned") <= 2);
    assert!(db.tickets().is_empty());
}

#[test]
fn a_killed_waiter_at_the_front_does_not_hold_up_the_line() {
    let db = Database::new();
    let (holder, lease) = hold(&db);
    let mut child = spawn("waiter", &db.path);
    until_says(&mut child, "waiting");
    db.until_in_line(1);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let dead = db.tickets();
    assert_eq!(dead.len(), 1, "the dead waiter's file is still there");
    thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let store = db.store();
            granted(store.acquire_for(RESOURCE, "w", ms(60_000), ms(30_000)));
            Instant::now()
        });
        // Behind the dead waiter: it finds the front dead on joining and clears it.
        thread::sleep(ms(100));
        let now = db.tickets();
        assert!(
            now.len() == 1 && now != dead,
            "the dead waiter was not cleared: {now:?}"
        );
        let freed = Instant::now();
        released(&holder, &lease);
        let at = waiter.join().expect("returns");
        // Not stranded behind the dead waiter (how promptly a release wakes is
        // `a_release_by_another_store_wakes_the_waiter_at_once`'s to judge, over several tries,
        // since one try can be held up by a loaded machine).
        assert!(at - freed < ms(1_000), "woken after {:?}", at - freed);
    });
}

#[test]
fn a_killed_holder_is_replaced_when_its_lease_ends() {
    let db = Database::new();
    let mut child = spawn("holder", &db.path);
    until_says(&mut child, "held");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let store = db.store();
    let Ok(Acquire::Busy(dead)) = store.try_acquire(RESOURCE, "w", ms(1_000)) else {
        panic!("the killed holder's lease is still valid");
    };
    let lease = granted(store.acquire_for(RESOURCE, "w", ms(1_000), ms(30_000)));
    let late = lease.acquired_at().millis_since(dead.expires_at());
    // Tried at the holder's expiry, not at the next 4-50 ms poll.
    assert!(
        late <= 15,
        "granted {late} ms after the dead holder's lease ended"
    );
}
