//! The line for SQLite's write lock: a write of a durable store that finds the lock taken by
//! another connection joins it after about 1.3 ms of blind waiting, is woken by the leasehold
//! writer that frees the lock, and is served in arrival order. And the cases a shared structure
//! must survive: a killed writer, a writer whose busy timeout passes, a full line. A relaxed
//! store's writers wait blind.
//!
//! Negative control: writers of stores opened `without_shared_line` wait blind and are served
//! in no particular order. (Tail latencies, which the line is for, are the benchmark's to show:
//! `leasehold-bench`'s `mixed` against `mixed-polling` scenarios.)

use std::io::Write as _;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use leasehold_sqlite::{Error, Options, Seam, SqliteStore, Statement};
use rusqlite::Connection;

use super::{Database, spawn, until_says};
use crate::support::{granted, ms};

/// Writers in [`served_in_order`].
const WRITERS: usize = 4;

/// Records, when its acquire statement has run, which writer it was.
#[derive(Clone)]
struct Recording {
    me: usize,
    served: Arc<Mutex<Vec<usize>>>,
}

impl Seam for Recording {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let result = execute();
        if statement == Statement::Acquire && result.is_ok() {
            let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
            served.push(self.me);
        }
        result
    }
}

/// Four writers of separate stores find the write lock taken by a store's fenced transaction,
/// one after another; the order in which their writes then ran.
/// `shared`: the writers' stores stand in the shared line (else they wait blind).
fn served_in_order(db: &Database, shared: bool) -> Vec<usize> {
    let holder = db.store();
    let lease = granted(holder.try_acquire("held", "holder", ms(60_000)));
    let served = Arc::new(Mutex::new(Vec::new()));
    let (started, fenced) = mpsc::channel();
    let (go, wait) = mpsc::channel::<()>();
    thread::scope(|scope| {
        scope.spawn(move || {
            holder.with_fence(&lease, |_| {
                started.send(()).expect("the test listens");
                wait.recv().expect("the test says go");
                Ok::<_, Error>(())
            })
        });
        fenced.recv().expect("the fence began");
        for me in 0..WRITERS {
            let seam = Recording {
                me,
                served: Arc::clone(&served),
            };
            let options = if shared {
                Options::new()
            } else {
                Options::new().without_shared_line()
            };
            let store = SqliteStore::open_with(&db.path, options.seam(seam)).expect("opens");
            scope.spawn(move || granted(store.try_acquire(&format!("w{me}"), "w", ms(60_000))));
            // Each one waiting before the next starts (blind writers leave no file to see).
            if shared {
                db.until_writers_in_line(me + 1);
            } else {
                thread::sleep(ms(30));
            }
        }
        thread::sleep(ms(50));
        go.send(()).expect("the holder listens");
    });
    let served = served.lock().unwrap_or_else(PoisonError::into_inner);
    served.clone()
}

#[test]
fn writers_that_find_the_lock_taken_are_served_in_arrival_order() {
    let db = Database::new();
    assert_eq!(served_in_order(&db, true), [0, 1, 2, 3]);
    assert!(db.write_tickets().is_empty(), "every writer left the line");
}

#[test]
fn without_the_shared_line_writers_are_served_in_no_particular_order() {
    // Blind sleeps of up to a millisecond: whoever wakes first after the commit wins, so three
    // runs in arrival order (1 in 24 each) would mean the writers were ordered after all.
    let orders: Vec<_> = (0..3)
        .map(|_| served_in_order(&Database::new(), false))
        .collect();
    assert!(
        orders.iter().any(|order| order[..] != [0, 1, 2, 3]),
        "blind writers kept their arrival order: {orders:?}"
    );
}

/// Holds the write lock from a connection that is not a store: it wakes nobody, so writers in
/// line poll for it (every millisecond at most).
fn lock_writes(db: &Database) -> Connection {
    let conn = Connection::open(&db.path).expect("a raw connection");
    conn.execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock");
    conn
}

/// A write through `store` on a thread: when it returned, and what.
fn write_on<'s>(
    scope: &'s thread::Scope<'s, '_>,
    store: SqliteStore,
    resource: &'s str,
) -> thread::ScopedJoinHandle<'s, (Instant, Result<(), Error>)> {
    scope.spawn(move || {
        let outcome = store.try_acquire(resource, "w", ms(60_000)).map(|_| ());
        (Instant::now(), outcome)
    })
}

#[test]
fn a_killed_writer_at_the_front_does_not_hold_up_the_line() {
    let db = Database::new();
    let mut child = spawn("writer", &db.path);
    until_says(&mut child, "ready");
    let store = db.open_durable(Options::new().busy_timeout(ms(30_000)));
    let lock = lock_writes(&db);
    let stdin = child.stdin.as_mut().expect("piped");
    writeln!(stdin, "go").expect("the child listens");
    until_says(&mut child, "writing");
    db.until_writers_in_line(1);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let dead = db.write_tickets();
    assert_eq!(dead.len(), 1, "the dead writer's file is still there");
    thread::scope(|scope| {
        let writer = write_on(scope, store, "r");
        // Behind the dead writer for a check at most: then it finds it dead and clears it.
        thread::sleep(ms(150));
        let now = db.write_tickets();
        assert!(
            now.len() == 1 && now != dead,
            "the dead writer was not cleared: {now:?}"
        );
        let freed = Instant::now();
        lock.execute_batch("ROLLBACK").expect("the lock is freed");
        let (at, outcome) = writer.join().expect("returns");
        outcome.expect("the write ran");
        assert!(at - freed < ms(1_000), "served after {:?}", at - freed);
    });
    assert!(db.write_tickets().is_empty());
}

#[test]
fn a_writer_whose_busy_timeout_passes_leaves_the_line_to_the_next() {
    let db = Database::new();
    let hasty = db.open_durable(Options::new().busy_timeout(ms(150)));
    let patient = db.open_durable(Options::new().busy_timeout(ms(30_000)));
    let lock = lock_writes(&db);
    thread::scope(|scope| {
        let started = Instant::now();
        let hasty = write_on(scope, hasty, "a");
        db.until_writers_in_line(1);
        let patient = write_on(scope, patient, "b");
        db.until_writers_in_line(2);
        let (at, outcome) = hasty.join().expect("returns");
        assert!(matches!(outcome, Err(Error::Busy)), "{outcome:?}");
        assert!(at - started >= ms(150), "gave up after {:?}", at - started);
        assert_eq!(
            db.write_tickets().len(),
            1,
            "the hasty writer left the line"
        );
        lock.execute_batch("ROLLBACK").expect("the lock is freed");
        let (_, outcome) = patient.join().expect("returns");
        outcome.expect("the patient writer's write ran");
    });
    assert!(db.write_tickets().is_empty());
}

#[test]
fn a_full_line_for_the_write_lock_sends_later_writers_to_wait_blind() {
    let db = Database::new();
    let stores: Vec<_> = (0..3)
        .map(|_| db.open_durable(Options::new().line_capacity(1)))
        .collect();
    let lock = lock_writes(&db);
    let most = Mutex::new(0);
    thread::scope(|scope| {
        let writers: Vec<_> = stores
            .into_iter()
            .zip(["a", "b", "c"])
            .map(|(store, resource)| write_on(scope, store, resource))
            .collect();
        db.until_writers_in_line(1);
        // A writer over the capacity shows in the line for a moment (it counts after joining)
        // and then leaves: look once they have settled.
        thread::sleep(ms(20));
        let watch = Instant::now();
        while watch.elapsed() < ms(100) {
            let mut most = most.lock().unwrap_or_else(PoisonError::into_inner);
            *most = (*most).max(db.write_tickets().len());
            drop(most);
            thread::sleep(ms(1));
        }
        lock.execute_batch("ROLLBACK").expect("the lock is freed");
        for writer in writers {
            let (_, outcome) = writer.join().expect("returns");
            outcome.expect("every write ran");
        }
    });
    assert_eq!(*most.lock().unwrap_or_else(PoisonError::into_inner), 1);
    assert!(db.write_tickets().is_empty());
}

#[test]
fn without_fsyncs_a_writer_waits_blind() {
    // Relaxed durability: a write holds the lock for tens of microseconds, and waiting in line
    // would cost more than it saves (see `Lines::new`).
    let db = Database::new();
    let relaxed = db.open(Options::new().busy_timeout(ms(30_000)));
    let lock = lock_writes(&db);
    thread::scope(|scope| {
        let writer = write_on(scope, relaxed, "r");
        thread::sleep(ms(100));
        assert!(
            db.write_tickets().is_empty(),
            "a relaxed store's writer joined the line"
        );
        lock.execute_batch("ROLLBACK").expect("the lock is freed");
        let (_, outcome) = writer.join().expect("returns");
        outcome.expect("the write ran");
    });
}
