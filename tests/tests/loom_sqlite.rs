//! loom: every interleaving, at statement boundaries, of a few clients on real SQLite.
//!
//! Each client has its own store (its own connection) on one database file, fresh in every loom
//! iteration. Every statement runs through [`LoomSeam`], which takes one loom-modelled lock around
//! it: loom chooses which client's statement runs next, and SQLite runs it atomically, so loom
//! explores every order of statements. Time is a loom atomic that a clock thread advances; each
//! statement reads it in its turn, right before it runs (as the store does), so ticks race the
//! statements and expiries fall between any two of them. Busy timeouts are zero: nothing may
//! sleep inside loom — and the statement lock means SQLite is never busy here, so a busy answer
//! fails the iteration instead of being ignored (a store that answered busy to everything would
//! otherwise pass with an empty history). Each scenario also counts the grants its clients got
//! over all interleavings and requires some: a run that granted nothing proves nothing.
//!
//! Run (`scripts/test` runs it too):
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=2 cargo test -p leasehold-tests --features loom --test loom_sqlite
//! ```
//!
//! Every scenario runs on the real store (no violation in any interleaving) and, as the negative
//! control, on the planted check-then-act store, where loom must find the interleaving that breaks
//! the property; the test prints it.
#![cfg(feature = "loom")]

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use leasehold_sqlite::{
    Acquire, Clock, ClockError, Durability, Error, Options, Release, Renew, Seam, SqliteStore,
    Statement, Timestamp,
};
use leasehold_tests::CheckThenActStore;
use leasehold_tests::history::{self, Event};
use loom::sync::atomic::AtomicU64;
use loom::sync::{Arc, Mutex};

/// Takes one loom-modelled lock around each statement and notes it in the iteration's trace.
struct LoomSeam {
    lock: Arc<Mutex<()>>,
    client: &'static str,
    trace: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Seam for LoomSeam {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let _turn = self.lock.lock().expect("no loom thread panics holding it");
        let result = execute();
        if statement != Statement::Schema {
            let failed = if result.is_ok() { "" } else { " (error)" };
            let note = format!("{}: {statement:?}{failed}", self.client);
            self.trace.lock().expect("uncontended").push(note);
        }
        result
    }
}

/// The store's clock: a loom atomic, so loom interleaves clock reads and ticks with statements.
struct LoomClock(Arc<AtomicU64>);

impl fmt::Debug for LoomClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoomClock")
    }
}

impl Clock for LoomClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        Ok(Timestamp::from_millis(self.0.load(SeqCst)))
    }
}

/// One loom iteration's world: a fresh database, the clock, the statement lock, the trace.
struct World {
    path: PathBuf,
    clock: Arc<AtomicU64>,
    lock: Arc<Mutex<()>>,
    trace: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(now: u64) -> Self {
        let dir = leasehold_tests::scratch_dir();
        Self {
            path: dir.path().join("locks.db"),
            clock: Arc::new(AtomicU64::new(now)),
            lock: Arc::new(Mutex::new(())),
            trace: std::sync::Arc::default(),
            _dir: dir,
        }
    }

    fn seam(&self, client: &'static str) -> LoomSeam {
        LoomSeam {
            lock: self.lock.clone(),
            client,
            trace: self.trace.clone(),
        }
    }

    fn clock(&self) -> LoomClock {
        LoomClock(self.clock.clone())
    }

    fn store(&self, client: &'static str) -> SqliteStore<LoomSeam> {
        let options = Options::new()
            .durability(Durability::Relaxed)
            .busy_timeout(Duration::ZERO)
            .clock(self.clock())
            .seam(self.seam(client));
        SqliteStore::open_with(&self.path, options).expect("the store opens")
    }

    fn naive(&self, client: &'static str) -> CheckThenActStore<LoomSeam> {
        let clock = std::sync::Arc::new(self.clock());
        CheckThenActStore::open(&self.path, clock, self.seam(client), Durability::Relaxed)
            .expect("the planted store opens")
    }

    /// A thread that moves the clock forward `ticks` times by 1 ms.
    fn ticker(&self, ticks: u64) -> loom::thread::JoinHandle<()> {
        let clock = self.clock.clone();
        loom::thread::spawn(move || {
            for _ in 0..ticks {
                clock.fetch_add(1, SeqCst);
            }
        })
    }

    /// Fails the iteration with `what` and the statements it ran, in order.
    fn fail(&self, what: &str) -> ! {
        let trace = self.trace.lock().expect("uncontended").join("\n  ");
        panic!("{what}\ninterleaving:\n  {trace}");
    }

    fn assert_history(&self, events: &[Event]) {
        let violations = history::check(events);
        if !violations.is_empty() {
            let found: Vec<String> = violations.iter().map(ToString::to_string).collect();
            self.fail(&format!("violation: {}", found.join("; ")));
        }
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Grants made to the racing clients (not to a scenario's setup), over every interleaving of the
/// running scenario.
static GRANTS: AtomicUsize = AtomicUsize::new(0);

/// What an acquire told its client, as history. Any error fails the iteration: statements run
/// one at a time, so the database is never busy.
fn told(outcome: Result<Acquire, Error>) -> Vec<Event> {
    match outcome {
        Ok(Acquire::Granted(lease)) => {
            GRANTS.fetch_add(1, SeqCst);
            vec![Event::granted(&lease)]
        }
        Ok(Acquire::Busy(_)) => Vec::new(),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Either store, for the scenarios that run on both.
enum Client {
    Atomic(SqliteStore<LoomSeam>),
    Planted(CheckThenActStore<LoomSeam>),
}

impl Client {
    fn acquire(&self, owner: &str, ttl: u64) -> Vec<Event> {
        let resource = "r";
        told(match self {
            Self::Atomic(store) => store.try_acquire(resource, owner, ms(ttl)),
            Self::Planted(store) => store.try_acquire(resource, owner, ms(ttl)),
        })
    }
}

fn client(world: &World, name: &'static str, planted: bool) -> Client {
    if planted {
        Client::Planted(world.naive(name))
    } else {
        Client::Atomic(world.store(name))
    }
}

/// Runs `scenario` in every interleaving within the preemption bound (`LOOM_MAX_PREEMPTIONS`,
/// default 2), counting them in `iterations`.
fn check(iterations: &std::sync::Arc<AtomicUsize>, scenario: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(2));
    let counter = std::sync::Arc::clone(iterations);
    builder.check(move || {
        counter.fetch_add(1, SeqCst);
        scenario();
    });
}

/// Runs `scenario` in every interleaving, says how many it explored, and requires that its
/// clients were granted something in some of them.
fn explore(name: &str, scenario: impl Fn() + Sync + Send + 'static) {
    let iterations = std::sync::Arc::default();
    GRANTS.store(0, SeqCst);
    check(&iterations, scenario);
    let (explored, grants) = (iterations.load(SeqCst), GRANTS.load(SeqCst));
    println!("{name}: {explored} interleavings explored, {grants} grants to its clients");
    assert!(
        grants > 0,
        "{name}: no client was granted anything in {explored} interleavings"
    );
}

/// Runs `scenario` and requires loom to find a failing interleaving; prints it.
fn explore_expecting_failure(
    name: &str,
    expected: &str,
    scenario: impl Fn() + Sync + Send + 'static,
) {
    let iterations = std::sync::Arc::default();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(&iterations, scenario);
    }));
    let payload = caught.expect_err("the planted bug must be caught by some interleaving");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(
        message.contains(expected),
        "loom failed for another reason: {message}"
    );
    println!(
        "{name}: caught after {} interleavings:\n{message}",
        iterations.load(SeqCst)
    );
}

/// Two clients acquire one free resource at the same instant: exactly one is granted.
fn two_acquirers(planted: bool) {
    let world = World::new(0);
    let (a, b) = (client(&world, "A", planted), client(&world, "B", planted));
    let a = loom::thread::spawn(move || a.acquire("A", 10));
    let b = loom::thread::spawn(move || b.acquire("B", 10));
    let mut events = a.join().expect("A");
    events.extend(b.join().expect("B"));
    if events.len() != 1 {
        world.fail(&format!(
            "double grant: {} clients were granted the lock",
            events.len()
        ));
    }
}

/// An expired lease and acquirers, while a clock ticks `ticks` times: no two valid leases
/// overlap.
fn acquirers_racing_expiry(clients: &[&'static str], ticks: u64, planted: bool) {
    let world = World::new(0);
    let setup = world.store("setup");
    let old = setup.try_acquire("r", "old", ms(1)).expect("setup");
    let Acquire::Granted(old) = old else {
        unreachable!("a fresh resource is free")
    };
    let mut events = vec![Event::granted(&old)];
    if ticks == 0 {
        world.clock.store(1, SeqCst);
    }
    let ticker = world.ticker(ticks);
    let threads: Vec<_> = clients
        .iter()
        .map(|&name| {
            let me = client(&world, name, planted);
            loom::thread::spawn(move || me.acquire(name, 2))
        })
        .collect();
    for thread in threads {
        events.extend(thread.join().expect("client"));
    }
    ticker.join().expect("clock");
    world.assert_history(&events);
}

#[test]
fn two_clients_on_a_free_lock() {
    explore("two clients, free lock", || two_acquirers(false));
}

#[test]
fn two_clients_racing_an_expiry() {
    explore("two clients racing an expiry", || {
        acquirers_racing_expiry(&["A", "B"], 2, false);
    });
}

#[test]
fn three_clients_on_an_expired_lock() {
    explore("three clients, expired lock", || {
        acquirers_racing_expiry(&["A", "B", "C"], 0, false);
    });
}

#[test]
fn the_planted_store_double_grants_a_free_lock() {
    explore_expecting_failure("planted: two clients, free lock", "double grant", || {
        two_acquirers(true);
    });
}

#[test]
fn the_planted_store_double_grants_an_expired_lock() {
    explore_expecting_failure("planted: two clients racing an expiry", "granted #", || {
        acquirers_racing_expiry(&["A", "B"], 2, true);
    });
}

/// A's lease has expired; A releases it while B acquires: A's release must not free B's lease.
fn acquire_racing_stale_release(planted: bool) {
    let world = World::new(0);
    let setup = world.store("setup");
    let Ok(Acquire::Granted(stale)) = setup.try_acquire("r", "A", ms(1)) else {
        unreachable!("free")
    };
    world.clock.store(1, SeqCst);
    let (releaser, acquirer) = (world.store("A"), world.store("B"));
    let naive = planted.then(|| world.naive("A"));
    let a = loom::thread::spawn(move || match naive {
        // Planted bug: release by resource name, whatever lease it holds now.
        Some(naive) => drop(naive.release_by_name("r").expect("release")),
        None => assert!(!matches!(
            releaser.release(stale).expect("release"),
            Release::Released
        )),
    });
    let b = loom::thread::spawn(move || acquirer.try_acquire("r", "B", ms(10)).expect("acquire"));
    a.join().expect("A");
    let b = b.join().expect("B");
    if let Acquire::Granted(lease) = &b {
        told(Ok(Acquire::Granted(lease.clone())));
    }
    let holder = setup
        .holder("r")
        .expect("read")
        .map(|h| h.owner().to_string());
    if let Acquire::Granted(_) = b
        && holder.as_deref() != Some("B")
    {
        world.fail(&format!(
            "stale release took effect: B was granted, the holder is now {holder:?}"
        ));
    }
}

#[test]
fn a_stale_release_racing_an_acquire_frees_nothing() {
    explore("stale release racing an acquire", || {
        acquire_racing_stale_release(false);
    });
}

#[test]
fn the_planted_release_by_name_frees_the_new_lease() {
    explore_expecting_failure(
        "planted: release by name racing an acquire",
        "stale release took effect",
        || {
            acquire_racing_stale_release(true);
        },
    );
}

/// A holds a lease until 2; it renews while B acquires and the clock ticks to 2.
///
/// No planted variant: its only counterexample needed A's renew to be judged with a clock reading
/// older than B's (a renew that waited for the write lock holding its reading). The store reads
/// the clock when a statement runs, and with readings that never go backwards even the planted
/// acquire cannot overlap a renewed lease here; loom confirms it for both stores.
fn acquire_racing_renew(planted: bool) {
    let world = World::new(0);
    let setup = world.store("setup");
    let Ok(Acquire::Granted(lease)) = setup.try_acquire("r", "A", ms(2)) else {
        unreachable!("free")
    };
    let mut events = vec![Event::granted(&lease)];
    let renewer = world.store("A");
    let b = client(&world, "B", planted);
    let ticker = world.ticker(2);
    // A renews from a clock reading that may already be stale; for 3 ms, so that a renew from
    // tick 0 extends the lease past the tick B may acquire at.
    let a = loom::thread::spawn(move || match renewer.renew(&lease, ms(3)).expect("renew") {
        Renew::Renewed(renewed) => vec![Event::Renewed {
            resource: "r".into(),
            token: renewed.token().get(),
            expires_at: renewed.expires_at().as_millis(),
        }],
        Renew::Lost(_) => Vec::new(),
    });
    let b = loom::thread::spawn(move || b.acquire("B", 2));
    events.extend(a.join().expect("A"));
    events.extend(b.join().expect("B"));
    ticker.join().expect("clock");
    world.assert_history(&events);
}

#[test]
fn a_renew_racing_an_acquire_keeps_mutual_exclusion() {
    explore("renew racing an acquire", || acquire_racing_renew(false));
    explore("renew racing the planted acquire", || {
        acquire_racing_renew(true);
    });
}

/// The negative control of the progress check: clients whose every acquire is refused (a lease
/// that never expires, held by someone else) keep every promise and grant nothing; `explore`
/// must reject the run.
#[test]
fn a_run_that_grants_nothing_fails_the_progress_check() {
    let caught = std::panic::catch_unwind(|| {
        explore("clients that are never granted", || {
            let world = World::new(0);
            let setup = world.store("setup");
            let held = setup.try_acquire("r", "holder", ms(3_600_000));
            assert!(matches!(held, Ok(Acquire::Granted(_))));
            let a = client(&world, "A", false);
            let a = loom::thread::spawn(move || a.acquire("A", 10));
            assert!(a.join().expect("A").is_empty());
        });
    });
    let payload = caught.expect_err("a run without grants passed");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("no client was granted"), "{message}");
}
