//! [`LockStore`] for [`Store`]: the contract's methods are the store's own, so code generic over
//! stores (the test kit, a caller's helpers) takes a `Store` like any other.

use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Evict, Holder, Lease, LockStore, Release, Renew, StoreId};
use leasehold_core::{FencingToken, RequestId};

use crate::error::Error;
use crate::store::Store;

impl LockStore for Store {
    type Error = Error;

    fn store_id(&self) -> StoreId {
        Self::store_id(self)
    }

    fn new_request_id(&self) -> RequestId {
        Self::new_request_id(self)
    }

    fn try_acquire(&self, resource: &str, owner: &str, ttl: Duration) -> Result<Acquire, Error> {
        Self::try_acquire(self, resource, owner, ttl)
    }

    fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        Self::try_acquire_with_id(self, resource, owner, ttl, request_id)
    }

    fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        Self::acquire_for(self, resource, owner, ttl, timeout)
    }

    fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        Self::acquire_until(self, resource, owner, ttl, deadline)
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        Self::renew(self, lease, ttl)
    }

    fn release(&self, lease: &Lease) -> Result<Release, Error> {
        Self::release(self, lease)
    }

    fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        Self::renew_by_token(self, resource, token, ttl)
    }

    fn release_by_token(&self, resource: &str, token: FencingToken) -> Result<Release, Error> {
        Self::release_by_token(self, resource, token)
    }

    fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        Self::holder(self, resource)
    }

    fn holders(&self) -> Result<Vec<Holder>, Error> {
        Self::holders(self)
    }

    fn evict(&self, resource: &str) -> Result<Evict, Error> {
        Self::evict(self, resource)
    }

    fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        Self::prune(self, idle_for)
    }
}
