//! Smoke test under real concurrency: threads sharing one store and threads with stores of their
//! own, all on one file and one manual clock, racing for one resource. Whatever the
//! interleaving, the grants the callers were told about never overlap.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use leasehold_sqlite::{Acquire, Durability, Options, Renew, SqliteStore};

use super::support::{ms, store_at};

const THREADS_PER_KIND: usize = 3;
const ATTEMPTS: usize = 60;

/// What one caller was told about one lease: `(token, acquired_at, last expiry it was told)`.
type Told = (u64, u64, u64);

#[test]
fn at_most_one_valid_holder_at_any_time() {
    let fixture = store_at(0, Durability::Relaxed);
    let shared = Arc::new(fixture.store);
    let told: Arc<Mutex<Vec<Told>>> = Arc::default();
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_KIND));
    let mut workers = Vec::new();
    for i in 0..2 * THREADS_PER_KIND {
        let store = if i < THREADS_PER_KIND {
            Arc::clone(&shared)
        } else {
            let options = Options::new()
                .durability(Durability::Relaxed)
                .clock(fixture.clock.clone());
            Arc::new(SqliteStore::open_with(&fixture.path, options).expect("own store"))
        };
        let (clock, told, barrier) = (
            fixture.clock.clone(),
            Arc::clone(&told),
            Arc::clone(&barrier),
        );
        workers.push(thread::spawn(move || {
            barrier.wait();
            for attempt in 0..ATTEMPTS {
                work(&store, &format!("worker-{i}"), attempt, &told);
                clock.advance(ms(1));
            }
        }));
    }
    for worker in workers {
        worker.join().expect("worker finished");
    }
    check(&mut told.lock().expect("not poisoned"));
}

fn work(store: &SqliteStore, owner: &str, attempt: usize, told: &Mutex<Vec<Told>>) {
    let Acquire::Granted(lease) = store.try_acquire("hot", owner, ms(5)).expect("acquire") else {
        return;
    };
    let mut expiry = lease.expires_at().as_millis();
    if attempt.is_multiple_of(2)
        && let Renew::Renewed(renewed) = store.renew(&lease, ms(7)).expect("renew")
    {
        expiry = renewed.expires_at().as_millis();
    }
    let entry = (lease.token().get(), lease.acquired_at().as_millis(), expiry);
    told.lock().expect("not poisoned").push(entry);
}

/// Tokens are unique and grow with time, and each lease starts no earlier than the expiry the
/// previous holder was last told.
fn check(told: &mut [Told]) {
    told.sort_unstable();
    assert!(
        told.len() > 5,
        "too few grants to mean anything: {}",
        told.len()
    );
    for pair in told.windows(2) {
        let [(t1, _, end1), (t2, start2, _)] = [pair[0], pair[1]];
        assert!(t2 > t1, "token {t1} issued twice");
        assert!(
            start2 >= end1,
            "lease {t2} began at {start2}, before lease {t1} ended at {end1}"
        );
    }
}
