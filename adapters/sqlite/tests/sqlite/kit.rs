//! The whole kit (`leasehold-kit`) against the SQLite store: real files in temporary directories.

use leasehold_contract::{Fenced, Lease, ManualClock};
use leasehold_kit::{Backend, StoreErrorOf};
use leasehold_sqlite::{Durability, Error, Options, SqliteStore};

/// SQLite stores on fresh files. `Durability::Relaxed` only changes when SQLite flushes to disk
/// (`synchronous=NORMAL`), never what a statement decides or returns, so the semantics checked
/// are those of the default mode, at a fraction of the fsyncs.
#[derive(Default)]
pub(crate) struct SqliteBackend;

impl Backend for SqliteBackend {
    type Store = SqliteStore;
    type Database = tempfile::TempDir;

    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn database(&self) -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    fn open(&self, db: &tempfile::TempDir, clock: &ManualClock) -> SqliteStore {
        let options = Options::new()
            .durability(Durability::Relaxed)
            .clock(clock.clone());
        SqliteStore::open_with(db.path().join("locks.db"), options).expect("a store opens")
    }

    fn open_real(&self, db: &tempfile::TempDir) -> SqliteStore {
        let options = Options::new().durability(Durability::Relaxed);
        SqliteStore::open_with(db.path().join("locks.db"), options).expect("a store opens")
    }

    fn fenced_write(
        &self,
        store: &SqliteStore,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, StoreErrorOf<Self>>> {
        Some(store.with_fence(lease, |_| Ok::<_, Error>(())))
    }

    fn locator(&self, db: &tempfile::TempDir) -> Option<String> {
        let path = db.path().join("locks.db");
        Some(path.to_str().expect("temporary paths are UTF-8").to_owned())
    }

    /// The store as users open it: `SystemClock`, and the default durable mode (a grant is
    /// fsynced before it is returned).
    fn open_located(&self, locator: &str) -> SqliteStore {
        SqliteStore::open(locator).expect("the stress test's database opens")
    }
}

leasehold_kit::store_suite!(suite, SqliteBackend);
