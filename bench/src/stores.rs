//! The two contenders that are whole stores: [`Store`] (`SqliteStore`, the subject) and
//! [`CheckThenAct`] (the seed's racy acquire, from `leasehold-tests`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use leasehold_sqlite::{Acquire, Direct, Lease, Options, Release, SqliteStore, SystemClock};
use leasehold_tests::CheckThenActStore;

use crate::error::BenchError;
use crate::locker::{Durability, Locker, TTL};
use crate::pragmas::BUSY_TIMEOUT;

/// `SqliteStore` through its public API, opened with the default options but `durability`.
#[derive(Debug)]
pub struct Store {
    store: SqliteStore,
}

impl Store {
    /// Opens the store at `path`.
    ///
    /// # Errors
    ///
    /// The store's open errors.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        Self::open_with(path, Self::options(durability))
    }

    /// Opens the store at `path` without the line shared between processes: its waiters poll
    /// (the negative control of [`Style::HoldPolling`](crate::scenario::Style::HoldPolling)).
    ///
    /// # Errors
    ///
    /// The store's open errors.
    pub fn open_polling(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        Self::open_with(path, Self::options(durability).without_shared_line())
    }

    fn options(durability: Durability) -> Options {
        Options::new()
            .durability(durability.store())
            .busy_timeout(BUSY_TIMEOUT)
    }

    fn open_with(path: &Path, options: Options) -> Result<Self, BenchError> {
        Ok(Self {
            store: SqliteStore::open_with(path, options)?,
        })
    }
}

fn granted(outcome: Acquire) -> Option<Lease> {
    match outcome {
        Acquire::Granted(lease) => Some(lease),
        Acquire::Busy(_) => None,
    }
}

impl Locker for Store {
    type Grant = Lease;

    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<Lease>, BenchError> {
        Ok(granted(self.store.try_acquire(resource, owner, TTL)?))
    }

    fn release(&self, lease: &Lease) -> Result<(), BenchError> {
        match self.store.release(lease)? {
            Release::Released => Ok(()),
            other => Err(BenchError::protocol(format!(
                "release of {} answered {other:?}",
                lease.resource()
            ))),
        }
    }

    fn acquire_waiting(
        &self,
        resource: &str,
        owner: &str,
        deadline: Instant,
    ) -> Result<Option<Lease>, BenchError> {
        Ok(granted(
            self.store.acquire_until(resource, owner, TTL, deadline)?,
        ))
    }

    fn release_any(&self, lease: &Lease) -> Result<(), BenchError> {
        // After an eviction the answer is `NotHolder`: any answer will do here.
        let _ = self.store.release(lease)?;
        Ok(())
    }

    fn holder(&self, resource: &str) -> Result<(), BenchError> {
        self.store.holder(resource)?;
        Ok(())
    }

    fn evict(&self, resource: &str) -> Result<(), BenchError> {
        let _ = self.store.evict(resource)?;
        Ok(())
    }
}

/// The seed's check-then-act: `CheckThenActStore::try_acquire` (read, decide in Rust, write) and
/// its release by name. Racy by design: the bench counts the double grants it makes.
pub struct CheckThenAct {
    store: CheckThenActStore<Direct>,
}

impl std::fmt::Debug for CheckThenAct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckThenAct").finish_non_exhaustive()
    }
}

impl CheckThenAct {
    /// Opens the check-then-act store at `path`, its private connection set to `durability`.
    ///
    /// # Errors
    ///
    /// The store's open errors.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        let clock = Arc::new(SystemClock);
        let store = CheckThenActStore::open(path, clock, Direct, durability.store())?;
        Ok(Self { store })
    }
}

impl Locker for CheckThenAct {
    type Grant = Lease;

    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<Lease>, BenchError> {
        Ok(granted(self.store.try_acquire(resource, owner, TTL)?))
    }

    /// Releases by name, as the seed does. After a double grant the other holder's release may
    /// already have freed the row; that is the bug, not a failure of the run.
    fn release(&self, lease: &Lease) -> Result<(), BenchError> {
        self.store.release_by_name(lease.resource().as_str())?;
        Ok(())
    }
}
