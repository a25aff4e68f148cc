//! [`Scenario`]: one point of the benchmark grid, and what its clients measured.

use std::collections::BTreeMap;

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
    /// `SqliteStore::acquire_until`, hold the lease [`HOLD`], release, ask again at once: the
    /// hot-resource waiting of issue 14, with the line shared between processes. Store only.
    Hold,
    /// [`Style::Hold`] through stores opened `without_shared_line`: each waiter polls, as before
    /// the shared line (the negative control). Store only.
    HoldPolling,
    /// A mix of single operations on 2 resources — `try_acquire`, `release`, `holder`,
    /// `evict` — each timed on its own. Store only.
    Mixed,
    /// [`Style::Mixed`] through stores opened `without_shared_line`: a write that finds the
    /// write lock taken waits blind (the negative control). Store only.
    MixedPolling,
}

/// How long a [`Style::Hold`] client holds each lease (a sleep, so a little more in fact).
pub const HOLD: std::time::Duration = std::time::Duration::from_micros(200);

impl Style {
    /// Whether a refused client waits with the store's waiting acquire.
    #[must_use]
    pub fn waits(self) -> bool {
        matches!(self, Self::Wait | Self::Hold | Self::HoldPolling)
    }

    /// Whether clients send single operations ([`Style::Mixed`]).
    #[must_use]
    pub fn mixes(self) -> bool {
        matches!(self, Self::Mixed | Self::MixedPolling)
    }

    /// Whether the store is opened without the line shared between processes.
    #[must_use]
    pub fn polls(self) -> bool {
        matches!(self, Self::HoldPolling | Self::MixedPolling)
    }

    /// Whether clients hold each lease [`HOLD`] and log when they held it.
    #[must_use]
    pub fn holds(self) -> bool {
        matches!(self, Self::Hold | Self::HoldPolling)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Wait => "wait",
            Self::Hold => "hold",
            Self::HoldPolling => "hold-polling",
            Self::Mixed => "mixed",
            Self::MixedPolling => "mixed-polling",
        }
    }
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
            self.style.name()
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
    /// [`Style::Hold`]: when each lease was held, as (granted, released) nanoseconds on the
    /// wall clock, which every process of the host reads alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<(u64, u64)>,
    /// [`Style::Mixed`]: the latency of each operation, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, Histogram>,
}
