//! [`MemoryBackend`]: memory stores as a [`Backend`], correct or with one planted flaw.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use leasehold_contract::{Fenced, Lease, ManualClock, StoreId, SystemClock};

use super::flaw::{Planted, planted};
use super::{MemoryDatabase, MemoryError, MemoryStore};
use crate::backend::Backend;

/// Memory stores as a [`Backend`]: `MemoryBackend` is the reference store,
/// `MemoryBackend<planted::CheckThenAct>` the seed's bug, and so on for every
/// [`Flaw`](super::Flaw).
#[derive(Debug, Default)]
pub struct MemoryBackend<F: Planted = planted::None> {
    flaw: PhantomData<F>,
}

impl<F: Planted> Backend for MemoryBackend<F> {
    type Store = MemoryStore;
    type Database = Arc<MemoryDatabase>;

    fn name(&self) -> &'static str {
        "memory"
    }

    fn database(&self) -> Arc<MemoryDatabase> {
        MemoryDatabase::new(StoreId::from_u64(getrandom_id()))
    }

    fn open(&self, db: &Arc<MemoryDatabase>, clock: &ManualClock) -> MemoryStore {
        MemoryStore::open(db, Arc::new(clock.clone()), F::FLAW)
    }

    fn open_real(&self, db: &Arc<MemoryDatabase>) -> MemoryStore {
        MemoryStore::open(db, Arc::new(SystemClock), F::FLAW)
    }

    fn fenced_write(
        &self,
        store: &MemoryStore,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, MemoryError>> {
        Some(store.fenced_write(lease))
    }

    fn statement_time(&self) -> Duration {
        Duration::from_micros(50)
    }
}

/// A store id for a new database: the high bits of a fresh request id (random per process).
fn getrandom_id() -> u64 {
    let ids = leasehold_contract::RequestIds::new().expect("the random source works");
    let random = ids.next().as_u128() >> 64;
    u64::try_from(random).unwrap_or(u64::MAX).max(1)
}
