//! leasehold's concurrency evidence (unpublished): the planted check-then-act store every
//! harness must catch, and the history checker every harness runs.
//!
//! The harnesses themselves are the test targets of this crate:
//!
//! - `tests/main.rs`: TOCTOU regressions (one bug per file), shuttle, and the multi-process stress
//!   test with kills;
//! - `tests/loom_sqlite.rs`: loom, behind the `loom` feature.
//!
//! `docs/verification.md` says what each establishes and how to run the long versions.
#![forbid(unsafe_code)]

pub mod history;
pub mod naive;
pub mod rng;
pub mod stress;

pub use naive::CheckThenActStore;
