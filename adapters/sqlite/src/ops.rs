//! The lock operations. Each state change is one statement from [`sql`]; when it changes nothing,
//! one follow-up read lets the core say why (busy, lost, not holder). That read only reports: if
//! it finds a state in which the write would have applied, the row changed between the two
//! statements, and the operation starts over with a fresh clock reading.
//!
//! Starting over is lock-free, not wait-free: each extra round means another client's transition
//! committed in between (or, for acquire, that the blocking lease reached its expiry), so some
//! client always makes progress. The rounds are still bounded ([`MAX_ROUNDS`], then
//! [`Error::Busy`]): a write and a read that keep disagreeing about one row would otherwise spin
//! forever, whether because of extreme contention or a statement that disagrees with the core.

use std::borrow::Borrow;
use std::time::Duration;

use leasehold_core::{
    AcquireOutcome, GrantKind, LeaseRecord, LockState, Outcome, Owner, ReleaseOutcome, Request,
    RequestId, ResourceName, Timestamp, Ttl, lease_expiry,
};

use crate::error::Error;
use crate::outcome::{Acquire, Evict, Holder, Lease, Lost, Release, Renew};
use crate::row;
use crate::seam::{Seam, Statement};
use crate::sql::{self, RawGrant};
use crate::store::SqliteStore;

/// How many write-then-read rounds one operation makes before giving up with [`Error::Busy`].
/// Each extra round needs another client's commit on the same row within microseconds, so real
/// contention almost never needs a second round.
const MAX_ROUNDS: usize = 64;

/// An acquire request, validated by the core.
pub(crate) struct AcquireRequest {
    resource: ResourceName,
    owner: Owner,
    ttl: Ttl,
    request_id: RequestId,
}

impl AcquireRequest {
    pub(crate) fn new(resource: &str, owner: &str, ttl: Duration) -> Result<Self, Error> {
        Ok(Self {
            resource: ResourceName::new(resource)?,
            owner: Owner::new(owner)?,
            ttl: Ttl::from_duration(ttl)?,
            request_id: RequestId::from_u128(0),
        })
    }

    pub(crate) fn with_id(self, request_id: RequestId) -> Self {
        Self { request_id, ..self }
    }

    pub(crate) fn resource(&self) -> &str {
        self.resource.as_str()
    }

    fn core(&self) -> Request {
        Request::Acquire {
            owner: self.owner.clone(),
            request_id: self.request_id,
            ttl: self.ttl,
        }
    }

    fn lease(&self, (token, acquired_at, expires_at): RawGrant) -> Result<Lease, Error> {
        let corrupt = |reason| Error::CorruptRow {
            resource: self.resource.to_string(),
            reason,
        };
        let token = row::token(token).ok_or_else(|| corrupt("invalid token"))?;
        let acquired_at = row::time(acquired_at).ok_or_else(|| corrupt("negative time"))?;
        let expires_at = row::time(expires_at).ok_or_else(|| corrupt("negative time"))?;
        Ok(self.lease_of(token, acquired_at, expires_at))
    }

    fn lease_of(
        &self,
        token: leasehold_core::FencingToken,
        acquired_at: Timestamp,
        expires_at: Timestamp,
    ) -> Lease {
        let (resource, owner) = (self.resource.clone(), self.owner.clone());
        Lease::from_parts(
            resource,
            owner,
            token,
            self.request_id,
            acquired_at,
            expires_at,
        )
    }
}

impl<S: Seam> SqliteStore<S> {
    /// Takes the lease on `resource` for `owner` if nobody holds a valid one, for `ttl` (rounded
    /// up to whole milliseconds). Tries once; see [`SqliteStore::acquire`] to wait.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written);
    /// storage errors.
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new(resource, owner, ttl)?;
        self.attempt(&request.with_id(self.next_request_id()))
    }

    /// [`SqliteStore::try_acquire`] with a caller-chosen request id: the retry path after a lost
    /// reply. While the lease an earlier attempt with the same id and owner produced is valid,
    /// this returns that same lease (same token) instead of `Busy`, and writes nothing.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::try_acquire`].
    pub fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        self.attempt(&AcquireRequest::new(resource, owner, ttl)?.with_id(request_id))
    }

    pub(crate) fn attempt(&self, request: &AcquireRequest) -> Result<Acquire, Error> {
        for _ in 0..MAX_ROUNDS {
            if let Some(outcome) = self.attempt_once(request)? {
                return Ok(outcome);
            }
        }
        Err(Error::Busy)
    }

    /// One acquire write, and when it was refused, one read for the report. `None`: the lease
    /// that blocked the write ended before the read, so no instant made `Busy` true.
    fn attempt_once(&self, request: &AcquireRequest) -> Result<Option<Acquire>, Error> {
        // Refuse an expiry no store can keep before sending anything; the statement checks its
        // own reading again.
        lease_expiry(self.now()?, request.ttl)?;
        let (granted, now) = self.run_now(Statement::Acquire, |c, now| {
            let expires_at = match lease_expiry(now, request.ttl) {
                Ok(expires_at) => expires_at,
                Err(e) => return Ok(Err(e.into())),
            };
            let params = sql::AcquireParams {
                resource: request.resource.as_str(),
                owner: request.owner.as_str(),
                request_id: request.request_id.to_bytes(),
                now: now.as_millis(),
                expires_at: expires_at.as_millis(),
            };
            sql::acquire(c, &params).map(Ok)
        })?;
        if let Some(grant) = granted {
            return Ok(Some(Acquire::Granted(request.lease(grant)?)));
        }
        let state = self.read_state(&request.resource)?;
        Ok(match self.report(&state, &request.core(), now)? {
            Some(Outcome::Acquire(AcquireOutcome::Busy(holder))) => {
                Some(Acquire::Busy(row::core_holder(&request.resource, holder)))
            }
            Some(Outcome::Acquire(AcquireOutcome::Granted(grant))) => {
                debug_assert_eq!(grant.kind, GrantKind::Replayed, "a new grant writes");
                let lease = request.lease_of(grant.token, grant.acquired_at, grant.expires_at);
                Some(Acquire::Granted(lease))
            }
            _ => None,
        })
    }

    /// Extends `lease` to at least `now + ttl` if it is still valid; never shortens it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written); storage errors.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        let ttl = Ttl::from_duration(ttl)?;
        let (resource, token) = (lease.resource(), lease.token());
        lease_expiry(self.now()?, ttl)?;
        for _ in 0..MAX_ROUNDS {
            let (renewed, now) = self.run_now(Statement::Renew, |c, now| {
                let expires_at = match lease_expiry(now, ttl) {
                    Ok(expires_at) => expires_at.as_millis(),
                    Err(e) => return Ok(Err(e.into())),
                };
                let (resource, token) = (resource.as_str(), token.get());
                sql::renew(c, resource, token, now.as_millis(), expires_at).map(Ok)
            })?;
            if let Some(row) = renewed {
                let (resource, record) = row.into_record()?;
                return Ok(Renew::Renewed(row::lease(resource, record)));
            }
            let state = self.read_state(resource)?;
            if let Some(lost) = Self::lost(&state, resource, token, now) {
                return Ok(Renew::Lost(lost));
            }
        }
        Err(Error::Busy)
    }

    /// Ends `lease`. Retrying a release whose reply was lost gets the first answer again.
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn release(&self, lease: impl Borrow<Lease>) -> Result<Release, Error> {
        let lease = lease.borrow();
        let released = self.release_row(lease);
        // Whatever the answer, the lease may be free now: this store's waiters try again.
        self.turns.notify(lease.resource().as_str());
        released
    }

    fn release_row(&self, lease: &Lease) -> Result<Release, Error> {
        let (resource, token) = (lease.resource(), lease.token());
        for _ in 0..MAX_ROUNDS {
            let (status, now) = self.run_now(Statement::Release, |c, now| {
                sql::release(c, resource.as_str(), token.get(), now.as_millis()).map(Ok)
            })?;
            match status {
                Some(1) => return Ok(Release::Released),
                Some(2) => return Ok(Release::Expired),
                Some(_) => return Err(corrupt(resource, "invalid status")),
                None => {}
            }
            let state = self.read_state(resource)?;
            // `None`: the core would write, so the row changed since the write; start over.
            // (The core answers a release with a release outcome, so no other arm is taken.)
            if let Some(Outcome::Release(outcome)) =
                self.report(&state, &Request::Release { token }, now)?
            {
                return Ok(release_outcome(resource, outcome));
            }
        }
        Err(Error::Busy)
    }

    /// Administrative: ends whatever lease on `resource` is valid, whoever holds it. The evicted
    /// holder finds out at its next renew, release or fenced write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] (nothing written); storage errors.
    pub fn evict(&self, resource: &str) -> Result<Evict, Error> {
        let resource = ResourceName::new(resource)?;
        let (evicted, _) = self.run_now(Statement::Evict, |c, now| {
            sql::evict(c, resource.as_str(), now.as_millis()).map(Ok)
        })?;
        self.turns.notify(resource.as_str());
        Ok(match evicted {
            Some(row) => {
                let (resource, record) = row.into_record()?;
                Evict::Evicted(row::holder(&resource, &record))
            }
            None => Evict::NotHeld,
        })
    }

    /// Deletes the rows of leases over for **more than** `idle_for` (truncated to whole
    /// milliseconds), and returns how many. Token history survives: the deleted rows' largest
    /// token is kept as the pruned high-water mark, and any later grant is above it.
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        let idle_ms = u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX);
        // No row has been over for more than i64::MAX ms, so clamping changes no answer.
        let idle_ms = i64::try_from(idle_ms).unwrap_or(i64::MAX);
        let (pruned, _) = self.run_now(Statement::Prune, |c, now| {
            sql::prune(c, now.as_millis(), idle_ms).map(Ok)
        })?;
        Ok(pruned)
    }

    /// The holder of the lease on `resource` valid now, if any.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; storage errors.
    pub fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        let resource = ResourceName::new(resource)?;
        let (row, now) = self.run_now(Statement::ReadLock, |c, _| {
            sql::read_lock(c, resource.as_str()).map(Ok)
        })?;
        let state = row::state_of(row)?;
        Ok(state.holder_at(now).map(|h| row::core_holder(&resource, h)))
    }

    /// Every lease valid now, ordered by resource name (bytewise).
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn list(&self) -> Result<Vec<Holder>, Error> {
        let (rows, _) = self.run_now(Statement::ListLocks, |c, now| {
            sql::list_locks(c, now.as_millis()).map(Ok)
        })?;
        rows.into_iter()
            .map(|row| {
                row.into_record()
                    .map(|(r, record)| row::holder(&r, &record))
            })
            .collect()
    }

    /// Every stored row as the core's record, valid or not, ordered by resource: for audits, and
    /// for checking the store against [`leasehold_core::LockTable::records`].
    ///
    /// # Errors
    ///
    /// [`Error::CorruptRow`] for a row edited by hand; storage errors.
    pub fn records(&self) -> Result<Vec<(ResourceName, LeaseRecord)>, Error> {
        let rows = self.run(Statement::ReadRecords, |c| sql::read_records(c))?;
        rows.into_iter().map(sql::RawRow::into_record).collect()
    }

    /// The largest token among pruned (deleted) rows, `None` if none was ever deleted: the
    /// counterpart of [`leasehold_core::LockTable::pruned_high_water`].
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn pruned_high_water(&self) -> Result<Option<leasehold_core::FencingToken>, Error> {
        let value = self.run(Statement::ReadRecords, |c| sql::pruned_high_water(c))?;
        match value {
            0 => Ok(None),
            value => row::token(value)
                .map(Some)
                .ok_or_else(|| corrupt("leasehold_meta", "invalid pruned_high_water")),
        }
    }

    fn read_state(&self, resource: &ResourceName) -> Result<LockState, Error> {
        let row = self.run(Statement::ReadLock, |c| {
            sql::read_lock(c, resource.as_str())
        })?;
        row::state_of(row)
    }

    /// The core's answer to `request` on the state a follow-up read found. `None` when the core
    /// would write: the row changed after the write statement, which must then be tried again.
    fn report(
        &self,
        state: &LockState,
        request: &Request,
        now: Timestamp,
    ) -> Result<Option<Outcome>, Error> {
        let decision = state.decide(request, now)?;
        Ok(decision.write.is_none().then_some(decision.outcome))
    }

    /// Whether the lease with `token` is lost on `state` at `now`, as the core decides it
    /// ([`LockState::loss`]): `None` when it is the valid lease.
    pub(crate) fn lost(
        state: &LockState,
        resource: &ResourceName,
        token: leasehold_core::FencingToken,
        now: Timestamp,
    ) -> Option<Lost> {
        state.loss(token, now).map(|(reason, current)| Lost {
            reason,
            current: current.map(|h| row::core_holder(resource, h)),
        })
    }
}

fn release_outcome(resource: &ResourceName, outcome: ReleaseOutcome) -> Release {
    match outcome {
        ReleaseOutcome::Released => Release::Released,
        ReleaseOutcome::Expired => Release::Expired,
        ReleaseOutcome::NotHolder { current } => {
            Release::NotHolder(current.map(|h| row::core_holder(resource, h)))
        }
    }
}

fn corrupt(resource: impl ToString, reason: &'static str) -> Error {
    Error::CorruptRow {
        resource: resource.to_string(),
        reason,
    }
}
