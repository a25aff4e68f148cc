//! Connections for the kit's stores, used again by later stores: a new connection costs the
//! server a backend process and the store's first inspection of the schema on cold catalog
//! caches, about 9 ms of server CPU (measured), more than the rest of a conformance case.
//!
//! Each store gets a pool of exactly one connection ([`PgStore::from_pool_with`]): a connection
//! of its own for as long as its database lives, as the kit requires. The connections' drivers run
//! on one runtime of this module's, not on the stores' own runtimes, so that a connection outlives
//! the store that used it; its database gives it back when dropped (after every store of it). A
//! connection that broke is replaced by the pool on its next use, on that store's runtime.
//!
//! [`PgStore::from_pool_with`]: leasehold_postgres::PgStore::from_pool_with

use std::sync::{Mutex, OnceLock, PoisonError};

use deadpool_postgres::{Manager, Pool};
use tokio::runtime::Runtime;

/// One-connection pools not in use.
static IDLE: Mutex<Vec<Pool>> = Mutex::new(Vec::new());

/// A pool of one connection, open, to `url` (the per-process database: every pool connects to
/// it).
pub(super) fn take(url: &str) -> Pool {
    let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
    idle.unwrap_or_else(|| open(url))
}

/// Gives pools back for later stores.
pub(super) fn give_back(pools: impl IntoIterator<Item = Pool>) {
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    idle.extend(pools);
}

/// A new pool whose connection is made now, on the drivers' runtime.
fn open(url: &str) -> Pool {
    let config: tokio_postgres::Config = url.parse().expect("the harness's URL parses");
    let manager = Manager::new(config, tokio_postgres::NoTls);
    let pool = Pool::builder(manager)
        .max_size(1)
        .build()
        .expect("a pool with a manager and a size");
    let connection = drivers().block_on(pool.get());
    drop(connection.expect("a connection to the per-process test database"));
    pool
}

/// The runtime that drives every pooled connection: one worker thread for the process.
fn drivers() -> &'static Runtime {
    static DRIVERS: OnceLock<Runtime> = OnceLock::new();
    DRIVERS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kit-connections")
            .enable_all()
            .build()
            .expect("a runtime for the kit's connections")
    })
}
