//! The contract as code: [`LockStore`] (blocking) and [`AsyncLockStore`], with the same method
//! names in every store.

use std::future::Future;
use std::time::{Duration, Instant};

use leasehold_core::{FencingToken, RequestId};

use crate::answer::{Acquire, Evict, Release, Renew};
use crate::error::StoreError;
use crate::lease::{Holder, Lease, StoreId};

/// What every leasehold store does. Each store also has these methods as inherent methods, so a
/// caller of one store needs no import; this trait is for code generic over stores (the test
/// kit, the `leasehold` crate's `hold`).
///
/// The promises behind each method are those of `leasehold-core`: at most one valid lease per
/// resource on the store's clock, fencing tokens that strictly increase per resource and never
/// restart, contention as an answer rather than an error, and an error that means nothing
/// changed. Waiting follows parking_lot's `try_lock_for` / `try_lock_until`.
pub trait LockStore: Send + Sync {
    /// The store's error: bad input, a store that stayed busy, a storage failure.
    type Error: StoreError;

    /// This store's identity, carried by every lease it grants.
    fn store_id(&self) -> StoreId;

    /// A fresh request id for an acquire attempt; reuse it only to retry that attempt.
    fn new_request_id(&self) -> RequestId;

    /// Takes the lease on `resource` for `owner` and `ttl` if nobody holds a valid one. Tries
    /// once.
    ///
    /// # Errors
    ///
    /// Invalid input, or a store failure; nothing was granted.
    fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Self::Error>;

    /// [`try_acquire`](LockStore::try_acquire) with a caller-chosen request id: while the lease
    /// an earlier attempt with the same id and owner produced is valid, it is returned again
    /// (same token) instead of `Busy`. The retry path after a lost reply.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](LockStore::try_acquire).
    fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Self::Error>;

    /// Like [`try_acquire`](LockStore::try_acquire), waiting up to `timeout` for the resource to
    /// become free; then returns the last `Busy`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](LockStore::try_acquire).
    fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Self::Error>;

    /// Like [`acquire_for`](LockStore::acquire_for), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](LockStore::try_acquire).
    fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Self::Error>;

    /// Extends `lease` to at least `now + ttl` if it is still valid; never shortens it.
    ///
    /// # Errors
    ///
    /// Invalid input, a lease of another store, or a store failure; nothing changed.
    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Self::Error>;

    /// Ends `lease`.
    ///
    /// # Errors
    ///
    /// A lease of another store, or a store failure; nothing changed.
    fn release(&self, lease: &Lease) -> Result<Release, Self::Error>;

    /// [`renew`](LockStore::renew) for a process that holds only the resource and the token (a
    /// supervisor, an admin tool, a command run under a lease).
    ///
    /// # Errors
    ///
    /// As [`renew`](LockStore::renew).
    fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Self::Error>;

    /// [`release`](LockStore::release) for a process that holds only the resource and the token.
    ///
    /// # Errors
    ///
    /// As [`release`](LockStore::release).
    fn release_by_token(&self, resource: &str, token: FencingToken)
    -> Result<Release, Self::Error>;

    /// The holder of the lease on `resource` valid now, if any.
    ///
    /// # Errors
    ///
    /// Invalid input, or a store failure.
    fn holder(&self, resource: &str) -> Result<Option<Holder>, Self::Error>;

    /// Every lease valid now, ordered by resource name (bytewise).
    ///
    /// # Errors
    ///
    /// A store failure.
    fn holders(&self) -> Result<Vec<Holder>, Self::Error>;

    /// Administrative: ends whatever lease on `resource` is valid, whoever holds it.
    ///
    /// # Errors
    ///
    /// Invalid input, or a store failure; nothing changed.
    fn evict(&self, resource: &str) -> Result<Evict, Self::Error>;

    /// Deletes the records of leases over for more than `idle_for`, keeping the token history;
    /// returns how many.
    ///
    /// # Errors
    ///
    /// A store failure; nothing changed.
    fn prune(&self, idle_for: Duration) -> Result<usize, Self::Error>;
}

/// [`LockStore`] for async callers: the same methods, with the same meaning, as futures.
///
/// Every future is `Send`, so a store can be shared by tasks on a multi-threaded runtime.
pub trait AsyncLockStore: Send + Sync {
    /// The store's error.
    type Error: StoreError;

    /// See [`LockStore::store_id`].
    fn store_id(&self) -> StoreId;

    /// See [`LockStore::new_request_id`].
    fn new_request_id(&self) -> RequestId;

    /// See [`LockStore::try_acquire`].
    fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Acquire, Self::Error>> + Send;

    /// See [`LockStore::try_acquire_with_id`].
    fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> impl Future<Output = Result<Acquire, Self::Error>> + Send;

    /// See [`LockStore::acquire_for`].
    fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> impl Future<Output = Result<Acquire, Self::Error>> + Send;

    /// See [`LockStore::acquire_until`].
    fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> impl Future<Output = Result<Acquire, Self::Error>> + Send;

    /// See [`LockStore::renew`].
    fn renew(
        &self,
        lease: &Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<Renew, Self::Error>> + Send;

    /// See [`LockStore::release`].
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<Release, Self::Error>> + Send;

    /// See [`LockStore::renew_by_token`].
    fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> impl Future<Output = Result<Renew, Self::Error>> + Send;

    /// See [`LockStore::release_by_token`].
    fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> impl Future<Output = Result<Release, Self::Error>> + Send;

    /// See [`LockStore::holder`].
    fn holder(
        &self,
        resource: &str,
    ) -> impl Future<Output = Result<Option<Holder>, Self::Error>> + Send;

    /// See [`LockStore::holders`].
    fn holders(&self) -> impl Future<Output = Result<Vec<Holder>, Self::Error>> + Send;

    /// See [`LockStore::evict`].
    fn evict(&self, resource: &str) -> impl Future<Output = Result<Evict, Self::Error>> + Send;

    /// See [`LockStore::prune`].
    fn prune(&self, idle_for: Duration) -> impl Future<Output = Result<usize, Self::Error>> + Send;
}

/// `now + timeout`, or `None` for a timeout too long to add ("wait forever").
#[must_use]
pub fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
