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
