//! [`AsyncLockStore`] for [`AsyncStore`]: the contract's async methods are the store's own.

use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, AsyncLockStore, Evict, Holder, Lease, Release, Renew, StoreId};
use leasehold_core::{FencingToken, RequestId};

use crate::asynchronous::AsyncStore;
use crate::error::Error;

impl AsyncLockStore for AsyncStore {
    type Error = Error;

    fn store_id(&self) -> StoreId {
        Self::store_id(self)
    }

    fn new_request_id(&self) -> RequestId {
        Self::new_request_id(self)
    }

    async fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        Self::try_acquire(self, resource, owner, ttl).await
    }

    async fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        Self::try_acquire_with_id(self, resource, owner, ttl, request_id).await
    }

    async fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        Self::acquire_for(self, resource, owner, ttl, timeout).await
    }

    async fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        Self::acquire_until(self, resource, owner, ttl, deadline).await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        Self::renew(self, lease, ttl).await
    }

    async fn release(&self, lease: &Lease) -> Result<Release, Error> {
        Self::release(self, lease).await
    }

    async fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        Self::renew_by_token(self, resource, token, ttl).await
    }

    async fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> Result<Release, Error> {
        Self::release_by_token(self, resource, token).await
    }

    async fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        Self::holder(self, resource).await
    }

    async fn holders(&self) -> Result<Vec<Holder>, Error> {
        Self::holders(self).await
    }

    async fn evict(&self, resource: &str) -> Result<Evict, Error> {
        Self::evict(self, resource).await
    }

    async fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        Self::prune(self, idle_for).await
    }
}
