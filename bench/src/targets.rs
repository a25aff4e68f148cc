//! The targets as ratios of figures from the same run, each met or missed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contender::Contender;
use crate::locker::Durability;
use crate::scenario::{HOLD, Runner, Scenario, Style};
use crate::summary::{STARVED_SHARE, Summary, median};

/// One target: a ratio of two figures of this run, and the least it should be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// What is compared with what.
    pub what: String,
    /// The ratio; `None` when the run lacks one of its scenarios.
    pub value: Option<f64>,
    /// The ratio the target asks for: at least, or at most when `at_most`.
    pub target: f64,
    /// The target is an upper bound (a latency), not a lower one.
    #[serde(default)]
    pub at_most: bool,
    /// `value >= target` (`value <= target` when `at_most`).
    pub met: bool,
}

impl Ratio {
    fn new(what: String, value: Option<f64>, target: f64) -> Self {
        Self {
            met: value.is_some_and(|v| v >= target),
            what,
            value,
            target,
            at_most: false,
        }
    }

    fn at_most(what: String, value: Option<f64>, target: f64) -> Self {
        Self {
            met: value.is_some_and(|v| v <= target),
            what,
            value,
            target,
            at_most: true,
        }
    }
}

/// The ratio of two scenarios' cycles/s within each round (the finite ones), in run order.
#[must_use]
pub fn per_round(over: &Summary, under: &Summary) -> Vec<f64> {
    over.rounds_cycles_per_second
        .iter()
        .zip(&under.rounds_cycles_per_second)
        .map(|(a, b)| a / b)
        .filter(|r| r.is_finite())
        .collect()
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
        let per_round = per_round(self.get(over)?, self.get(under)?);
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

/// The hot-resource waiting of issue 14: eight processes wait with `acquire_until`, hold each
/// lease 200 µs, release and ask again at once.
fn hot_resource_holding(find: &Find<'_>, d: Durability, ratios: &mut BTreeMap<String, Ratio>) {
    let name = d.name();
    let holding = |clients| Scenario {
        style: Style::Hold,
        ..processes(Contender::SqliteStore, d, clients, 1)
    };
    let eight = find.get(holding(8));
    // One commit: the store's one-process acquire, median.
    let commit_us = find
        .get(processes(Contender::SqliteStore, d, 1, 1))
        .map(|s| s.acquire_latency.p50_us);
    let budget = commit_us.map(|c| HOLD.as_secs_f64() * 1e6 + c);
    let over_budget = |us: Option<f64>| Some(us? / budget?);
    let mut insert =
        |key: &str, ratio| ratios.insert(format!("store_hold_8_processes_{key}_{name}"), ratio);
    insert(
        "vs_1_process",
        Ratio::new(
            format!(
                "acquire_until + 200 µs hold, 8 processes on one resource ÷ 1 process, cycles/s, {name}"
            ),
            find.ratio(holding(8), holding(1)),
            0.8,
        ),
    );
    insert(
        "min_share",
        Ratio::new(
            format!(
                "acquire_until + 200 µs hold, 8 processes: fewest grants of a client ÷ mean, {name}"
            ),
            eight.map(|s| s.spread.min_over_mean),
            0.8,
        ),
    );
    insert(
        "handoff_p99",
        Ratio::at_most(
            format!(
                "acquire_until + 200 µs hold, 8 processes: hand-over p99 (release to next grant) ÷ (hold + one commit), {name}"
            ),
            over_budget(eight.and_then(|s| s.handoff).map(|h| h.p99_us)),
            2.0,
        ),
    );
    insert(
        "wait_p99",
        Ratio::at_most(
            format!(
                "acquire_until + 200 µs hold, 8 processes: wait-to-grant p99 ÷ (hold + one commit), {name}"
            ),
            over_budget(eight.map(|s| s.acquire_latency.p99_us)),
            2.0,
        ),
    );
    insert(
        "barges",
        Ratio::at_most(
            format!(
                "acquire_until + 200 µs hold, 8 processes: share of grants taken back by the releaser, {name}"
            ),
            eight.and_then(|s| s.handoff).map(|h| h.barge_share),
            0.02,
        ),
    );
}

/// Single operations on two resources, durable, all operations together (as a caller sees its
/// calls): p99 within 10 × the median, and the slowest within 50 ms.
fn mixed_operations(find: &Find<'_>, ratios: &mut BTreeMap<String, Ratio>) {
    for clients in [6, 8] {
        let mixed = Scenario {
            style: Style::Mixed,
            ..processes(Contender::SqliteStore, Durability::Full, clients, 2)
        };
        let all = find.get(mixed).and_then(|s| s.all_operations);
        ratios.insert(
            format!("store_mixed_{clients}_processes_p99_over_median_full"),
            Ratio::at_most(
                format!("{clients} processes, 2 resources, mixed operations: p99 ÷ median, all operations, full"),
                all.map(|l| l.p99_us / l.p50_us.max(1e-3)),
                10.0,
            ),
        );
        ratios.insert(
            format!("store_mixed_{clients}_processes_worst_ms_full"),
            Ratio::at_most(
                format!("{clients} processes, 2 resources, mixed operations: slowest operation, ms, full"),
                all.map(|l| l.max_us / 1e3),
                50.0,
            ),
        );
    }
}

/// The PostgreSQL targets of issue 12, on 64 resources at 1, 4 and 16 connections: `PgStore`
/// within 5 % of its floor, and at least 0.4 × advisory locks. Their keys start with `pg_`.
fn postgres(find: &Find<'_>, ratios: &mut BTreeMap<String, Ratio>) {
    let d = Durability::Full;
    for clients in crate::plan::PG_CLIENTS {
        let at = |contender| processes(contender, d, clients, 64);
        let store = at(Contender::PgStore);
        let unit = if clients == 1 {
            "connection"
        } else {
            "connections"
        };
        ratios.insert(
            format!("pg_store_vs_floor_{clients}_connections_64_resources"),
            Ratio::new(
                format!("PgStore ÷ its floor (the store's statements, prepared, raw), cycles/s, {clients} {unit}, 64 resources"),
                find.ratio(store, at(Contender::PgFloor)),
                0.95,
            ),
        );
        ratios.insert(
            format!("pg_store_vs_advisory_{clients}_connections_64_resources"),
            Ratio::new(
                format!(
                    "PgStore ÷ prepared advisory locks, cycles/s, {clients} {unit}, 64 resources"
                ),
                find.ratio(store, at(Contender::PgAdvisory)),
                0.4,
            ),
        );
    }
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
        hot_resource_holding(&find, d, &mut ratios);
    }
    mixed_operations(&find, &mut ratios);
    postgres(&find, &mut ratios);
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
