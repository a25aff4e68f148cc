//! leasehold's benchmarks (unpublished): `SqliteStore` against the raw-SQL floor, a transactional
//! alternative and the seed's check-then-act, side by side on the same file system with the same
//! settings, in one run, so that their **ratios** hold even on a noisy machine.
//!
//! - `benches/cycle.rs` (criterion, `cargo bench -p leasehold-bench`): one thread, one
//!   connection, acquire+release cycles of every contender in both durability modes.
//! - the `leasehold-bench` binary: the whole grid — 1, 2, 4, 8 processes (worker processes of
//!   itself) and threads, one hot resource and 64, both durability modes, the store's waiting
//!   acquire — and the PostgreSQL comparison (`PgStore` against its statement floor, advisory
//!   locks and `SqliteStore` at 1, 4 and 16 connections, on a throwaway cluster: [`server`]) —
//!   the target ratios, JSON, the plots and the tables of `docs/performance.md`.
//!
//! Every contender implements [`Locker`]; a run drives each through the same client loop
//! ([`client`]), with a `flock` witness around every holding that counts double grants.
//! `docs/performance.md` has the figures, the machine and the commands.
//!
//! # Example
//!
//! One cycle of the floor: the store's own statements on a raw connection.
//!
//! ```
//! use leasehold_bench::{Durability, Locker, floor::Floor};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("locks.db");
//! drop(leasehold_sqlite::SqliteStore::open(&path)?); // the schema
//! let floor = Floor::open(&path, Durability::Relaxed)?;
//! let grant = floor.try_acquire("r00", "me")?.expect("a fresh resource is free");
//! assert!(floor.try_acquire("r00", "you")?.is_none(), "held");
//! floor.release(&grant)?;
//! assert!(floor.try_acquire("r00", "you")?.is_some(), "released");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod contender;
pub mod error;
pub mod floor;
pub mod handoff;
pub mod histogram;
pub mod locker;
pub mod machine;
mod mixed;
pub mod pg;
pub mod pg_tables;
pub mod plan;
mod pragmas;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod stores;
pub mod summary;
pub mod tables;
pub mod targets;
pub mod transactional;
pub mod worker;

pub use contender::Contender;
pub use error::BenchError;
pub use locker::{Durability, Locker, TTL};
