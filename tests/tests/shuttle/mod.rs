//! shuttle: random and PCT schedules of 4–5 clients running proptest-generated operations on
//! 2–3 resources, on real SQLite.
//!
//! Each client is a shuttle thread with its own store (its own connection) on one database file,
//! fresh in every execution. [`ShuttleSeam`] yields to shuttle's scheduler before every statement,
//! so the scheduler chooses the order of statements; SQLite runs each atomically. Operations:
//! acquire, retry with the same request id, renew, release, evict, prune, a fenced write to a
//! protected table (through `with_fence`), and clock ticks. After every execution the history of what clients
//! were told, and the protected table's log, go through `history::check`: mutual exclusion, tokens
//! that strictly increase, and a protected resource that never accepts an older token.
//!
//! Bounds in CI: 16 plans × 64 random executions and 16 plans × 64 PCT executions (depth 3).
//! `LEASEHOLD_SHUTTLE_PLANS` and `LEASEHOLD_SHUTTLE_EXECUTIONS` raise them.
//!
//! The negative controls run the same harness with the planted check-then-act acquire: on a
//! two-client race in which both clients release afterwards, under both schedulers, and on eight
//! generated plans (a fixed seed) under the random scheduler, where a majority must be caught (6 of
//! 8 in the runs so far; the others never race two acquires). Shuttle prints each failing
//! schedule (a replayable string) when it finds one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leasehold_sqlite::{
    Acquire, Clock, ClockError, Durability, Error, Evict, Fenced, Lease, Options, Release, Renew,
    RequestId, Seam, SqliteStore, Statement, Timestamp,
};
use leasehold_tests::CheckThenActStore;
use leasehold_tests::history::{self, Event};
use proptest::prelude::*;
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// One client operation; the `u8` is a resource index.
#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire(u8),
    Retry(u8),
    Renew(u8),
    Release(u8),
    Evict(u8),
    Write(u8),
    Prune,
    Tick,
}

/// Each client's operations, in order.
#[derive(Clone, Debug)]
struct Plan {
    clients: Vec<Vec<Op>>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (2..=3_u8, 4..=5_usize).prop_flat_map(|(resources, clients)| {
        let op = prop_oneof![
            4 => (0..resources).prop_map(Op::Acquire),
            1 => (0..resources).prop_map(Op::Retry),
            2 => (0..resources).prop_map(Op::Renew),
            2 => (0..resources).prop_map(Op::Release),
            1 => (0..resources).prop_map(Op::Evict),
            3 => (0..resources).prop_map(Op::Write),
            1 => Just(Op::Prune),
            3 => Just(Op::Tick),
        ];
        let ops = prop::collection::vec(op, 1..7);
        prop::collection::vec(ops, clients).prop_map(|clients| Plan { clients })
    })
}

/// A scheduling point before every statement, except those that open a store: stores open before
/// the clients start, and PCT places its few priority changes among all steps, so steps that race
/// nothing would only dilute them. With `always_busy` (**planted bug**), every statement after
/// opening fails as if the database were locked: a store that never makes progress, which the
/// progress check must catch.
#[derive(Clone, Copy)]
struct ShuttleSeam {
    always_busy: bool,
}

impl Seam for ShuttleSeam {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        if statement == Statement::Schema {
            return execute();
        }
        shuttle::thread::yield_now();
        if self.always_busy {
            let busy = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY);
            return Err(rusqlite::Error::SqliteFailure(busy, None));
        }
        execute()
    }
}

/// The store's clock, in milliseconds: a shuttle atomic that `Tick` operations advance.
#[derive(Debug)]
struct ShuttleClock(Arc<AtomicU64>);

impl Clock for ShuttleClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        Ok(Timestamp::from_millis(self.0.load(SeqCst)))
    }
}

const TTL: Duration = Duration::from_millis(3);
const PROTECTED: &str = "CREATE TABLE IF NOT EXISTS protected \
(seq INTEGER PRIMARY KEY AUTOINCREMENT, resource TEXT NOT NULL, token INTEGER NOT NULL)";

/// One execution's shared world.
struct World {
    path: std::path::PathBuf,
    clock: Arc<AtomicU64>,
    events: Arc<Mutex<Vec<Event>>>,
    seam: ShuttleSeam,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(seam: ShuttleSeam) -> Self {
        let dir = leasehold_tests::scratch_dir();
        let path = dir.path().join("locks.db");
        Self {
            path,
            clock: Arc::new(AtomicU64::new(0)),
            events: Arc::default(),
            seam,
            _dir: dir,
        }
    }

    fn store(&self) -> SqliteStore<ShuttleSeam> {
        let options = Options::new()
            .durability(Durability::Relaxed)
            .busy_timeout(Duration::ZERO)
            .clock(ShuttleClock(Arc::clone(&self.clock)))
            .seam(self.seam);
        SqliteStore::open_with(&self.path, options).expect("the store opens")
    }

    fn naive(&self) -> CheckThenActStore<ShuttleSeam> {
        let clock = Arc::new(ShuttleClock(Arc::clone(&self.clock)));
        CheckThenActStore::open(&self.path, clock, self.seam, Durability::Relaxed)
            .expect("the planted store opens")
    }

    /// Creates the schema and the protected table up front, so that fenced writes never race to
    /// create it.
    fn create_protected_table(&self) {
        drop(self.store());
        let conn = rusqlite::Connection::open(&self.path).expect("the database opens");
        conn.execute(PROTECTED, []).expect("the protected table");
    }

    /// The protected table's log, as `Wrote` events.
    fn writes(&self) -> Vec<Event> {
        let conn = rusqlite::Connection::open(&self.path).expect("the database opens");
        let mut rows = conn
            .prepare("SELECT seq, resource, token FROM protected")
            .expect("the table");
        let writes = rows.query_map([], |row| {
            Ok(Event::Wrote {
                seq: row.get(0)?,
                resource: row.get(1)?,
                token: row.get(2)?,
            })
        });
        writes
            .expect("a readable table")
            .map(|w| w.expect("a readable row"))
            .collect()
    }
}

/// One client: its stores, what it holds, and the request ids it may retry.
struct Client {
    name: String,
    store: SqliteStore<ShuttleSeam>,
    planted: Option<CheckThenActStore<ShuttleSeam>>,
    clock: Arc<AtomicU64>,
    events: Arc<Mutex<Vec<Event>>>,
    leases: BTreeMap<u8, Lease>,
    request_ids: BTreeMap<u8, RequestId>,
}

fn resource(index: u8) -> String {
    format!("r{index}")
}

impl Client {
    fn log(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Acquire(r) => self.acquire(r, false),
            Op::Retry(r) => self.acquire(r, true),
            Op::Renew(r) => self.renew(r),
            Op::Release(r) => self.release(r),
            Op::Evict(r) => self.evict(r),
            Op::Write(r) => self.write(r),
            Op::Prune => self.prune(),
            Op::Tick => drop(self.clock.fetch_add(1, SeqCst)),
        }
    }

    fn acquire(&mut self, r: u8, retry: bool) {
        let id = match self.request_ids.get(&r) {
            Some(id) if retry => *id,
            _ => self.store.new_request_id(),
        };
        self.request_ids.insert(r, id);
        let outcome = match &self.planted {
            // Planted bug: the seed's read-then-write acquire.
            Some(naive) => naive.try_acquire(&resource(r), &self.name, TTL),
            None => self
                .store
                .try_acquire_with_id(&resource(r), &self.name, TTL, id),
        };
        match outcome {
            Ok(Acquire::Granted(lease)) => self.holds(r, lease),
            Ok(Acquire::Busy(_)) | Err(Error::Busy) => {}
            Err(e) => panic!("acquire failed: {e}"),
        }
    }

    fn holds(&mut self, r: u8, lease: Lease) {
        let replayed = self
            .leases
            .get(&r)
            .is_some_and(|held| held.token() == lease.token());
        if !replayed {
            self.log(Event::granted(&lease));
        }
        self.leases.insert(r, lease);
    }

    fn renew(&mut self, r: u8) {
        let Some(lease) = self.leases.get(&r) else {
            return;
        };
        match self.store.renew(lease, TTL) {
            Ok(Renew::Renewed(renewed)) => {
                let (token, expires_at) = (renewed.token().get(), renewed.expires_at().as_millis());
                self.log(Event::Renewed {
                    resource: resource(r),
                    token,
                    expires_at,
                });
                self.leases.insert(r, renewed);
            }
            Ok(Renew::Lost(_)) => drop(self.leases.remove(&r)),
            Err(Error::Busy) => {}
            Err(e) => panic!("renew failed: {e}"),
        }
    }

    fn release(&mut self, r: u8) {
        let Some(lease) = self.leases.remove(&r) else {
            return;
        };
        self.log(Event::Releasing {
            resource: resource(r),
            token: lease.token().get(),
            at: self.clock.load(SeqCst),
        });
        let ended = match self.store.release(&lease) {
            Ok(Release::Released) => true,
            Ok(Release::Expired | Release::NotHolder(_)) => false,
            Err(Error::Busy) => {
                self.leases.insert(r, lease.clone());
                false
            }
            Err(e) => panic!("release failed: {e}"),
        };
        self.log(Event::ReleaseAnswered {
            resource: resource(r),
            token: lease.token().get(),
            ended,
        });
    }

    fn prune(&mut self) {
        match self.store.prune(Duration::ZERO) {
            Ok(_) | Err(Error::Busy) => {}
            Err(e) => panic!("prune failed: {e}"),
        }
    }

    fn evict(&mut self, r: u8) {
        let at = self.clock.load(SeqCst);
        match self.store.evict(&resource(r)) {
            Ok(Evict::Evicted(holder)) => {
                self.log(Event::Evicted {
                    resource: resource(r),
                    token: holder.token().get(),
                    at,
                });
            }
            Ok(Evict::NotHeld) | Err(Error::Busy) => {}
            Err(e) => panic!("evict failed: {e}"),
        }
    }

    fn write(&mut self, r: u8) {
        let Some(lease) = self.leases.get(&r) else {
            return;
        };
        let token = lease.token().get();
        let fenced = self.store.with_fence(lease, |tx| {
            tx.execute(
                "INSERT INTO protected (resource, token) VALUES (?1, ?2)",
                (resource(r), token),
            )?;
            Ok::<_, Error>(())
        });
        match fenced {
            Ok(Fenced::Committed(())) | Err(Error::Busy) => {}
            Ok(Fenced::Lost(_)) => drop(self.leases.remove(&r)),
            Err(e) => panic!("fenced write failed: {e}"),
        }
    }
}

/// One execution of `plan`: every client in its own shuttle thread, then the history check.
/// Returns the checked history.
fn execute(plan: &Plan, planted: bool, seam: ShuttleSeam) -> Vec<Event> {
    let world = World::new(seam);
    world.create_protected_table();
    let threads: Vec<_> = plan
        .clients
        .iter()
        .enumerate()
        .map(|(i, ops)| {
            let mut client = Client {
                name: format!("c{i}"),
                store: world.store(),
                planted: planted.then(|| world.naive()),
                clock: Arc::clone(&world.clock),
                events: Arc::clone(&world.events),
                leases: BTreeMap::new(),
                request_ids: BTreeMap::new(),
            };
            let ops = ops.clone();
            shuttle::thread::spawn(move || ops.into_iter().for_each(|op| client.run(op)))
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread");
    }
    let mut events = world
        .events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    events.extend(world.writes());
    let violations = history::check(&events);
    let found: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "violation: {}", found.join("; "));
    events
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plans() -> u32 {
    u32::try_from(env_or("LEASEHOLD_SHUTTLE_PLANS", 16)).unwrap_or(u32::MAX)
}

fn executions() -> usize {
    env_or("LEASEHOLD_SHUTTLE_EXECUTIONS", 64)
}

const REAL: ShuttleSeam = ShuttleSeam { always_busy: false };

fn run_random(plan: Plan, planted: bool, executions: usize) -> usize {
    run_with(RandomScheduler::new(executions), plan, planted, REAL)
}

fn run_pct(plan: Plan, planted: bool, executions: usize) -> usize {
    run_with(PctScheduler::new(3, executions), plan, planted, REAL)
}

/// Runs `plan` under `scheduler`, then checks that the executions made progress: a plan in which
/// some client acquires must see grants, and one in which a holder writes or releases, fenced
/// writes and ended leases. A store that answered every statement with a busy error (whose
/// operations the clients must tolerate) would otherwise pass with an empty history.
fn run_with(
    scheduler: impl shuttle::scheduler::Scheduler + 'static,
    plan: Plan,
    planted: bool,
    seam: ShuttleSeam,
) -> usize {
    let seen: Arc<Mutex<[usize; 3]>> = Arc::default();
    let tally = Arc::clone(&seen);
    let runner = shuttle::Runner::new(scheduler, shuttle::Config::default());
    let expects = expected_progress(&plan);
    let done = runner.run(move || {
        let events = execute(&plan, planted, seam);
        let mut seen = tally.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            match event {
                Event::Granted { .. } => seen[0] += 1,
                Event::Wrote { .. } => seen[1] += 1,
                Event::ReleaseAnswered { ended: true, .. } => seen[2] += 1,
                _ => {}
            }
        }
    });
    let seen = *seen.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        seen[0] >= expects[0] && seen[1] >= expects[1] && seen[2] >= expects[2],
        "the executions made no progress: grants, fenced writes, releases {seen:?}, \
         expected at least {expects:?}"
    );
    done
}

/// What every execution of `plan` makes at least: one grant if some client acquires (the first
/// attempt on a fresh database finds every resource free); fenced writes and releases are not
/// certain in any one schedule, so they are asked of the whole run only when a client's first
/// operation acquires and its second writes or releases the same resource (nothing can take the
/// lease away in between: the clock does not move unless a client ticks it, and ttls are 3 ticks).
fn expected_progress(plan: &Plan) -> [usize; 3] {
    let acquires = plan.clients.iter().any(|ops| {
        ops.iter()
            .any(|op| matches!(op, Op::Acquire(_) | Op::Retry(_)))
    });
    let first_two = |second: fn(&Op, u8) -> bool| {
        plan.clients.iter().any(|ops| match ops.as_slice() {
            [Op::Acquire(r), op, ..] => second(op, *r),
            _ => false,
        })
    };
    [
        usize::from(acquires),
        usize::from(first_two(|op, r| matches!(op, Op::Write(w) if *w == r))),
        usize::from(first_two(|op, r| matches!(op, Op::Release(w) if *w == r))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: plans(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_keep_every_promise(plan in plan()) {
        prop_assert_eq!(run_random(plan, false, executions()), executions());
    }

    #[test]
    fn pct_schedules_keep_every_promise(plan in plan()) {
        prop_assert_eq!(run_pct(plan, false, executions()), executions());
    }
}

/// The harness records what it checks: over a few schedules of a plan that can produce them,
/// grants, takeovers, fenced writes and ended leases (released or evicted) all reach the history.
#[test]
fn the_harness_records_every_kind_of_event() {
    use Op::{Acquire, Evict, Release, Renew, Tick, Write};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static SEEN: [AtomicUsize; 3] = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    let holder = vec![
        Acquire(0),
        Write(0),
        Renew(0),
        Write(0),
        Release(0),
        Acquire(1),
    ];
    let other = vec![Tick, Tick, Tick, Tick, Tick, Evict(1), Acquire(1), Write(1)];
    let plan = Plan {
        clients: vec![holder, other],
    };
    shuttle::check_random(
        move || {
            for event in execute(&plan, false, REAL) {
                let kind = match event {
                    Event::Granted { .. } => 0,
                    Event::Wrote { .. } => 1,
                    Event::ReleaseAnswered { ended: true, .. } | Event::Evicted { .. } => 2,
                    _ => continue,
                };
                SEEN[kind].fetch_add(1, Relaxed);
            }
        },
        32,
    );
    let seen = SEEN.each_ref().map(|n| n.load(Relaxed));
    assert!(
        seen.iter().all(|n| *n > 0),
        "grants, writes, ended leases: {seen:?}"
    );
}

/// Two clients acquire one free lock and release it, a third ticks the clock. Both releasing
/// is the seed's case: the double grant must be seen although neither lease is left to expire.
fn race() -> Plan {
    Plan {
        clients: vec![
            vec![Op::Acquire(0), Op::Release(0)],
            vec![Op::Acquire(0), Op::Release(0)],
            vec![Op::Tick],
        ],
    }
}

/// Executions the negative controls may take to find the race. A run stops at its first failure,
/// so a generous bound costs nothing when the control works, and makes a miss by bad luck
/// vanishingly unlikely.
const CONTROL_EXECUTIONS: usize = 2_000;

fn expect_caught(run: fn(Plan, bool, usize) -> usize) {
    let caught = std::panic::catch_unwind(|| run(race(), true, CONTROL_EXECUTIONS));
    let payload = caught.expect_err("shuttle must find the double grant");
    assert_violation(payload.as_ref());
}

/// The panic is the history checker's, not some other failure.
fn assert_violation(payload: &(dyn std::any::Any + Send)) {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("violation"),
        "failed for another reason: {message}"
    );
}

/// Generated plans for the control on generated plans, and executions for each.
const CONTROL_PLANS: usize = 8;
const CONTROL_PLAN_EXECUTIONS: usize = 64;

/// The negative control on the harness as CI runs it: the same generator (a fixed seed) and the
/// same random scheduler, with the planted acquire. A race needs two clients to acquire one
/// resource, which some generated plans never do, so the control asks for a majority of plans
/// caught, not all.
#[test]
fn generated_plans_catch_the_planted_acquire() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut generator = TestRunner::deterministic();
    let mut caught = 0;
    for _ in 0..CONTROL_PLANS {
        let plan = plan().new_tree(&mut generator).expect("a plan").current();
        let run = std::panic::catch_unwind(|| run_random(plan, true, CONTROL_PLAN_EXECUTIONS));
        if let Err(payload) = run {
            assert_violation(payload.as_ref());
            caught += 1;
        }
    }
    assert!(
        2 * caught > CONTROL_PLANS,
        "the planted acquire was caught in {caught} of {CONTROL_PLANS} generated plans"
    );
}

#[test]
fn random_schedules_catch_the_planted_acquire() {
    expect_caught(run_random);
}

#[test]
fn pct_schedules_catch_the_planted_acquire() {
    expect_caught(run_pct);
}

/// The negative control of the progress check: the same harness on a store whose every statement
/// is refused as busy — the clients tolerate busy answers, so the history stays empty and the
/// history checker finds nothing wrong — must fail for lack of progress.
#[test]
fn a_store_that_is_always_busy_fails_the_progress_check() {
    let busy = ShuttleSeam { always_busy: true };
    let plan = Plan {
        clients: vec![
            vec![Op::Acquire(0), Op::Write(0), Op::Release(0)],
            vec![Op::Tick],
        ],
    };
    let run = std::panic::catch_unwind(|| run_with(RandomScheduler::new(8), plan, false, busy));
    let payload = run.expect_err("a store that never makes progress passed");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("made no progress"), "{message}");
}
