//! The contract for [`MemoryStore`]: [`LockStore`] and [`Audit`].

use std::time::{Duration, Instant};

use leasehold_contract::{
    Acquire, Audit, Evict, Holder, Lease, LockStore, Release, Renew, StoreId, deadline_after,
};
use leasehold_core::{EvictOutcome, FencingToken, LockTable, Outcome, Request, RequestId};

use super::{MemoryError, MemoryStore};

impl LockStore for MemoryStore {
    type Error = MemoryError;

    fn store_id(&self) -> StoreId {
        self.db.id
    }

    fn new_request_id(&self) -> RequestId {
        self.request_ids.next()
    }

    fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, MemoryError> {
        self.try_acquire_with_id(resource, owner, ttl, self.new_request_id())
    }

    fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, MemoryError> {
        self.attempt(&self.request(resource, owner, ttl, request_id)?)
    }

    fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, MemoryError> {
        let request = self.request(resource, owner, ttl, self.new_request_id())?;
        self.wait(&request, deadline_after(timeout))
    }

    fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, MemoryError> {
        let request = self.request(resource, owner, ttl, self.new_request_id())?;
        self.wait(&request, Some(deadline))
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, MemoryError> {
        self.own(lease)?;
        let sent = Instant::now();
        Ok(
            match self.renew_token(lease.resource(), lease.token(), ttl)? {
                Ok(record) => {
                    let holder = Holder::from_core(lease.resource(), record.holder());
                    Renew::Renewed(lease.renewed(holder, sent, ttl))
                }
                Err(lost) => Renew::Lost(lost),
            },
        )
    }

    fn release(&self, lease: &Lease) -> Result<Release, MemoryError> {
        self.own(lease)?;
        self.release_token(lease.resource(), lease.token())
    }

    fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, MemoryError> {
        let resource = self.resource(resource)?;
        let sent = Instant::now();
        Ok(match self.renew_token(&resource, token, ttl)? {
            Ok(record) => {
                let holder = Holder::from_core(&resource, record.holder());
                Renew::Renewed(Lease::new(holder, record.request_id, self.db.id, sent, ttl))
            }
            Err(lost) => Renew::Lost(lost),
        })
    }

    fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> Result<Release, MemoryError> {
        self.release_token(&self.resource(resource)?, token)
    }

    fn holder(&self, resource: &str) -> Result<Option<Holder>, MemoryError> {
        self.enter()?;
        let resource = self.resource(resource)?;
        let now = self.now()?;
        let holder = self.with_table(|table| table.holder(&resource, now));
        Ok(holder.map(|h| Holder::from_core(&resource, h)))
    }

    fn holders(&self) -> Result<Vec<Holder>, MemoryError> {
        self.enter()?;
        let now = self.now()?;
        Ok(self.with_table(|table| {
            table
                .holders(now)
                .map(|(resource, h)| Holder::from_core(resource, h))
                .collect()
        }))
    }

    fn evict(&self, resource: &str) -> Result<Evict, MemoryError> {
        self.enter()?;
        let resource = self.resource(resource)?;
        let now = self.now()?;
        let outcome = self.with_table(|table| table.apply(&resource, &Request::Evict, now))?;
        self.wake(&resource);
        Ok(match outcome {
            Outcome::Evict(EvictOutcome::Evicted(holder)) => {
                Evict::Evicted(Holder::from_core(&resource, holder))
            }
            Outcome::Evict(EvictOutcome::NotHeld) => Evict::NotHeld,
            other => unreachable!("an evict is answered as an evict: {other:?}"),
        })
    }

    fn prune(&self, idle_for: Duration) -> Result<usize, MemoryError> {
        self.enter()?;
        let now = self.now()?;
        let idle_ms = u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX);
        Ok(self.with_table(|table| table.prune(now, idle_ms)))
    }
}

impl Audit for MemoryStore {
    type Error = MemoryError;

    fn snapshot(&self) -> Result<LockTable, MemoryError> {
        Ok(self.with_table(|table| table.clone()))
    }
}
