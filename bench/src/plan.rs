//! [`Plan`]: which scenarios a run measures, for how long, how many times.

use std::time::Duration;

use crate::contender::Contender;
use crate::locker::Durability;
use crate::scenario::{Runner, Scenario, Style};

/// The client counts of the grid: 1, 2, 4, 8 processes, and 2, 4, 8 threads (one client is the
/// same single process either way, so it is measured once).
pub const POINTS: [(Runner, usize); 7] = [
    (Runner::Processes, 1),
    (Runner::Processes, 2),
    (Runner::Processes, 4),
    (Runner::Processes, 8),
    (Runner::Threads, 2),
    (Runner::Threads, 4),
    (Runner::Threads, 8),
];

/// One hot resource, and 64.
pub const RESOURCES: [usize; 2] = [1, 64];

/// The connection counts of the PostgreSQL comparison (one worker process per connection).
pub const PG_CLIENTS: [usize; 3] = [1, 4, 16];

/// The connection count at which group commit is measured.
pub const GROUP_COMMIT_CLIENTS: usize = 16;

/// What a run measures.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `"quick"` or `"full"`.
    pub mode: &'static str,
    /// How many times the whole grid is run; a scenario's throughput is its median round.
    pub rounds: usize,
    /// How long each scenario runs per round.
    pub duration: Duration,
    /// The grid, in the order it runs: the contenders of one point next to each other, so that
    /// their ratios compare runs minutes apart at most on a noisy machine.
    pub scenarios: Vec<Scenario>,
}

impl Plan {
    /// Every scenario once, briefly: a smoke run and a first look, in well under a minute.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            mode: "quick",
            rounds: 1,
            duration: Duration::from_millis(150),
            scenarios: everything(),
        }
    }

    /// The figures for the docs: every scenario five times, 0.6 s each. Five short rounds
    /// rather than fewer long ones: a target ratio is the median of per-round ratios, and more
    /// pairs taken closer together make it steadier on a busy disk.
    #[must_use]
    pub fn full() -> Self {
        Self {
            mode: "full",
            rounds: 5,
            duration: Duration::from_millis(600),
            scenarios: everything(),
        }
    }
}

fn scenario(
    contender: Contender,
    durability: Durability,
    (runner, clients): (Runner, usize),
    resources: usize,
    style: Style,
) -> Scenario {
    Scenario {
        contender,
        durability,
        runner,
        clients,
        resources,
        style,
    }
}

/// The SQLite grid, then the PostgreSQL comparison's scenarios the SQLite grid does not have.
#[must_use]
pub fn everything() -> Vec<Scenario> {
    let mut all = grid();
    for scenario in postgres_grid() {
        if !all.contains(&scenario) {
            all.push(scenario);
        }
    }
    all
}

/// The PostgreSQL comparison (issue 12), at 1, 4 and 16 connections on one resource and on 64:
/// `PgStore`, its floor, advisory locks and `SqliteStore` (durable) side by side at each point;
/// both commit floors; and at 16 connections the PostgreSQL contenders again with group commit.
/// Every client is a worker process of its own with its own connection.
#[must_use]
pub fn postgres_grid() -> Vec<Scenario> {
    let full = Durability::Full;
    let procs = |n| (Runner::Processes, n);
    let mut grid = Vec::new();
    for resources in RESOURCES {
        for clients in PG_CLIENTS {
            for contender in [
                Contender::PgStore,
                Contender::PgStorePrepared,
                Contender::PgFloor,
                Contender::PgFloorUnnamed,
                Contender::PgAdvisory,
                Contender::SqliteStore,
            ] {
                grid.push(scenario(
                    contender,
                    full,
                    procs(clients),
                    resources,
                    Style::Retry,
                ));
            }
        }
    }
    for clients in PG_CLIENTS {
        for floor in [Contender::PgCommitFloor, Contender::FsyncFloor] {
            grid.push(scenario(floor, full, procs(clients), 1, Style::Retry));
        }
    }
    let grouped = |contender, resources| {
        let point = procs(GROUP_COMMIT_CLIENTS);
        scenario(
            contender,
            Durability::GroupCommit,
            point,
            resources,
            Style::Retry,
        )
    };
    for resources in RESOURCES {
        for contender in [
            Contender::PgStore,
            Contender::PgStorePrepared,
            Contender::PgFloor,
            Contender::PgFloorUnnamed,
            Contender::PgAdvisory,
        ] {
            grid.push(grouped(contender, resources));
        }
    }
    grid.push(grouped(Contender::PgCommitFloor, 1));
    grid
}

/// The SQLite grid: per durability, the commit floor; every lock at every point on one hot
/// resource and on 64; the store's waiting acquire on the hot resource.
#[must_use]
pub fn grid() -> Vec<Scenario> {
    let mut grid = Vec::new();
    for durability in Durability::ALL {
        let single = POINTS[0];
        grid.push(scenario(
            Contender::FsyncFloor,
            durability,
            single,
            1,
            Style::Retry,
        ));
        for resources in RESOURCES {
            for point in POINTS {
                for contender in Contender::LOCKS {
                    grid.push(scenario(
                        contender,
                        durability,
                        point,
                        resources,
                        Style::Retry,
                    ));
                }
            }
        }
        for point in POINTS {
            grid.push(scenario(
                Contender::SqliteStore,
                durability,
                point,
                1,
                Style::Wait,
            ));
        }
        grid.extend(waiting(durability));
    }
    grid
}

/// The waiting scenarios of issue 14, per durability: one process and eight on one hot
/// resource holding each lease 200 µs, with the shared line and without it (the negative
/// control); 1, 6 and 8 processes sending single operations on two resources, and 8 without the
/// line for the write lock (its negative control).
fn waiting(durability: Durability) -> Vec<Scenario> {
    let store = Contender::SqliteStore;
    let procs = |n| (Runner::Processes, n);
    vec![
        scenario(store, durability, procs(1), 1, Style::Hold),
        scenario(store, durability, procs(8), 1, Style::Hold),
        scenario(store, durability, procs(8), 1, Style::HoldPolling),
        scenario(store, durability, procs(1), 2, Style::Mixed),
        scenario(store, durability, procs(6), 2, Style::Mixed),
        scenario(store, durability, procs(8), 2, Style::Mixed),
        scenario(store, durability, procs(8), 2, Style::MixedPolling),
    ]
}
