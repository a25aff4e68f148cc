//! [`Backend`]: what a store provides so that the kit can run every suite against it.

use leasehold_contract::{Audit, Fenced, Lease, LockStore, ManualClock};

/// The error of a backend's store.
pub type StoreErrorOf<B> = <<B as Backend>::Store as LockStore>::Error;

/// A kind of store, as the kit drives it: fresh databases, stores on them with a logical clock
/// or the real one, and (optionally) a fenced write.
///
/// Implementing this trait and adding one line, [`store_suite!`](crate::store_suite), runs the
/// whole kit against a store. The kit's own [`MemoryStore`](crate::MemoryStore) implements it too,
/// correct and with planted flaws, which is how every suite proves that it can fail.
pub trait Backend: Default + Send + Sync + Sized + 'static {
    /// The store under test: the contract, plus the audit hook that reads its whole state.
    type Store: LockStore + Audit<Error = StoreErrorOf<Self>> + 'static;

    /// One fresh, empty database (a file, a schema); dropping it removes it.
    type Database: Send + Sync + 'static;

    /// A short name for reports, e.g. `"sqlite"`.
    fn name(&self) -> &'static str;

    /// A fresh, empty database.
    fn database(&self) -> Self::Database;

    /// A store on `db` that reads `clock`. Every store of one database in a test shares the
    /// clock it is given; each store has a connection of its own.
    fn open(&self, db: &Self::Database, clock: &ManualClock) -> Self::Store;

    /// A store on `db` that reads the store's real clock, for tests that measure real time.
    fn open_real(&self, db: &Self::Database) -> Self::Store;

    /// Runs a fenced write that changes nothing under `lease`, if the store has fenced writes:
    /// `Committed(())` exactly when the lease is current. `None`: the store has none.
    fn fenced_write(
        &self,
        store: &Self::Store,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, StoreErrorOf<Self>>> {
        let _ = (store, lease);
        None
    }

    /// How long an unloaded statement takes on this store, roughly: the scale of the timing
    /// tolerances the suites allow (a bounded wait returns within its timeout plus a few of
    /// these).
    fn statement_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(2)
    }

    /// How many conformance cases may run at once, each on a thread and a database of its own
    /// ([`conformance::check`](crate::conformance::check) splits its cases between that many
    /// runners, each with its own random seed). 1, the default, for stores whose cases are quick;
    /// more for a store whose cases spend their time waiting for a server's answers, so that
    /// thousands of cases take seconds rather than minutes. The cases and their checks are the
    /// same either way.
    fn conformance_threads(&self) -> usize {
        1
    }

    /// Where `db` is, as text that [`open_located`](Backend::open_located) opens in another
    /// process: a file's path, a connection string. The multi-process stress test
    /// ([`stress`](crate::stress)) hands it to the worker processes it starts (this test binary,
    /// run again).
    ///
    /// `None` (the default): the store cannot be shared by processes, as the kit's memory store
    /// cannot. [`store_suite!`](crate::store_suite)'s stress tests then fail, naming this method:
    /// a store meant for processes that share a database must implement it and
    /// [`open_located`](Backend::open_located).
    fn locator(&self, db: &Self::Database) -> Option<String> {
        let _ = db;
        None
    }

    /// A store on the database `locator` names, opened as a user of the store opens it: the
    /// store's real clock (the host's wall clock, which the stress test reads as the store's
    /// clock) and its default settings. Called in a worker process, and by the supervisor to see
    /// who holds what.
    ///
    /// # Panics
    ///
    /// When the store cannot be opened. The default always panics: it is called only for a
    /// backend whose [`locator`](Backend::locator) names a database.
    fn open_located(&self, locator: &str) -> Self::Store {
        panic!(
            "{} has a locator ({locator}) but no open_located",
            self.name()
        )
    }
}
