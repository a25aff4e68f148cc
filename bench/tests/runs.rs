//! End to end: the bench binary's worker processes run real scenarios, and the witness sees the
//! check-then-act store's double grants (the negative control) but none of the correct locks',
//! the PostgreSQL contenders' included (on a throwaway cluster: the test needs the server
//! programs).

use std::path::Path;
use std::time::Duration;

use leasehold_bench::run::run_scenario;
use leasehold_bench::scenario::{ClientResult, Runner, Scenario, Style};
use leasehold_bench::server::{Found, Postgres};
use leasehold_bench::{Contender, Durability};

fn run(contender: Contender, runner: Runner, clients: usize, style: Style) -> Vec<ClientResult> {
    let exe = Path::new(env!("CARGO_BIN_EXE_leasehold-bench"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scenario = Scenario {
        contender,
        durability: Durability::Relaxed,
        runner,
        clients,
        resources: 1,
        style,
    };
    run_scenario(exe, dir.path(), None, &scenario, Duration::from_millis(300)).expect("the run")
}

#[test]
fn processes_and_threads_of_the_store_all_get_grants_and_never_a_double_one() {
    for (runner, style) in [
        (Runner::Processes, Style::Retry),
        (Runner::Threads, Style::Retry),
        (Runner::Processes, Style::Wait),
    ] {
        let results = run(Contender::SqliteStore, runner, 3, style);
        assert_eq!(results.len(), 3, "{runner:?}");
        assert!(
            results.iter().map(|r| r.grants).sum::<u64>() > 0,
            "{runner:?}"
        );
        assert!(results.iter().all(|r| r.double_grants == 0), "{results:?}");
    }
}

/// The seed's check-then-act grants a held lease now and then; over a few attempts the witness
/// must catch it (each run gives the race thousands of chances). The attempts stop at the first
/// catch, so a generous bound costs nothing when the witness works; on a machine loaded by other
/// builds, five were once not enough.
#[test]
fn the_witness_counts_the_check_then_act_double_grants() {
    let caught = (0..20).any(|_| {
        run(Contender::CheckThenAct, Runner::Threads, 4, Style::Retry)
            .iter()
            .any(|r| r.double_grants > 0)
    });
    assert!(
        caught,
        "no double grant seen in twenty runs of the racy store"
    );
}

/// Every PostgreSQL contender, in both server modes, makes progress on a hot resource and never
/// grants twice.
#[test]
fn every_postgres_contender_grants_on_its_own_connections_and_never_twice() {
    let postgres = match Postgres::find(None).expect("the throwaway cluster starts") {
        Found::Ready(postgres) => *postgres,
        Found::Missing(why) => panic!("this test needs PostgreSQL: {why}"),
    };
    assert_eq!(postgres.info.settings["fsync"], "on");
    assert_eq!(postgres.info.settings["synchronous_commit"], "on");
    assert_eq!(postgres.info.group_commit["commit_siblings"], "2");
    let exe = Path::new(env!("CARGO_BIN_EXE_leasehold-bench"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    for durability in [Durability::Full, Durability::GroupCommit] {
        for contender in Contender::POSTGRES {
            let scenario = Scenario {
                contender,
                durability,
                runner: Runner::Processes,
                clients: 3,
                resources: 1,
                style: Style::Retry,
            };
            let results = run_scenario(
                exe,
                dir.path(),
                Some(&postgres),
                &scenario,
                Duration::from_millis(300),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", scenario.label()));
            assert_eq!(results.len(), 3, "{}", scenario.label());
            assert!(
                results.iter().map(|r| r.grants).sum::<u64>() > 0,
                "{}: {results:?}",
                scenario.label()
            );
            assert!(
                results.iter().all(|r| r.double_grants == 0),
                "{}: {results:?}",
                scenario.label()
            );
        }
    }
}
