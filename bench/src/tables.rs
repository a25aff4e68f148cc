//! Markdown tables of a [`Report`]: printed after a run and written into `docs/performance.md`.

use std::fmt::Write as _;

use crate::contender::Contender;
use crate::locker::Durability;
use crate::plan::{POINTS, RESOURCES};
use crate::report::Report;
use crate::scenario::{Runner, Style};
use crate::summary::Summary;

/// The machine and the command.
#[must_use]
pub fn machine(report: &Report) -> String {
    let m = &report.machine;
    format!(
        "| | |\n|---|---|\n| CPU | {} ({} cores) |\n| kernel | {} |\n| SQLite | {} (bundled), WAL |\n\
| file system | {} |\n| run | `{}` — {} mode, {} round(s) of {:.2} s per scenario |\n",
        m.cpu,
        m.cores,
        m.kernel,
        m.sqlite,
        m.file_system,
        report.command,
        report.mode,
        report.rounds,
        report.seconds_per_scenario
    )
}

/// Every SQLite target: the ratio, the least it should be, met or missed.
#[must_use]
pub fn targets(report: &Report) -> String {
    targets_where(report, |name| !name.starts_with("pg_"))
}

/// The targets whose names `keep` accepts.
pub(crate) fn targets_where(report: &Report, keep: impl Fn(&str) -> bool) -> String {
    let mut out = String::from("| target | ratio | needed | |\n|---|---:|---:|---|\n");
    let kept = report.ratios.iter().filter(|(name, _)| keep(name));
    for (_, ratio) in kept {
        let value = ratio
            .value
            .map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"));
        let verdict = if ratio.met { "met" } else { "**missed**" };
        let bound = if ratio.at_most { "≤" } else { "≥" };
        let _ = writeln!(
            out,
            "| {} | {value} | {bound} {:.2} | {verdict} |",
            ratio.what, ratio.target
        );
    }
    out
}

/// One process alone: throughput and acquire latency of every contender in both modes.
#[must_use]
pub fn single(report: &Report) -> String {
    let mut out = String::from(
        "| contender | durability | cycles/s | acquire p50 µs | p99 µs | max µs |\n\
|---|---|---:|---:|---:|---:|\n",
    );
    for d in Durability::ALL {
        for c in Contender::SQLITE {
            let found = report.select(|s| {
                let sc = s.scenario;
                sc.contender == c
                    && sc.durability == d
                    && sc.clients == 1
                    && sc.resources == 1
                    && sc.style == Style::Retry
            });
            for s in found {
                let l = s.acquire_latency;
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.1} | {:.1} | {:.0} |",
                    c.name(),
                    d.name(),
                    s.cycles_per_second,
                    l.p50_us,
                    l.p99_us,
                    l.max_us
                );
            }
        }
    }
    out
}

/// Cycles per second of every lock at every point of `runner` (the one-client column is the
/// single process).
#[must_use]
pub fn throughput(report: &Report, runner: Runner) -> String {
    let points: Vec<_> = POINTS
        .iter()
        .filter(|(r, n)| *r == runner || *n == 1)
        .collect();
    let mut out = String::from("| durability | resources | contender |");
    for (_, n) in &points {
        let _ = write!(out, " {n} |");
    }
    out.push_str("\n|---|---:|---|");
    out.push_str(&"---:|".repeat(points.len()));
    out.push('\n');
    for d in Durability::ALL {
        for resources in RESOURCES {
            for c in Contender::LOCKS {
                let _ = write!(out, "| {} | {resources} | {} |", d.name(), c.name());
                for &&(r, n) in &points {
                    let cell = find(report, c, d, r, n, resources, Style::Retry)
                        .map_or_else(|| "—".to_owned(), |s| format!("{:.0}", s.cycles_per_second));
                    let _ = write!(out, " {cell} |");
                }
                out.push('\n');
            }
        }
    }
    out
}

/// Every scenario with every figure.
#[must_use]
pub fn detail(report: &Report) -> String {
    let mut out = String::from(
        "| scenario | cycles/s | p50 µs | p99 µs | max µs | min/mean | max/mean | Jain | busy tries | double grants | busy errors |\n\
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &report.scenarios {
        let (l, sp) = (s.acquire_latency, s.spread);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2} | {:.3} | {} | {} | {} |",
            s.scenario.label(),
            s.cycles_per_second,
            l.p50_us,
            l.p99_us,
            l.max_us,
            sp.min_over_mean,
            sp.max_over_mean,
            sp.jain,
            s.busy_attempts,
            s.double_grants,
            s.busy_errors
        );
    }
    out
}

/// The most contended point, 8 clients on one resource: spread of grants and double grants.
#[must_use]
pub fn contention(report: &Report) -> String {
    let mut out = String::from(
        "| contender | durability | clients | cycles/s | acquire p99 µs | min/mean | max/mean | Jain | starved | double grants |\n\
|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for d in Durability::ALL {
        for runner in [Runner::Processes, Runner::Threads] {
            for c in Contender::LOCKS {
                if let Some(s) = find(report, c, d, runner, 8, 1, Style::Retry) {
                    out.push_str(&spread_row(c.name(), s));
                }
            }
        }
    }
    out
}

/// The hot resource held 200 µs at a time by waiting clients, with the shared line and
/// without: wait-to-grant, hand-over and spread.
#[must_use]
pub fn holding(report: &Report) -> String {
    let mut out = String::from(
        "| durability | clients | line | cycles/s | wait p50 µs | p99 µs | max µs | hand-over p50 µs | p99 µs | max µs | barges | min/mean | Jain |\n\
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in report.select(|s| s.scenario.style.holds()) {
        let (l, sp) = (s.acquire_latency, s.spread);
        let line = if s.scenario.style == Style::Hold {
            "shared"
        } else {
            "none (polling)"
        };
        let h = s.handoff.map_or_else(
            || "— | — | — | —".to_owned(),
            |h| {
                format!(
                    "{:.0} | {:.0} | {:.0} | {:.3}",
                    h.p50_us, h.p99_us, h.max_us, h.barge_share
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {line} | {:.0} | {:.0} | {:.0} | {:.0} | {h} | {:.2} | {:.3} |",
            s.scenario.durability.name(),
            clients(s),
            s.cycles_per_second,
            l.p50_us,
            l.p99_us,
            l.max_us,
            sp.min_over_mean,
            sp.jain,
        );
    }
    out
}

/// Single operations on two resources: each operation's latency.
#[must_use]
pub fn mixed(report: &Report) -> String {
    let mut out = String::from(
        "| durability | clients | write line | operations/s | operation | p50 µs | p99 µs | max µs | p99 ÷ p50 | busy errors |\n\
|---|---|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for s in report.select(|s| s.scenario.style.mixes()) {
        let line = if s.scenario.style == Style::Mixed {
            "shared"
        } else {
            "none (blind)"
        };
        let all = s.all_operations.iter().map(|l| ("all", l));
        let each = s.operations.iter().map(|(name, l)| (name.as_str(), l));
        for (name, l) in each.chain(all) {
            let _ = writeln!(
                out,
                "| {} | {} | {line} | {:.0} | {name} | {:.1} | {:.1} | {:.0} | {:.1} | {} |",
                s.scenario.durability.name(),
                clients(s),
                s.cycles_per_second,
                l.p50_us,
                l.p99_us,
                l.max_us,
                l.p99_us / l.p50_us.max(1e-3),
                s.busy_errors
            );
        }
    }
    out
}

/// `SqliteStore::acquire(.., wait)` on the hot resource: wait-to-grant latency and spread.
#[must_use]
pub fn wait(report: &Report) -> String {
    let mut out = String::from(
        "| durability | clients | cycles/s | wait p50 µs | p99 µs | max µs | min/mean | Jain | starved |\n\
|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in report.select(|s| s.scenario.style == Style::Wait) {
        let (l, sp) = (s.acquire_latency, s.spread);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.3} | {} |",
            s.scenario.durability.name(),
            clients(s),
            s.cycles_per_second,
            l.p50_us,
            l.p99_us,
            l.max_us,
            sp.min_over_mean,
            sp.jain,
            sp.starved_clients
        );
    }
    out
}

fn spread_row(name: &str, s: &Summary) -> String {
    let sp = s.spread;
    format!(
        "| {name} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.3} | {} | {} |\n",
        s.scenario.durability.name(),
        clients(s),
        s.cycles_per_second,
        s.acquire_latency.p99_us,
        sp.min_over_mean,
        sp.max_over_mean,
        sp.jain,
        sp.starved_clients,
        s.double_grants
    )
}

fn clients(s: &Summary) -> String {
    let unit = match (s.scenario.runner, s.scenario.clients) {
        (_, 1) => "process",
        (Runner::Processes, _) => "processes",
        (Runner::Threads, _) => "threads",
    };
    format!("{} {unit}", s.scenario.clients)
}

fn find(
    report: &Report,
    contender: Contender,
    durability: Durability,
    runner: Runner,
    clients: usize,
    resources: usize,
    style: Style,
) -> Option<&Summary> {
    // One client is run once, as a process: it is the first column of both runners' tables.
    let runner = if clients == 1 {
        Runner::Processes
    } else {
        runner
    };
    report.scenarios.iter().find(|s| {
        let sc = s.scenario;
        (
            sc.contender,
            sc.durability,
            sc.runner,
            sc.clients,
            sc.resources,
            sc.style,
        ) == (contender, durability, runner, clients, resources, style)
    })
}
