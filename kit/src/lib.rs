//! The kit that holds a leasehold store to the contract: every promise of
//! [`leasehold_contract`], checked the same way for every store.
//!
//! A store implements [`Backend`] (fresh databases, stores on them with a logical clock or the
//! real one) and adds one line, [`store_suite!`], to its tests. It then runs:
//!
//! - [`conformance`]: random request sequences against the core's `LockTable`, with equal
//!   answers and equal rows after every step;
//! - [`history`]: the time-aware checker of what concurrent clients were told (mutual exclusion,
//!   tokens, fencing), used by the concurrent suites;
//! - [`stress`]: many processes on one database, SIGKILLed at random, writing to a protected
//!   resource, judged by the history checker; its negative control is a check-then-act acquire
//!   made of the store's own operations;
//!
//! and the suites built on them. Every suite has negative controls: the kit's own
//! [`MemoryStore`], with one planted [`Flaw`] each, must fail it — a checker that cannot fail
//! proves nothing — and every positive run asserts that it made progress.
//!
//! # Example
//!
//! The kit's reference store passes conformance, and a store whose renew extends any lease
//! fails it:
//!
//! ```
//! use leasehold_kit::{MemoryBackend, conformance, planted};
//!
//! conformance::check::<MemoryBackend>(64);
//! let broken = std::panic::catch_unwind(|| {
//!     conformance::check::<MemoryBackend<planted::RenewsAnyToken>>(256)
//! });
//! assert!(broken.is_err(), "the planted bug was not caught");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod conformance;
pub mod history;
mod memory;
pub mod stress;
mod suite;

pub use backend::{Backend, StoreErrorOf};
pub use memory::{Flaw, MemoryBackend, MemoryDatabase, MemoryError, MemoryStore, Planted, planted};
