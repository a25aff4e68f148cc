//! What the multi-process stress test and its `stress-worker` processes share: the worker's
//! command line ([`WorkerConfig`]), the lines of a worker's log ([`LogLine`]) and the protected
//! table every fenced write goes to ([`CREATE_WORK_TABLE`]).
//!
//! The supervisor is `tests/tests/stress/`; the worker is `src/bin/stress-worker.rs`.

mod config;
mod log;

pub use config::{ConfigError, StoreKind, WorkerConfig};
pub use log::{Grant, LogLine, LostOp};

/// The protected resource: a table in the lock database, written only inside
/// `SqliteStore::with_fence`. `seq` is a write's position in the table's serial order
/// (AUTOINCREMENT never reuses a value, even after a rolled-back insert).
pub const CREATE_WORK_TABLE: &str = "CREATE TABLE IF NOT EXISTS stress_work (\
seq INTEGER PRIMARY KEY AUTOINCREMENT, resource TEXT NOT NULL, token INTEGER NOT NULL, \
writer TEXT NOT NULL, kind TEXT NOT NULL)";

/// One fenced write; returns its `seq`.
pub const INSERT_WORK: &str = "INSERT INTO stress_work (resource, token, writer, kind) \
VALUES (?1, ?2, ?3, ?4) RETURNING seq";

/// Every accepted write, in serial order.
pub const SELECT_WORK: &str =
    "SELECT seq, resource, token, writer, kind FROM stress_work ORDER BY seq";

/// Why a holder wrote a row of `stress_work` (its `kind` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// The marker written right after a grant.
    Grant,
    /// A write while the holder believes its lease valid.
    Work,
    /// A write after the holder slept past its lease's expiry: the fence must refuse it, so a
    /// row of this kind is a broken fence.
    Overrun,
}

impl WriteKind {
    /// The `kind` column's value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Work => "work",
            Self::Overrun => "overrun",
        }
    }
}

/// The name of resource number `index`: `res-0`, `res-1`, …
#[must_use]
pub fn resource_name(index: u64) -> String {
    format!("res-{index}")
}
