//! The targets as ratios of figures from the same run, each met or missed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contender::Contender;
use crate::locker::Durability;
use crate::scenario::{Runner, Scenario, Style};
use crate::summary::{STARVED_SHARE, Summary, median};

/// One target: a ratio of two figures of this run, and the least it should be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// What is compared with what.
    pub what: String,
    /// The ratio; `None` when the run lacks one of its scenarios.
    pub value: Option<f64>,
    /// The ratio the target asks for, at least.
    pub target: f64,
    /// `value >= target`.
    pub met: bool,
}

impl Ratio {
    fn new(what: String, value: Option<f64>, target: f64) -> Self {
        Self {
            met: value.is_some_and(|v| v >= target),
            what,
            value,
            target,
        }
    }
}

/// Finds the summary of one scenario of the run.
struct Find<'a>(&'a [Summary]);

impl Find<'_> {
    fn get(&self, wanted: Scenario) -> Option<&Summary> {
        self.0.iter().find(|s| s.scenario == wanted)
    }

    /// The median over rounds of the two scenarios' ratio within each round: each round's
    /// pair ran seconds apart, so a machine that slows down between rounds moves both alike.
    fn ratio(&self, over: Scenario, under: Scenario) -> Option<f64> {
        let (over, under) = (self.get(over)?, self.get(under)?);
        let per_round: Vec<f64> = over
            .rounds_cycles_per_second
            .iter()
            .zip(&under.rounds_cycles_per_second)
            .map(|(a, b)| a / b)
            .filter(|r| r.is_finite())
            .collect();
        (!per_round.is_empty()).then(|| median(&per_round))
    }
}

fn processes(
    contender: Contender,
    durability: Durability,
    clients: usize,
    resources: usize,
) -> Scenario {
    Scenario {
        contender,
        durability,
        runner: Runner::Processes,
        clients,
        resources,
        style: Style::Retry,
    }
}

/// The hot-resource targets again for clients that wait with `SqliteStore::acquire(.., wait)`,
/// the store's API for waiting, instead of calling `try_acquire` in a loop.
fn hot_resource_waiting(find: &Find<'_>, d: Durability, ratios: &mut BTreeMap<String, Ratio>) {
    let name = d.name();
    let waiting = |clients| Scenario {
        style: Style::Wait,
        ..processes(Contender::SqliteStore, d, clients, 1)
    };
    ratios.insert(
        format!("store_waiting_8_processes_hot_vs_1_process_{name}"),
        Ratio::new(
            format!("SqliteStore::acquire(.., wait) 8 processes on one resource ÷ 1 process, cycles/s, {name}"),
            find.ratio(waiting(8), waiting(1)),
            0.8,
        ),
    );
    ratios.insert(
        format!("store_waiting_8_processes_hot_min_share_{name}"),
        Ratio::new(
            format!("SqliteStore::acquire(.., wait) 8 processes on one resource: fewest grants of a client ÷ mean, {name}"),
            find.get(waiting(8)).map(|s| s.spread.min_over_mean),
            STARVED_SHARE,
        ),
    );
}

/// Every target's ratio, by name.
#[must_use]
pub fn ratios(summaries: &[Summary]) -> BTreeMap<String, Ratio> {
    let find = Find(summaries);
    let mut ratios = BTreeMap::new();
    let store = Contender::SqliteStore;
    for d in Durability::ALL {
        let name = d.name();
        let single = processes(store, d, 1, 1);
        ratios.insert(
            format!("store_vs_floor_1_process_{name}"),
            Ratio::new(
                format!("SqliteStore ÷ floor, cycles/s, 1 process, {name}"),
                find.ratio(single, processes(Contender::Floor, d, 1, 1)),
                0.95,
            ),
        );
        ratios.insert(
            format!("store_vs_transactional_4_processes_64_resources_{name}"),
            Ratio::new(
                format!("SqliteStore ÷ transactional, cycles/s, 4 processes, 64 resources, {name}"),
                find.ratio(
                    processes(store, d, 4, 64),
                    processes(Contender::Transactional, d, 4, 64),
                ),
                1.3,
            ),
        );
        let hot = processes(store, d, 8, 1);
        ratios.insert(
            format!("store_8_processes_hot_vs_1_process_{name}"),
            Ratio::new(
                format!("SqliteStore 8 processes on one resource ÷ 1 process, cycles/s, {name}"),
                find.ratio(hot, single),
                0.8,
            ),
        );
        ratios.insert(
            format!("store_8_processes_hot_min_share_{name}"),
            Ratio::new(
                format!("SqliteStore 8 processes on one resource: fewest grants of a client ÷ mean, {name}"),
                find.get(hot).map(|s| s.spread.min_over_mean),
                STARVED_SHARE,
            ),
        );
        hot_resource_waiting(&find, d, &mut ratios);
    }
    ratios.insert(
        "store_full_vs_fsync_floor".to_owned(),
        Ratio::new(
            "SqliteStore ÷ fsync floor (one minimal durable commit per operation), cycles/s, 1 process, full".to_owned(),
            find.ratio(
                processes(store, Durability::Full, 1, 1),
                processes(Contender::FsyncFloor, Durability::Full, 1, 1),
            ),
            0.95,
        ),
    );
    ratios
}
