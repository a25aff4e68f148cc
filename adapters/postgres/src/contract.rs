//! The contract's traits: [`LockStore`] for [`PgStore`] and [`AsyncLockStore`] for
//! [`AsyncPgStore`]. The methods are the stores' own, so callers of one store need no import and
//! code generic over stores gets the same behaviour.

use std::future::Future;
use std::time::{Duration, Instant};

use leasehold_contract::{
    Acquire, AsyncLockStore, Evict, Holder, Lease, LockStore, Release, Renew, StoreId,
};
use leasehold_core::{FencingToken, RequestId};

use crate::blocking::PgStore;
use crate::error::Error;
use crate::store::AsyncPgStore;

impl LockStore for PgStore {
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

impl AsyncLockStore for AsyncPgStore {
    type Error = Error;

    fn store_id(&self) -> StoreId {
        Self::store_id(self)
    }

    fn new_request_id(&self) -> RequestId {
        Self::new_request_id(self)
    }

    fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send {
        Self::try_acquire(self, resource, owner, ttl)
    }

    fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send {
        Self::try_acquire_with_id(self, resource, owner, ttl, request_id)
    }

    fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send {
        Self::acquire_for(self, resource, owner, ttl, timeout)
    }

    fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send {
        Self::acquire_until(self, resource, owner, ttl, deadline)
    }

    fn renew(
        &self,
        lease: &Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<Renew, Error>> + Send {
        Self::renew(self, lease, ttl)
    }

    fn release(&self, lease: &Lease) -> impl Future<Output = Result<Release, Error>> + Send {
        Self::release(self, lease)
    }

    fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> impl Future<Output = Result<Renew, Error>> + Send {
        Self::renew_by_token(self, resource, token, ttl)
    }

    fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> impl Future<Output = Result<Release, Error>> + Send {
        Self::release_by_token(self, resource, token)
    }

    fn holder(&self, resource: &str) -> impl Future<Output = Result<Option<Holder>, Error>> + Send {
        Self::holder(self, resource)
    }

    fn holders(&self) -> impl Future<Output = Result<Vec<Holder>, Error>> + Send {
        Self::holders(self)
    }

    fn evict(&self, resource: &str) -> impl Future<Output = Result<Evict, Error>> + Send {
        Self::evict(self, resource)
    }

    fn prune(&self, idle_for: Duration) -> impl Future<Output = Result<usize, Error>> + Send {
        Self::prune(self, idle_for)
    }
}
