//! One run, from a fresh database to its verdict, and what the two tests assert about it.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leasehold_contract::{Acquire, LockStore};

use super::config::AcquireKind;
use super::fleet::{self, Launch, Plan, Worker};
use super::tally::Tally;
use super::verdict::{self, Verdict};
use super::{KILL_EVERY_MS, PROCESSES, RESOURCES, TTL_MS};
use crate::backend::Backend;

/// What the store's run must at least have done to count as evidence. Far below what an idle
/// 2-core machine reaches in 20 s (see the summary), so that a loaded CI machine passes too.
const MIN_GRANTS: usize = 100;
const MIN_KILLS: usize = 10;
const MIN_HOLDERS_KILLED: usize = 3;

/// A run's verdict, whether the store has fenced writes, and why workers failed (if any did).
pub(super) struct Outcome {
    pub(super) verdict: Verdict,
    pub(super) has_fence: bool,
    /// Read before the run's directory, which holds the workers' output, is removed.
    pub(super) failures: Vec<String>,
}

/// The plan of a run of `secs` seconds with workers acquiring as `acquire` says.
pub(super) fn plan(acquire: AcquireKind, secs: u64) -> Plan {
    Plan {
        acquire,
        processes: env_number("LEASEHOLD_STRESS_PROCS")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(PROCESSES),
        run_for: Duration::from_secs(secs),
        resources: RESOURCES,
        ttl_ms: TTL_MS,
        kill_every_ms: KILL_EVERY_MS,
        seed: env_number("LEASEHOLD_STRESS_SEED").unwrap_or_else(fresh_seed),
    }
}

/// A seed that differs from run to run, so that repeated runs meet different schedules.
fn fresh_seed() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    let now = now.unwrap_or_default();
    u64::from(now.subsec_nanos()) ^ now.as_secs()
}

/// The number in the environment variable `name`, if it is set.
pub(super) fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let number = value.trim().parse();
    Some(number.unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")))
}

/// The worker test's name in this test binary: `module` (a [`module_path!`]) without the
/// crate's name, which the test harness leaves out.
fn worker_test(module: &str) -> String {
    let path = module.split_once("::").map_or("", |(_crate, rest)| rest);
    if path.is_empty() {
        "worker".to_owned()
    } else {
        format!("{path}::worker")
    }
}

/// Runs `plan` on a fresh database of `backend`, prints its summary and returns its verdict.
pub(super) fn run<B: Backend>(backend: &B, plan: &Plan, module: &str) -> Outcome {
    let db = backend.database();
    let locator = backend.locator(&db).unwrap_or_else(|| {
        panic!(
            "{} cannot be opened by another process: the multi-process stress test needs \
             Backend::locator and Backend::open_located",
            backend.name()
        )
    });
    let dir = tempfile::tempdir().expect("a temporary directory for the run");
    let observer = backend.open_located(&locator);
    let has_fence = has_fence(backend, &observer);
    let launch = Launch {
        exe: std::env::current_exe().expect("the test binary's path"),
        test: worker_test(module),
        locator,
        dir: dir.path().to_owned(),
    };
    // Who holds a lease now, to aim kills at holders; a failed read only makes a kill random.
    let holders = || {
        let holders = observer.holders().unwrap_or_default();
        holders.iter().map(|h| h.owner().to_string()).collect()
    };
    let started = Instant::now();
    let workers =
        fleet::run(plan, &launch, &holders).unwrap_or_else(|e| panic!("the run failed: {e}"));
    let verdict = verdict::judge(&workers, &launch.protected())
        .unwrap_or_else(|e| panic!("reading the run's logs and resource failed: {e}"));
    report(backend.name(), plan, &verdict, started.elapsed());
    let failures = workers.iter().filter_map(Worker::failure).collect();
    if std::env::var_os("LEASEHOLD_STRESS_KEEP").is_some() {
        keep(dir, db, &launch.locator);
    }
    Outcome {
        verdict,
        has_fence,
        failures,
    }
}

/// Keeps the run's files and its database (by never dropping it) for a look afterwards.
fn keep<D>(dir: tempfile::TempDir, db: D, locator: &str) {
    let dir: PathBuf = dir.keep();
    std::mem::forget(db);
    println!(
        "kept the run's logs in {} and its database at {locator}",
        dir.display()
    );
}

/// Whether `backend` has fenced writes: asked with a lease on a resource of its own.
fn has_fence<B: Backend>(backend: &B, store: &B::Store) -> bool {
    let ttl = Duration::from_secs(60);
    let lease = match store.try_acquire("stress-probe", "supervisor", ttl) {
        Ok(Acquire::Granted(lease)) => lease,
        other => panic!("a fresh database grants its first lease: {other:?}"),
    };
    let has = backend.fenced_write(store, &lease).is_some();
    let _ = store.release(&lease);
    has
}

/// Prints the run's summary, and the overlaps by label of the store's run, which are not
/// asserted by default (see the module's docs), so that each can be looked into.
fn report(store: &str, plan: &Plan, verdict: &Verdict, took: Duration) {
    println!("{}", summary(store, plan, verdict, took));
    if plan.acquire == AcquireKind::Store && !verdict.label_violations.is_empty() {
        let labelled = list(&verdict.label_violations, 5);
        println!("overlaps when grants are dated by the store's label:\n{labelled}");
    }
}

fn summary(store: &str, plan: &Plan, verdict: &Verdict, took: Duration) -> String {
    let t = &verdict.tally;
    format!(
        "stress ({store}, {kind}, seed {seed}): {procs} processes at a time, {started} started \
         and {kills} SIGKILLed ({held} while holding a valid lease), {secs:.1} s on {res} \
         resources with TTLs of {ttl:?} ms; {grants} grants, {renewals} renewals ({lost} \
         refused), {releases} releases ({ended} ended a valid lease), {prunes} prunes ({pruned} \
         records deleted); protected resource: {wrote} writes accepted, {refused} refused; \
         store's fence: {committed} committed, {fence_lost} refused ({superseded} because \
         another client held the lease); {takeovers} takeovers after expiry ({of_killed} of a \
         killed holder's lease); {violations} violations, {discrepancies} discrepancies; \
         {labelled} violations when grants are dated by the store's label instead of their \
         receipt (longest label-to-receipt delay {delay} ms).",
        kind = plan.acquire.as_str(),
        seed = plan.seed,
        procs = plan.processes,
        started = t.started,
        kills = t.kills,
        held = t.holders_killed,
        secs = took.as_secs_f64(),
        res = plan.resources,
        ttl = plan.ttl_ms,
        grants = t.grants,
        renewals = t.renewals,
        lost = t.renewals_lost,
        releases = t.releases,
        ended = t.releases_ended,
        prunes = t.prunes,
        pruned = t.pruned_records,
        wrote = t.writes_accepted,
        refused = t.writes_refused,
        committed = t.fenced_committed,
        fence_lost = t.fenced_lost,
        superseded = t.fenced_superseded,
        takeovers = t.takeovers_after_expiry,
        of_killed = t.takeovers_of_killed,
        violations = verdict.violations.len(),
        discrepancies = verdict.discrepancies.len(),
        labelled = verdict.label_violations.len(),
        delay = t.longest_grant_delay_ms,
    )
}

/// Every worker that was not killed ran its test and passed.
pub(super) fn assert_workers_ok(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "workers failed:\n{}",
        failures.join("\n")
    );
}

/// A run that met none of the interesting cases would pass without proving anything.
pub(super) fn assert_meaningful(t: &Tally, has_fence: bool) {
    let fence = [
        (t.fenced_committed > 0, "a committed fenced write"),
        (
            t.fenced_superseded > 0,
            "a fenced write refused because another client held the lease",
        ),
    ];
    let missing: Vec<&str> = [
        (t.grants >= MIN_GRANTS, "enough grants"),
        (t.kills >= MIN_KILLS, "enough kills"),
        (
            t.holders_killed >= MIN_HOLDERS_KILLED,
            "kills of lease holders",
        ),
        (
            t.takeovers_of_killed > 0,
            "a takeover of a killed holder's lease",
        ),
        (
            t.takeovers_after_expiry > t.takeovers_of_killed,
            "other takeovers after expiry",
        ),
        (t.renewals > 0, "a renewal"),
        (t.releases_ended > 0, "a release that ended a lease"),
        (t.pruned_records > 0, "a prune that deleted a record"),
        (
            t.writes_refused > 0,
            "a write the protected resource refused",
        ),
    ]
    .into_iter()
    .chain(fence.into_iter().filter(|_| has_fence))
    .filter_map(|(met, what)| (!met).then_some(what))
    .collect();
    assert!(
        missing.is_empty(),
        "the run did not exercise: {}; {t:?}",
        missing.join(", ")
    );
}

/// The first `n` items, one per line, and how many more there are.
pub(super) fn list<T: std::fmt::Display>(items: &[T], n: usize) -> String {
    let mut lines: Vec<String> = items.iter().take(n).map(|v| format!("  {v}")).collect();
    if items.len() > n {
        lines.push(format!("  … and {} more", items.len() - n));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_test_is_named_as_the_test_harness_names_it() {
        assert_eq!(
            worker_test("sqlite::kit::suite::stress"),
            "kit::suite::stress::worker"
        );
        assert_eq!(worker_test("kit"), "worker");
    }

    #[test]
    fn a_store_that_processes_cannot_share_is_refused_by_name() {
        let refused =
            std::panic::catch_unwind(|| crate::stress::check::<crate::MemoryBackend>("kit"));
        let panic = refused.expect_err("the memory store has no locator");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("Backend::locator"), "{message}");
    }
}
