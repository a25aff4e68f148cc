//! Multi-process stress with kills: many OS processes share one database of the store under
//! test while a supervisor SIGKILLs them, and the [history checker](crate::history) judges what
//! every client was told. [`store_suite!`](crate::store_suite) runs it for every store
//! ([`stress_suite!`](crate::stress_suite)); the workers are the suite's own test binary, run
//! again as its ignored `worker` test.
//!
//! # What it establishes
//!
//! For a [`Backend`]'s store opened as users open it ([`Backend::open_located`]: the real clock,
//! default settings), with [`PROCESSES`] worker processes doing random acquires (one try, or
//! waiting), renewals and releases (by lease or by token), prunes, and writes — through the
//! store's own fenced write if it has one ([`Backend::fenced_write`]), and to a protected
//! resource of the kit's own, a file that refuses tokens older than the newest it accepted —
//! on [`RESOURCES`] resources, while the supervisor SIGKILLs random workers, lease holders half
//! of the time, and starts replacements under new client names, the run's history keeps, per
//! resource and on the store's clock:
//!
//! - **no two clients hold valid leases at once**: every grant reached its holder at or after
//!   the moment each earlier lease was certainly over — its latest logged expiry, or the clock
//!   reading its holder took before a release that may have ended it, if sooner (a release
//!   answered `Expired`, `NotHolder` or an error did not end it); in particular **a killed
//!   holder's lease is granted again only after it expired**;
//! - **tokens strictly increase and never repeat**, prunes running concurrently notwithstanding;
//! - **the protected resource accepted tokens in order**, each from the client it was granted
//!   to, and holds every write a worker was told it accepted;
//! - **the store's fence refused what it had to**: no fenced write committed that started at or
//!   after its lease's expiry (holders deliberately oversleep some), or after a newer lease of
//!   the resource had been received by its holder;
//! - every worker that was not killed exited cleanly.
//!
//! A run must also have **exercised** the cases it claims: enough grants, kills of processes
//! that held a valid lease at the time, takeovers after expiry (some of a killed holder's
//! lease), renewals, releases that ended a lease, prunes that deleted records, writes the
//! protected resource refused, and, for a store with fenced writes, fenced writes committed and
//! refused because another client held the lease.
//!
//! The **negative control** runs the same harness with workers acquiring through a planted
//! check-then-act acquire made of the store's own operations (read the holder; if none, pause,
//! then evict whoever came meanwhile and acquire). It needs nothing of the store beyond the
//! contract, so every store has it; it must be caught (overlapping leases).
//!
//! ## When a grant starts
//!
//! A store labels a grant `acquired_at` with its statement's clock reading; the grant takes
//! effect when the statement commits. The asserted check dates each grant by its **receipt**:
//! the holder's reading of the same clock right after the call returned, which bounds the commit
//! from above, so a reported overlap is a real one. Overlaps by label are counted in the
//! summary ("violations when grants are dated by the store's label") and asserted with
//! `LEASEHOLD_STRESS_STRICT=1`; a label taken by a worker the operating system then deschedules
//! before its statement runs can make that count report an overlap that did not happen.
//!
//! # Bounds
//!
//! [`PROCESSES`] (8) workers at a time on [`RESOURCES`] (3) resources, TTLs from [`TTL_MS`]
//! (20–200 ms), a kill every [`KILL_EVERY_MS`] (100–500 ms, about 3 a second). The suite runs the
//! store for [`STORE_SECS`] (20 s) and the negative control for [`CONTROL_SECS`] (8 s); the two
//! take turns, so the pair costs about 30 s of wall time.
//!
//! # What it cannot establish
//!
//! - It samples interleavings, it does not enumerate them: a run that passes shows no bug was
//!   met.
//! - SIGKILL is a process crash. An operating-system crash or power loss is not simulated, and
//!   the store's server (if it has one) is not killed.
//! - One host, one wall clock: the harness reads the host's clock as the store's clock, which
//!   holds for SQLite and for a database server on the same host. A clock stepped backwards
//!   during a run could report an overlap that did not happen.
//! - The logs hold what clients were told. A worker killed between the store's answer and its
//!   log line loses that event, so the checker judges a partial history (it is sound for those,
//!   but a lease nobody logged cannot be part of a reported overlap). Accepted writes do not
//!   depend on the logs: the protected resource's file is read whole.
//! - Dating grants by receipt misses an overlap shorter than the delay between a grant's commit
//!   and its holder's clock reading (normally well under a millisecond; a descheduled worker
//!   makes it longer).
//! - The protected resource knows only tokens: it accepts a stale holder's write until the new
//!   holder has written. That is what fencing with tokens promises; the store's own fenced write
//!   (checked against the lease itself) is held to more.
//! - The negative-control workers pause up to a few milliseconds between the planted read and
//!   write so that its race shows within seconds; the store's acquire gets no such help.
//! - How many cases a run meets depends on the machine's load; what it judges does not.
//!
//! # Running the long version
//!
//! ```text
//! LEASEHOLD_STRESS_SECS=600 cargo test -p leasehold-sqlite --test sqlite stress -- --nocapture
//! ```
//!
//! `LEASEHOLD_STRESS_SECS` sets the store's run (the negative control stays at 8 s),
//! `LEASEHOLD_STRESS_PROCS` the number of workers, `LEASEHOLD_STRESS_SEED` the supervisor's seed
//! (printed in every summary; it fixes the random choices, not the timing),
//! `LEASEHOLD_STRESS_STRICT=1` also asserts no overlap by label, and `LEASEHOLD_STRESS_KEEP=1`
//! keeps the run's files and database and prints where they are.

mod config;
mod fleet;
mod log;
mod protected;
mod rng;
mod run;
mod tally;
mod verdict;
mod worker;

use std::ops::RangeInclusive;
use std::sync::{Mutex, PoisonError};

use crate::backend::Backend;
use crate::history::Violation;
use config::{AcquireKind, WORKER_ENV, WorkerConfig};
use run::{assert_meaningful, assert_workers_ok, list, plan};

/// Workers running at a time.
pub const PROCESSES: usize = 8;
/// Resources they contend for.
pub const RESOURCES: u64 = 3;
/// Lease TTLs, milliseconds: short, so that expiry, renewal and takeover happen many times.
pub const TTL_MS: RangeInclusive<u64> = 20..=200;
/// The pause between two kills, milliseconds.
pub const KILL_EVERY_MS: RangeInclusive<u64> = 100..=500;
/// The store's run in the suite, seconds (`LEASEHOLD_STRESS_SECS` overrides it).
pub const STORE_SECS: u64 = 20;
/// The negative control's run, seconds.
pub const CONTROL_SECS: u64 = 8;

/// The store's run and the negative control take turns: each has the machine's cores to itself
/// (as far as the rest of the suite lets it), and each summary describes one harness alone.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the stress test on `B`'s store and asserts that it kept every promise and made
/// progress. `module` is the [`module_path!`] of the module that holds the worker test
/// ([`stress_suite!`](crate::stress_suite) passes it).
///
/// # Panics
///
/// On a broken promise, a failed worker, a run that did not exercise what it claims, or a
/// backend without [`Backend::locator`].
pub fn check<B: Backend>(module: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let secs = run::env_number("LEASEHOLD_STRESS_SECS").unwrap_or(STORE_SECS);
    let backend = B::default();
    let outcome = run::run(&backend, &plan(AcquireKind::Store, secs), module);
    let verdict = &outcome.verdict;
    assert_workers_ok(&outcome.failures);
    assert!(
        verdict.violations.is_empty(),
        "{} broke its promises under kills:\n{}",
        backend.name(),
        list(&verdict.violations, 20)
    );
    assert!(
        verdict.discrepancies.is_empty(),
        "the logs, the protected resource and the store's fence disagree:\n{}",
        list(&verdict.discrepancies, 20)
    );
    if std::env::var_os("LEASEHOLD_STRESS_STRICT").is_some() {
        assert!(
            verdict.label_violations.is_empty(),
            "grants dated by the store's label overlap earlier leases:\n{}",
            list(&verdict.label_violations, 20)
        );
    }
    assert_meaningful(&verdict.tally, outcome.has_fence);
}

/// The negative control: the same harness, with workers acquiring through the planted
/// check-then-act acquire on `B`'s store, must find overlapping leases.
///
/// # Panics
///
/// When it finds none, or a worker failed.
pub fn control<B: Backend>(module: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let plan = plan(AcquireKind::CheckThenAct, CONTROL_SECS);
    let outcome = run::run(&B::default(), &plan, module);
    assert_workers_ok(&outcome.failures);
    let overlaps = outcome.verdict.violations.iter();
    let overlaps: Vec<&Violation> = overlaps
        .filter(|v| matches!(v, Violation::Overlap { .. }))
        .collect();
    assert!(
        !overlaps.is_empty(),
        "the stress harness did not catch the planted check-then-act acquire in {CONTROL_SECS} s \
         ({} other violations)",
        outcome.verdict.violations.len()
    );
    println!("caught, for example:\n{}", list(&overlaps, 5));
}

/// The worker process: runs the worker the supervisor's config file describes, when this
/// process was started as one (the environment names the file); otherwise does nothing.
///
/// # Panics
///
/// When the config cannot be read or the worker fails: the supervisor reports it.
pub fn worker<B: Backend>() {
    let Some(path) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading the worker config {}: {e}", path.display()));
    let config = WorkerConfig::from_text(&text).unwrap_or_else(|e| panic!("{e}"));
    let client = config.client.clone();
    if let Err(e) = worker::run(&B::default(), config) {
        panic!("stress worker {client}: {e}");
    }
}

/// The stress test's part of [`store_suite!`](crate::store_suite), in a module named `stress`:
/// the store's run, the negative control, and the ignored `worker` test that the supervisor
/// starts as each worker process.
///
/// ```ignore
/// leasehold_kit::stress_suite!(my_tests::SqliteBackend);
/// ```
#[macro_export]
macro_rules! stress_suite {
    ($backend:ty) => {
        mod stress {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn keeps_its_promises_under_kills() {
                $crate::stress::check::<$backend>(module_path!());
            }

            #[test]
            fn a_check_then_act_acquire_is_caught_under_kills() {
                $crate::stress::control::<$backend>(module_path!());
            }

            #[test]
            #[ignore = "a worker process of the stress test: the stress test starts it"]
            fn worker() {
                $crate::stress::worker::<$backend>();
            }
        }
    };
}
