//! leasehold's SQLite concurrency evidence (unpublished): the planted check-then-act store every
//! SQLite harness must catch. The history checker every harness runs is the kit's
//! (`leasehold_kit::history`), re-exported here.
//!
//! The harnesses themselves are the test targets of this crate:
//!
//! - `tests/main.rs`: TOCTOU regressions (one bug per file) and shuttle;
//! - `tests/loom_sqlite.rs`: loom, behind the `loom` feature.
//!
//! The store-generic evidence (conformance, linearizability, the peer suite, multi-process
//! stress) is `leasehold-kit`'s, run by each store's own tests.
//!
//! `docs/verification.md` says what each establishes and how to run the long versions.
#![forbid(unsafe_code)]

pub mod naive;

pub use leasehold_kit::history;

pub use naive::CheckThenActStore;

/// A fresh temporary directory for databases, in memory where there is a tmpfs (`/dev/shm`):
/// loom and shuttle create a database per execution, thousands of them. SQLite's file locking
/// and WAL work there as on disk.
///
/// # Panics
///
/// When no temporary directory can be created, which no test can run without.
#[must_use]
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.expect("a temporary directory")
}
