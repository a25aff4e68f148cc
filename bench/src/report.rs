//! [`Report`]: a whole run — machine, contenders, target ratios, every scenario — as the JSON
//! `--json` prints and the docs are written from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contender::Contender;
use crate::locker::Durability;
use crate::machine::Machine;
use crate::plan::Plan;
use crate::scenario::{Runner, Style};
use crate::server::ServerInfo;
use crate::summary::Summary;
use crate::targets::{Ratio, ratios};

/// The version of the JSON's shape.
pub const SCHEMA: u32 = 1;

/// One contender's headline figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContenderFigures {
    /// What it runs.
    pub description: String,
    /// Cycles per second of one process alone, by durability (`full`, `relaxed`).
    pub single_process_cycles_per_second: BTreeMap<String, f64>,
    /// Double grants over every scenario of the run (zero for a correct lock).
    pub double_grants: u64,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `quick` or `full`.
    pub mode: String,
    /// The command line that produced it.
    pub command: String,
    /// Rounds of the grid.
    pub rounds: usize,
    /// Seconds each scenario ran per round.
    pub seconds_per_scenario: f64,
    /// Where it ran.
    pub machine: Machine,
    /// Every contender by name.
    pub contenders: BTreeMap<String, ContenderFigures>,
    /// Every target by name.
    pub ratios: BTreeMap<String, Ratio>,
    /// Whether every target was met.
    pub all_targets_met: bool,
    /// Every scenario.
    pub scenarios: Vec<Summary>,
    /// The PostgreSQL server the `pg-*` contenders ran on.
    #[serde(default)]
    pub postgres: Option<ServerInfo>,
    /// Why the PostgreSQL scenarios were not run, when the plan had some.
    #[serde(default)]
    pub postgres_skipped: Option<String>,
}

impl Report {
    /// Puts a run together.
    #[must_use]
    pub fn new(plan: &Plan, command: String, machine: Machine, scenarios: Vec<Summary>) -> Self {
        let ratios = ratios(&scenarios);
        Self {
            schema: SCHEMA,
            mode: plan.mode.to_owned(),
            command,
            rounds: plan.rounds,
            seconds_per_scenario: plan.duration.as_secs_f64(),
            machine,
            contenders: Contender::ALL
                .into_iter()
                .map(|c| (c.name().to_owned(), figures(c, &scenarios)))
                .collect(),
            all_targets_met: ratios.values().all(|r| r.met),
            ratios,
            scenarios,
            postgres: None,
            postgres_skipped: None,
        }
    }

    /// The scenarios that match `keep`, in run order.
    pub fn select(&self, keep: impl Fn(&Summary) -> bool) -> impl Iterator<Item = &Summary> {
        self.scenarios.iter().filter(move |s| keep(s))
    }
}

fn figures(contender: Contender, scenarios: &[Summary]) -> ContenderFigures {
    let mine = || {
        scenarios
            .iter()
            .filter(move |s| s.scenario.contender == contender)
    };
    let single = |d: Durability| {
        mine().find(|s| {
            let sc = s.scenario;
            sc.durability == d
                && sc.runner == Runner::Processes
                && sc.clients == 1
                && sc.resources == 1
                && sc.style == Style::Retry
        })
    };
    ContenderFigures {
        description: contender.description().to_owned(),
        single_process_cycles_per_second: Durability::ALL
            .into_iter()
            .filter_map(|d| Some((d.name().to_owned(), single(d)?.cycles_per_second)))
            .collect(),
        double_grants: mine().map(|s| s.double_grants).sum(),
    }
}

/// Checks that `report` is complete for `plan`: every contender, every target ratio with a
/// finite value, every scenario with finite figures, the PostgreSQL scenarios run (not skipped)
/// and every contender of the plan granting at least once in each PostgreSQL scenario and over
/// the run. It never looks at how fast anything was: this is what the CI smoke run asserts.
///
/// # Errors
///
/// What is missing or malformed, one line per problem.
pub fn check_complete(report: &Report, plan: &Plan) -> Result<(), String> {
    let mut problems = Vec::new();
    if report.schema != SCHEMA {
        problems.push(format!("schema {} is not {SCHEMA}", report.schema));
    }
    for contender in Contender::ALL {
        if !report.contenders.contains_key(contender.name()) {
            problems.push(format!("contender {} missing", contender.name()));
        }
    }
    if let Some(reason) = &report.postgres_skipped {
        problems.push(format!("the PostgreSQL scenarios were skipped: {reason}"));
    }
    problems.extend(progress(report, plan));
    for name in ratios(&[]).keys() {
        match report.ratios.get(name).and_then(|r| r.value) {
            Some(v) if v.is_finite() && v >= 0.0 => {}
            other => problems.push(format!("ratio {name}: {other:?}")),
        }
    }
    for scenario in &plan.scenarios {
        match report.scenarios.iter().find(|s| s.scenario == *scenario) {
            Some(s) if well_formed(s) => {}
            Some(_) => problems.push(format!("{}: malformed figures", scenario.label())),
            None => problems.push(format!("{}: missing", scenario.label())),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A line for each PostgreSQL scenario without a grant, and for each contender of `plan` without
/// one over the whole run.
fn progress(report: &Report, plan: &Plan) -> Vec<String> {
    let granted = |s: &Summary| s.grants_per_client.iter().sum::<u64>() > 0;
    let mut problems: Vec<String> = report
        .select(|s| s.scenario.contender.is_postgres() && !granted(s))
        .map(|s| format!("{}: no grants", s.scenario.label()))
        .collect();
    for contender in Contender::ALL {
        let planned = plan.scenarios.iter().any(|s| s.contender == contender);
        let mine = || report.select(|s| s.scenario.contender == contender);
        if planned && mine().next().is_some() && !mine().any(granted) {
            problems.push(format!("{}: no grants in the whole run", contender.name()));
        }
    }
    problems
}

fn well_formed(s: &Summary) -> bool {
    let l = s.acquire_latency;
    let figures = [
        s.cycles_per_second,
        l.p50_us,
        l.p99_us,
        l.max_us,
        s.spread.jain,
    ];
    figures.iter().all(|f| f.is_finite() && *f >= 0.0)
        && s.grants_per_client.len() == s.scenario.clients
        && l.p50_us <= l.p99_us
        && l.p99_us <= l.max_us
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ClientResult;

    fn report_of(plan: &Plan) -> Report {
        let mut operation = crate::histogram::Histogram::default();
        operation.record(std::time::Duration::from_micros(50));
        let client = ClientResult {
            grants: 3,
            elapsed_s: 0.1,
            // Hold and mixed scenarios' logs, so that their ratios have values.
            held: vec![(1_000, 2_000), (3_000, 4_000)],
            operations: [("acquire".to_owned(), operation)].into(),
            ..ClientResult::default()
        };
        let summaries = plan
            .scenarios
            .iter()
            .map(|s| Summary::new(*s, &[vec![client.clone(); s.clients]]))
            .collect();
        let machine = Machine::read(std::path::Path::new("/"));
        Report::new(plan, "test".to_owned(), machine, summaries)
    }

    #[test]
    fn a_complete_report_passes_and_survives_json() {
        let plan = Plan::quick();
        let report = report_of(&plan);
        let json = serde_json::to_string(&report).expect("serialisable");
        let back: Report = serde_json::from_str(&json).expect("parsable");
        assert_eq!(check_complete(&back, &plan), Ok(()));
    }

    #[test]
    fn a_missing_ratio_scenario_or_contender_is_reported() {
        let plan = Plan::quick();
        let mut report = report_of(&plan);
        report.ratios.remove("store_full_vs_fsync_floor");
        report.contenders.remove("floor");
        report.scenarios.pop();
        let problems = check_complete(&report, &plan).expect_err("incomplete");
        assert!(problems.contains("store_full_vs_fsync_floor"), "{problems}");
        assert!(problems.contains("contender floor missing"), "{problems}");
        assert!(problems.contains("missing"), "{problems}");
    }

    #[test]
    fn a_skipped_postgres_part_or_a_contender_without_grants_is_reported() {
        let plan = Plan::quick();
        let mut report = report_of(&plan);
        report.postgres_skipped = Some("no server".to_owned());
        for s in &mut report.scenarios {
            if s.scenario.contender == Contender::PgAdvisory {
                s.grants_per_client.fill(0);
            }
        }
        let problems = check_complete(&report, &plan).expect_err("incomplete");
        assert!(problems.contains("skipped: no server"), "{problems}");
        assert!(
            problems.contains("pg-advisory/full/1xproc/1res/retry: no grants"),
            "{problems}"
        );
        assert!(
            problems.contains("pg-advisory: no grants in the whole run"),
            "{problems}"
        );
    }
}
