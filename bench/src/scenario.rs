//! [`Scenario`]: one point of the benchmark grid, and what its clients measured.

use serde::{Deserialize, Serialize};

use crate::contender::Contender;
use crate::histogram::Histogram;
use crate::locker::Durability;

/// How concurrent clients are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// One worker process per client, each with its own connection: SQLite's file locks
    /// arbitrate.
    Processes,
    /// One worker process whose threads share one contender (one connection behind its mutex),
    /// as threads of one application share a store.
    Threads,
}

/// How a client waits for a lease another client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// Try again at once (after yielding the CPU) until granted: the statements' own cost
    /// under contention, the same loop for every contender.
    Retry,
    /// `SqliteStore::acquire(.., wait)`: the store's backoff. Store only.
    Wait,
}

/// One point of the grid: who, how durable, how many clients, how many resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scenario {
    /// Who takes the leases.
    pub contender: Contender,
    /// `synchronous=FULL` or `NORMAL`.
    pub durability: Durability,
    /// Processes or threads.
    pub runner: Runner,
    /// Concurrent clients.
    pub clients: usize,
    /// Resources the clients pick from uniformly: 1 is one hot resource.
    pub resources: usize,
    /// How a refused client waits.
    pub style: Style,
}

impl Scenario {
    /// A short unique label, for progress lines and file names.
    #[must_use]
    pub fn label(&self) -> String {
        format!(
            "{}/{}/{}x{}/{}res/{}",
            self.contender.name(),
            self.durability.name(),
            self.clients,
            match self.runner {
                Runner::Processes => "proc",
                Runner::Threads => "thread",
            },
            self.resources,
            match self.style {
                Style::Retry => "retry",
                Style::Wait => "wait",
            }
        )
    }
}

/// What one client measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientResult {
    /// Acquire+release cycles completed.
    pub grants: u64,
    /// Attempts answered "busy" (another client held the lease).
    pub busy_attempts: u64,
    /// Grants made while another client still held the same resource: the witness lock was
    /// taken. Zero for a correct lock.
    pub double_grants: u64,
    /// Operations that failed with a busy database (the busy timeout passed); the client went on.
    pub busy_errors: u64,
    /// Waiting acquires still waiting when the run ended (their latency is not recorded).
    pub unfinished_waits: u64,
    /// Seconds from the start signal to the client's last cycle.
    pub elapsed_s: f64,
    /// Time from starting to want the lease to holding it (busy retries or waiting included).
    pub acquire_latency: Histogram,
}
