//! Shared helpers: temporary stores, a manual clock, a statement-counting seam.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leasehold_sqlite::{Durability, ManualClock, Options, Seam, SqliteStore, Statement, Timestamp};
use tempfile::TempDir;

/// A store on a fresh file, with a manual clock starting at `start` ms.
pub(crate) struct TestStore<S: Seam = leasehold_sqlite::Direct> {
    pub(crate) store: SqliteStore<S>,
    pub(crate) clock: ManualClock,
    pub(crate) path: PathBuf,
    // Dropped last: the directory outlives the store's connection.
    _dir: TempDir,
}

pub(crate) fn store_at(start: u64, durability: Durability) -> TestStore {
    store_with_seam(start, durability, leasehold_sqlite::Direct)
}

pub(crate) fn store_with_seam<S: Seam>(
    start: u64,
    durability: Durability,
    seam: S,
) -> TestStore<S> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("locks.db");
    let clock = ManualClock::new(Timestamp::from_millis(start));
    let options = Options::new()
        .durability(durability)
        .clock(clock.clone())
        .seam(seam);
    let store = SqliteStore::open_with(&path, options).expect("a fresh store opens");
    TestStore {
        store,
        clock,
        path,
        _dir: dir,
    }
}

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Records every statement it runs, in order.
#[derive(Clone, Default)]
pub(crate) struct CountingSeam {
    seen: Arc<Mutex<Vec<Statement>>>,
}

impl CountingSeam {
    /// The statements run since the last call, which forgets them.
    pub(crate) fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Seam for CountingSeam {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(statement);
        execute()
    }
}

/// A raw connection to the store's file, for setting up what a test needs by hand.
pub(crate) fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("a raw connection")
}

/// The lease in `outcome`, or a panic saying who held it.
pub(crate) fn granted(
    outcome: Result<leasehold_sqlite::Acquire, leasehold_sqlite::Error>,
) -> leasehold_sqlite::Lease {
    match outcome {
        Ok(leasehold_sqlite::Acquire::Granted(lease)) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// The store's rows and high-water mark.
pub(crate) fn rows<S: Seam>(store: &SqliteStore<S>) -> leasehold_sqlite::LockTable {
    use leasehold_sqlite::Audit as _;
    store.snapshot().expect("the store's rows")
}

/// How many rows the store keeps.
pub(crate) fn row_count<S: Seam>(store: &SqliteStore<S>) -> usize {
    rows(store).records().count()
}

/// Every file in `dir` with its bytes: "nothing touched" means this is unchanged.
pub(crate) fn files(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable file");
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Whether this process runs as root (CI does).
pub(crate) fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .is_some_and(|line| line.split_whitespace().nth(1) == Some("0"))
}
