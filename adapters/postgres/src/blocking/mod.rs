//! [`PgStore`]: the blocking store, an [`AsyncPgStore`] on a private runtime. Every method runs
//! the async store's, so both run the very same statements.

mod executor;
mod transaction;

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use leasehold_contract::rounds::AcquireRequest;
use leasehold_contract::{
    Acquire, Evict, Fenced, Holder, Lease, Release, Renew, StoreId, deadline_after,
};
use leasehold_core::{FencingToken, RequestId};
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::error::Error;
use crate::options::Options;
use crate::store::AsyncPgStore;
pub use transaction::FencedTransaction;

/// A lock store in one PostgreSQL schema, for blocking callers. See the
/// [crate documentation](crate) for what it guarantees.
///
/// It is an [`AsyncPgStore`] and a runtime of its own with one worker thread, which drives the
/// connection. Its methods may be called from many threads at once (they take turns on the
/// store's connection, one statement each), and from any thread: inside a tokio runtime a call
/// works too, blocking that runtime's thread for its duration like any blocking call — in async
/// code, use [`AsyncPgStore`] instead.
pub struct PgStore {
    store: AsyncPgStore,
    /// `None` only while the store is dropped.
    runtime: Option<Runtime>,
}

impl PgStore {
    /// Connects to the database at `url` and creates the schema `leasehold` if it is missing.
    /// See [`AsyncPgStore::connect`].
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`], and as [`AsyncPgStore::connect`].
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, Options::new())
    }

    /// [`PgStore::connect`] with `options`.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::connect_with`].
    pub fn connect_with(url: &str, options: Options) -> Result<Self, Error> {
        Self::build(|| AsyncPgStore::connect_with(url, options))
    }

    /// Uses an application's own client; see [`AsyncPgStore::from_client`]. The client's
    /// connection must be driven by a runtime that keeps running while the store is used.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_client`].
    pub fn from_client(client: Client) -> Result<Self, Error> {
        Self::from_client_with(client, Options::new())
    }

    /// [`PgStore::from_client`] with `options`.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_client`].
    pub fn from_client_with(client: Client, options: Options) -> Result<Self, Error> {
        Self::build(|| AsyncPgStore::from_client_with(client, options))
    }

    /// Uses a pool the application already has (feature `deadpool`); see
    /// [`AsyncPgStore::from_pool`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_pool`].
    #[cfg(feature = "deadpool")]
    pub fn from_pool(pool: deadpool_postgres::Pool) -> Result<Self, Error> {
        Self::from_pool_with(pool, Options::new())
    }

    /// [`PgStore::from_pool`] with `options`.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::from_pool`].
    #[cfg(feature = "deadpool")]
    pub fn from_pool_with(pool: deadpool_postgres::Pool, options: Options) -> Result<Self, Error> {
        Self::build(|| AsyncPgStore::from_pool_with(pool, options))
    }

    fn build<F: Future<Output = Result<AsyncPgStore, Error>>>(
        connect: impl FnOnce() -> F,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("leasehold-postgres")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let store = {
            let _context = runtime.enter();
            executor::block_on(connect())
        };
        match store {
            Ok(store) => Ok(Self {
                store,
                runtime: Some(runtime),
            }),
            Err(e) => {
                // Dropping a runtime blocks until its tasks stop; in a tokio worker that panics.
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// The async store this one runs.
    pub(crate) fn inner(&self) -> &AsyncPgStore {
        &self.store
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        // Taken only by `Drop`.
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    /// Runs `future` (one of the async store's operations) to completion on this thread, in the
    /// context of the store's runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _context = self.runtime().enter();
        executor::block_on(future)
    }

    /// This schema's identity, carried by every lease it grants (see [`StoreId`]).
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        self.store.store_id()
    }

    /// A fresh request id for an acquire attempt of this store; see
    /// [`AsyncPgStore::new_request_id`].
    #[must_use]
    pub fn new_request_id(&self) -> RequestId {
        self.store.new_request_id()
    }

    /// See [`AsyncPgStore::try_acquire`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::try_acquire`].
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        self.block_on(self.store.try_acquire(resource, owner, ttl))
    }

    /// See [`AsyncPgStore::try_acquire_with_id`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::try_acquire`].
    pub fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        self.block_on(
            self.store
                .try_acquire_with_id(resource, owner, ttl, request_id),
        )
    }

    /// See [`AsyncPgStore::acquire_for`]. Threads waiting through this store for the same
    /// resource take turns in arrival order (`leasehold_contract::wait`).
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::acquire_until`].
    pub fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, deadline_after(timeout))
    }

    /// See [`AsyncPgStore::acquire_until`]. Threads waiting through this store for the same
    /// resource take turns in arrival order (`leasehold_contract::wait`).
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::acquire_until`].
    pub fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, Some(deadline))
    }

    fn acquire_waiting(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new::<Error>(resource, owner, ttl, self.new_request_id())?;
        crate::wait::acquire_until_blocking(self, &request, deadline)
    }

    /// See [`AsyncPgStore::renew`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::renew`].
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        self.block_on(self.store.renew(lease, ttl))
    }

    /// See [`AsyncPgStore::release`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::release`].
    pub fn release(&self, lease: impl Borrow<Lease>) -> Result<Release, Error> {
        self.block_on(self.store.release(lease.borrow()))
    }

    /// See [`AsyncPgStore::renew_by_token`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::renew_by_token`].
    pub fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        self.block_on(self.store.renew_by_token(resource, token, ttl))
    }

    /// See [`AsyncPgStore::release_by_token`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::release_by_token`].
    pub fn release_by_token(&self, resource: &str, token: FencingToken) -> Result<Release, Error> {
        self.block_on(self.store.release_by_token(resource, token))
    }

    /// See [`AsyncPgStore::holder`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::holder`].
    pub fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        self.block_on(self.store.holder(resource))
    }

    /// See [`AsyncPgStore::holders`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::holders`].
    pub fn holders(&self) -> Result<Vec<Holder>, Error> {
        self.block_on(self.store.holders())
    }

    /// See [`AsyncPgStore::evict`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::evict`].
    pub fn evict(&self, resource: &str) -> Result<Evict, Error> {
        self.block_on(self.store.evict(resource))
    }

    /// See [`AsyncPgStore::prune`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::prune`].
    pub fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        self.block_on(self.store.prune(idle_for))
    }

    /// Runs `f` in one transaction whose writes commit only while `lease` is current; see
    /// [`AsyncPgStore::with_fence`] for what is checked and when. `f` gets the transaction as
    /// a [`FencedTransaction`], whose methods block.
    ///
    /// ```no_run
    /// # fn demo(store: &leasehold_postgres::PgStore, lease: &leasehold_postgres::Lease)
    /// # -> Result<(), leasehold_postgres::Error> {
    /// use leasehold_postgres::Fenced;
    ///
    /// let fenced = store.with_fence(lease, |tx| {
    ///     tx.execute("UPDATE plans SET phase = 2 WHERE id = 42", &[])?;
    ///     Ok::<_, leasehold_postgres::Error>(())
    /// })?;
    /// if let Fenced::Lost(lost) = fenced {
    ///     // Nothing was written: lost.reason() says why.
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::with_fence`].
    pub fn with_fence<T, E: From<Error>>(
        &self,
        lease: &Lease,
        f: impl FnOnce(&FencedTransaction<'_>) -> Result<T, E>,
    ) -> Result<Fenced<T>, E> {
        let runtime = self.runtime().handle();
        self.block_on(self.store.with_fence(lease, async move |tx| {
            f(&FencedTransaction::new(tx, runtime))
        }))
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The connection first, while its driver can still tell the server goodbye; then the
        // runtime, without `Runtime::drop`, which panics inside another runtime.
        self.block_on(self.store.close());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

// The store is shared between threads; this fails to compile if a field ever stops allowing it.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PgStore>();
};

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgStore").field(&self.store).finish()
    }
}
