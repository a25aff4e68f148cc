//! `leasehold-bench`: the multi-process and multi-thread benchmarks, their target ratios, JSON,
//! plots and the tables of `docs/performance.md`. `--help` lists the options.

use std::collections::BTreeMap;
use std::io::{BufReader, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use leasehold_bench::machine::Machine;
use leasehold_bench::plan::Plan;
use leasehold_bench::report::Report;
use leasehold_bench::run::{WORKER_ARG, run_scenario};
use leasehold_bench::scenario::{ClientResult, Scenario};
use leasehold_bench::server::{Found, Postgres};
use leasehold_bench::summary::Summary;
use leasehold_bench::worker::{WorkerOrder, serve};
use leasehold_bench::{BenchError, Durability, pg_tables, tables};

mod args;
mod docs;
mod pg_plots;
mod plots;

use args::Args;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match argv.first().map(String::as_str) {
        Some(WORKER_ARG) => worker(&argv[1..]),
        _ => Args::parse(&argv).and_then(|args| bench(&args)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leasehold-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn worker(argv: &[String]) -> Result<(), BenchError> {
    let order: WorkerOrder = serde_json::from_str(argv.first().map_or("", String::as_str))?;
    let stdin = std::io::stdin();
    serve(
        &order,
        &mut BufReader::new(stdin.lock()),
        &mut std::io::stdout().lock(),
    )
}

fn bench(args: &Args) -> Result<(), BenchError> {
    if args.help {
        print!("{}", args::USAGE);
        return Ok(());
    }
    let plan = args.plan();
    if let Some(path) = &args.check {
        return check(path, &plan);
    }
    let started = Instant::now();
    let (plan, postgres, skipped) = server(plan, args)?;
    let summaries = measure(&plan, args, postgres.as_ref())?;
    let machine = Machine::read(&args.dir);
    let mut report = Report::new(&plan, args.command(), machine, summaries);
    report.postgres = postgres.as_ref().map(|p| p.info.clone());
    report.postgres_skipped = skipped;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report)?;
    }
    if args.write_docs {
        plots::write_all(&report, &args.docs.join("performance"))?;
        pg_plots::write(&report, &args.docs.join("performance"))?;
        docs::update(&report, &args.docs.join("performance.md"), args.model)?;
    }
    eprintln!(
        "leasehold-bench: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The server for the plan's PostgreSQL scenarios, if it has any: without one (no URL, no
/// server programs) they are dropped from the plan, and the one line saying why is printed and
/// kept for the report. Without the bench's own cluster, the group-commit scenarios are dropped
/// too (they change a server setting).
fn server(
    mut plan: Plan,
    args: &Args,
) -> Result<(Plan, Option<Postgres>, Option<String>), BenchError> {
    if !plan.scenarios.iter().any(|s| s.contender.is_postgres()) {
        return Ok((plan, None, None));
    }
    match Postgres::find(args.postgres_url.as_deref())? {
        Found::Ready(postgres) => {
            if !postgres.runs_group_commit() {
                eprintln!(
                    "leasehold-bench: group-commit scenarios skipped: they need the bench's own cluster"
                );
                plan.scenarios
                    .retain(|s| s.durability != Durability::GroupCommit);
            }
            Ok((plan, Some(*postgres), None))
        }
        Found::Missing(why) => {
            eprintln!("leasehold-bench: PostgreSQL scenarios skipped: {why}");
            plan.scenarios.retain(|s| !s.contender.is_postgres());
            Ok((plan, None, Some(why)))
        }
    }
}

/// Runs every scenario of `plan`, round after round, and reduces each to its summary.
fn measure(
    plan: &Plan,
    args: &Args,
    postgres: Option<&Postgres>,
) -> Result<Vec<Summary>, BenchError> {
    let exe = std::env::current_exe()?;
    let mut rounds: BTreeMap<Scenario, Vec<Vec<ClientResult>>> = BTreeMap::new();
    let total = plan.rounds * plan.scenarios.len();
    // A progress line only where someone watches it; CI logs get the summary alone.
    let progress = std::io::stderr().is_terminal();
    for round in 0..plan.rounds {
        // Every other round runs the grid backwards, so that no contender always runs first
        // (or always just after another) at its point.
        let order: Vec<&Scenario> = if round % 2 == 0 {
            plan.scenarios.iter().collect()
        } else {
            plan.scenarios.iter().rev().collect()
        };
        for (i, scenario) in order.into_iter().enumerate() {
            let done = round * plan.scenarios.len() + i + 1;
            if progress {
                eprint!("\r[{done}/{total}] {:<48}", scenario.label());
            }
            let results = run_scenario(&exe, &args.dir, postgres, scenario, plan.duration)?;
            rounds.entry(*scenario).or_default().push(results);
        }
    }
    if progress {
        eprintln!();
    }
    Ok(plan
        .scenarios
        .iter()
        .map(|s| Summary::new(*s, &rounds[s]))
        .collect())
}

/// Checks a saved `--json` report against the plan the same options give: every contender,
/// ratio and scenario present and well-formed. No speed is checked.
fn check(path: &std::path::Path, plan: &Plan) -> Result<(), BenchError> {
    let report: Report = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    leasehold_bench::report::check_complete(&report, plan).map_err(BenchError::Protocol)?;
    println!(
        "leasehold-bench: {} is well-formed: {} contenders, {} ratios, {} scenarios",
        path.display(),
        report.contenders.len(),
        report.ratios.len(),
        report.scenarios.len()
    );
    Ok(())
}

fn print_tables(report: &Report) -> Result<(), BenchError> {
    use leasehold_bench::scenario::Runner;
    let mut out = std::io::stdout().lock();
    let sections = [
        ("Targets", tables::targets(report)),
        ("One process", tables::single(report)),
        (
            "Processes: cycles/s",
            tables::throughput(report, Runner::Processes),
        ),
        (
            "Threads: cycles/s",
            tables::throughput(report, Runner::Threads),
        ),
        (
            "Contention: 8 clients, one resource",
            tables::contention(report),
        ),
        ("SqliteStore::acquire(.., wait)", tables::wait(report)),
        ("Holding a hot lease 200 µs", tables::holding(report)),
        ("Mixed operations, 2 resources", tables::mixed(report)),
    ];
    let sqlite = docs::has_sqlite(report);
    for (title, table) in sections.into_iter().filter(|_| sqlite) {
        writeln!(out, "## {title}\n\n{table}")?;
    }
    if docs::has_postgres(report) {
        let postgres = [
            ("PostgreSQL: server", pg_tables::server(report)),
            ("PostgreSQL: targets", pg_tables::targets(report)),
            ("PostgreSQL: cycles/s", pg_tables::throughput(report)),
            ("PostgreSQL: ratios", pg_tables::ratios(report)),
            ("PostgreSQL: one connection", pg_tables::latency(report)),
            ("PostgreSQL: group commit", pg_tables::group_commit(report)),
        ];
        for (title, table) in postgres {
            writeln!(out, "## {title}\n\n{table}")?;
        }
    } else if let Some(why) = &report.postgres_skipped {
        writeln!(out, "## PostgreSQL\n\nnot run: {why}")?;
    }
    Ok(())
}
