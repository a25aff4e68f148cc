//! The PostgreSQL comparison's Markdown tables (issue 12): printed after a run and written into
//! `docs/performance.md`. Every cell that comes from several rounds shows the median and, in
//! brackets, the lowest and highest round.

use std::fmt::Write as _;

use crate::contender::Contender;
use crate::locker::Durability;
use crate::plan::{GROUP_COMMIT_CLIENTS, PG_CLIENTS, RESOURCES};
use crate::report::Report;
use crate::scenario::{Runner, Scenario, Style};
use crate::summary::{Summary, median};
use crate::targets::per_round;

/// The server, its settings and the run.
#[must_use]
pub fn server(report: &Report) -> String {
    let Some(info) = &report.postgres else {
        let why = report
            .postgres_skipped
            .as_deref()
            .unwrap_or("not in this run");
        return format!("PostgreSQL scenarios not run: {why}\n");
    };
    let m = &report.machine;
    let mut out = format!(
        "| | |\n|---|---|\n| CPU | {} ({} cores) |\n| kernel | {} |\n| PostgreSQL | {} |\n\
| server | {} |\n",
        m.cpu, m.cores, m.kernel, info.version, info.source
    );
    let settings: Vec<String> = info
        .settings
        .iter()
        .map(|(k, v)| format!("`{k}={v}`"))
        .collect();
    let _ = writeln!(out, "| settings | {} |", settings.join(", "));
    let grouped: Vec<String> = info
        .group_commit
        .iter()
        .map(|(k, v)| format!("`{k}={v}`"))
        .collect();
    let grouped = if grouped.is_empty() {
        "not run (only on the bench's own cluster)".to_owned()
    } else {
        grouped.join(", ")
    };
    let _ = writeln!(out, "| group-commit sessions | {grouped} |");
    let _ = writeln!(
        out,
        "| SQLite | {} (bundled), WAL, `synchronous=FULL`, on {} |\n\
| run | `{}` — {} mode, {} round(s) of {:.2} s per scenario |",
        m.sqlite,
        m.file_system,
        report.command,
        report.mode,
        report.rounds,
        report.seconds_per_scenario
    );
    out
}

/// The PostgreSQL targets: ratio, threshold, met or missed.
#[must_use]
pub fn targets(report: &Report) -> String {
    crate::tables::targets_where(report, |name| name.starts_with("pg_"))
}

fn find(
    report: &Report,
    contender: Contender,
    d: Durability,
    clients: usize,
    resources: usize,
) -> Option<&Summary> {
    let wanted = Scenario {
        contender,
        durability: d,
        runner: Runner::Processes,
        clients,
        resources,
        style: Style::Retry,
    };
    report.scenarios.iter().find(|s| s.scenario == wanted)
}

/// The commit floors ignore the resource: they are run on one.
fn resources_of(contender: Contender, resources: usize) -> usize {
    match contender {
        Contender::PgCommitFloor | Contender::FsyncFloor => 1,
        _ => resources,
    }
}

/// `median (lowest–highest)` of `values`, with `digits` decimals; `—` for none.
fn spread(values: &[f64], digits: usize) -> String {
    if values.is_empty() {
        return "—".to_owned();
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.digits$} ({low:.digits$}–{high:.digits$})",
        median(values)
    )
}

fn cycles(s: Option<&Summary>) -> String {
    s.map_or_else(
        || "—".to_owned(),
        |s| spread(&s.rounds_cycles_per_second, 0),
    )
}

fn ratio(over: Option<&Summary>, under: Option<&Summary>) -> String {
    match (over, under) {
        (Some(over), Some(under)) => spread(&per_round(over, under), 2),
        _ => "—".to_owned(),
    }
}

/// The contenders of the throughput table, in its order.
const ROWS: [Contender; 8] = [
    Contender::PgStore,
    Contender::PgStorePrepared,
    Contender::PgFloor,
    Contender::PgFloorUnnamed,
    Contender::PgAdvisory,
    Contender::PgCommitFloor,
    Contender::SqliteStore,
    Contender::FsyncFloor,
];

/// Cycles/s of every contender at 1, 4 and 16 connections (processes for SQLite).
#[must_use]
pub fn throughput(report: &Report) -> String {
    let mut out = String::from("| resources | contender |");
    for n in PG_CLIENTS {
        let _ = write!(out, " {n} |");
    }
    out.push_str("\n|---:|---|");
    out.push_str(&"---:|".repeat(PG_CLIENTS.len()));
    out.push('\n');
    for resources in RESOURCES {
        for c in ROWS {
            let shown = if resources_of(c, resources) == resources {
                resources.to_string()
            } else {
                "any".to_owned()
            };
            if shown == "any" && resources != 1 {
                continue;
            }
            let _ = write!(out, "| {shown} | {} |", c.name());
            for n in PG_CLIENTS {
                let s = find(report, c, Durability::Full, n, resources_of(c, resources));
                let _ = write!(out, " {} |", cycles(s));
            }
            out.push('\n');
        }
    }
    out
}

/// The ratios of the comparison, per round: the store against its floor, against advisory
/// locks and against the commit floor; the bound (commit floor ÷ advisory); PostgreSQL against
/// SQLite.
#[must_use]
pub fn ratios(report: &Report) -> String {
    let mut out = String::from(
        "| connections | resources | PgStore ÷ floor | PgStore ÷ unnamed floor | unnamed ÷ prepared floor | prepared PgStore ÷ floor | PgStore ÷ advisory | bound: commit floor ÷ advisory | PgStore ÷ commit floor | PgStore ÷ SqliteStore | pg commit floor ÷ SQLite fsync floor |\n\
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let d = Durability::Full;
    for resources in RESOURCES {
        for n in PG_CLIENTS {
            let at = |c: Contender| find(report, c, d, n, resources_of(c, resources));
            let store = at(Contender::PgStore);
            let commit = at(Contender::PgCommitFloor);
            let advisory = at(Contender::PgAdvisory);
            let (floor, unnamed) = (at(Contender::PgFloor), at(Contender::PgFloorUnnamed));
            let _ = writeln!(
                out,
                "| {n} | {resources} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                ratio(store, floor),
                ratio(store, unnamed),
                ratio(unnamed, floor),
                ratio(at(Contender::PgStorePrepared), floor),
                ratio(store, advisory),
                ratio(commit, advisory),
                ratio(store, commit),
                ratio(store, at(Contender::SqliteStore)),
                ratio(commit, at(Contender::FsyncFloor)),
            );
        }
    }
    out
}

/// Acquire latency at one connection: what one operation costs, commit included.
#[must_use]
pub fn latency(report: &Report) -> String {
    let mut out =
        String::from("| contender | acquire p50 µs | p99 µs | max µs |\n|---|---:|---:|---:|\n");
    for c in ROWS {
        if let Some(s) = find(report, c, Durability::Full, 1, 1) {
            let l = s.acquire_latency;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {:.0} |",
                c.name(),
                l.p50_us,
                l.p99_us,
                l.max_us
            );
        }
    }
    out
}

/// At 16 connections, every PostgreSQL contender with and without group commit.
#[must_use]
pub fn group_commit(report: &Report) -> String {
    let n = GROUP_COMMIT_CLIENTS;
    let mut out = String::from(
        "| resources | contender | cycles/s, defaults | cycles/s, group commit | group commit ÷ defaults |\n\
|---:|---|---:|---:|---:|\n",
    );
    for resources in RESOURCES {
        for c in Contender::POSTGRES {
            if resources_of(c, resources) != resources {
                continue;
            }
            let plain = find(report, c, Durability::Full, n, resources);
            let grouped = find(report, c, Durability::GroupCommit, n, resources);
            let _ = writeln!(
                out,
                "| {resources} | {} | {} | {} | {} |",
                c.name(),
                cycles(plain),
                cycles(grouped),
                ratio(grouped, plain)
            );
        }
    }
    let at = |d| {
        let store = find(report, Contender::PgStore, d, n, 64);
        (
            ratio(store, find(report, Contender::PgAdvisory, d, n, 64)),
            ratio(store, find(report, Contender::PgFloor, d, n, 64)),
        )
    };
    let ((plain_adv, plain_floor), (group_adv, group_floor)) =
        (at(Durability::Full), at(Durability::GroupCommit));
    let _ = write!(
        out,
        "\nAt {n} connections, 64 resources: PgStore ÷ advisory {plain_adv} with the defaults, \
{group_adv} with group commit; PgStore ÷ floor {plain_floor} and {group_floor}.\n"
    );
    out
}
