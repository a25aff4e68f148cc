//! [`Report`]: a whole run — machine, contenders, target ratios, every scenario — as the JSON
//! `--json` prints and the docs are written from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contender::{Contender, Durability};
use crate::machine::Machine;
use crate::plan::Plan;
use crate::scenario::{Runner, Style};
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
