//! [`MemoryStore`]: the contract kept in memory, as the core's [`LockTable`] behind a mutex — the
//! kit's reference store — and the same store with one planted [`Flaw`] each, which the kit's
//! suites must catch (their negative controls).

mod backend;
mod contract;
mod error;
mod flaw;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use leasehold_contract::rounds::AcquireRequest;
use leasehold_contract::wait::{self, Turns, Waiter};
use leasehold_contract::{
    Acquire, Clock, Fenced, Holder, Lease, Lost, Release, RequestIds, StoreId,
};
use leasehold_core::{
    AcquireOutcome, FencingToken, GrantKind, LeaseRecord, LockState, LockTable, Outcome, Request,
    ResourceName, Timestamp, Ttl, check_clock,
};

pub use backend::MemoryBackend;
pub use error::MemoryError;
pub use flaw::{Flaw, Planted, planted};

/// One in-memory "database": the table every [`MemoryStore`] opened on it shares.
#[derive(Debug)]
pub struct MemoryDatabase {
    table: Mutex<Option<LockTable>>,
    id: StoreId,
}

impl MemoryDatabase {
    /// An empty database with the id `id`.
    #[must_use]
    pub fn new(id: StoreId) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(None),
            id,
        })
    }
}

/// The contract kept in memory, correct or with one [`Flaw`]. Stores opened on one
/// [`MemoryDatabase`] share its table, as stores of one SQLite file share its rows; each has its
/// own line of waiters, as each SQLite store has.
#[derive(Debug)]
pub struct MemoryStore {
    db: Arc<MemoryDatabase>,
    clock: Arc<dyn Clock>,
    flaw: Flaw,
    request_ids: RequestIds,
    turns: Turns,
}

impl MemoryStore {
    /// A store on `db`, reading `clock`, with `flaw`. The first store of a database creates its
    /// table, starting above its clock reading as every store does
    /// ([`starting_high_water`](leasehold_contract::starting_high_water)).
    ///
    /// # Panics
    ///
    /// When the operating system's random source or `clock` fails: test setup cannot go on.
    #[must_use]
    pub fn open(db: &Arc<MemoryDatabase>, clock: Arc<dyn Clock>, flaw: Flaw) -> Self {
        let now = clock.now().expect("the clock reads at open");
        let mut table = db.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.get_or_insert_with(|| {
            LockTable::from_records([], leasehold_contract::starting_high_water(now))
        });
        drop(table);
        Self {
            db: Arc::clone(db),
            clock,
            flaw,
            request_ids: RequestIds::new().expect("the random source works"),
            turns: Turns::default(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Option<LockTable>> {
        self.db.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the table, under the database's one lock.
    fn with_table<T>(&self, f: impl FnOnce(&mut LockTable) -> T) -> T {
        let mut guard = self.table();
        f(guard.as_mut().expect("a store's database has a table"))
    }

    fn now(&self) -> Result<Timestamp, MemoryError> {
        let now = self.clock.now()?;
        check_clock(now)?;
        Ok(now)
    }

    /// Fails every operation of a store with [`Flaw::AlwaysBusy`].
    fn enter(&self) -> Result<(), MemoryError> {
        if self.flaw == Flaw::AlwaysBusy {
            return Err(MemoryError::Busy);
        }
        Ok(())
    }

    fn resource(&self, name: &str) -> Result<ResourceName, MemoryError> {
        match self.flaw {
            // **Planted bug**: names compared without case.
            Flaw::FoldsCase => Ok(ResourceName::new(name.to_lowercase())?),
            _ => Ok(ResourceName::new(name)?),
        }
    }

    fn own(&self, lease: &Lease) -> Result<(), MemoryError> {
        if lease.store_id() == self.db.id {
            Ok(())
        } else {
            Err(MemoryError::ForeignLease)
        }
    }

    fn request(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        id: leasehold_core::RequestId,
    ) -> Result<AcquireRequest, MemoryError> {
        let resource = self.resource(resource)?;
        AcquireRequest::new::<MemoryError>(resource.as_str(), owner, ttl, id)
    }

    /// One acquire attempt: decided and written under one lock, except where a flaw says
    /// otherwise.
    fn attempt(&self, request: &AcquireRequest) -> Result<Acquire, MemoryError> {
        self.enter()?;
        let sent = Instant::now();
        let now = self.now()?;
        let core = match self.flaw {
            // **Planted bug**: the request's own id is forgotten; a retry is a stranger.
            Flaw::NoReplay => with_fresh_id(request, self.request_ids.next()),
            _ => request.core(),
        };
        match self.flaw {
            Flaw::CheckThenAct => self.check_then_act(request, &core, now, sent),
            _ => self.with_table(|table| {
                let state = self.flawed_state(table.state(request.resource()), request);
                let decision = state.decide(&core, now)?;
                if let Some(record) = decision.write.clone() {
                    write(table, request.resource(), record);
                }
                Ok(self.answer(request, decision.outcome, now, sent))
            }),
        }
    }

    /// The state the store decides on: the real one, or with [`Flaw::Reentrant`] a state in
    /// which the holder's own valid lease does not count.
    fn flawed_state(&self, state: LockState, request: &AcquireRequest) -> LockState {
        match (self.flaw, state.record()) {
            // **Planted bug**: the holder's own lease is no obstacle to it.
            (Flaw::Reentrant, Some(record)) if record.owner == *request.owner() => {
                LockState::Vacant {
                    high_water: Some(record.token),
                }
            }
            _ => state,
        }
    }

    /// **Planted bug** ([`Flaw::CheckThenAct`]): decide on a copy, let others run, then write
    /// that decision unconditionally, numbering the token from the row as it is then.
    fn check_then_act(
        &self,
        request: &AcquireRequest,
        core: &Request,
        now: Timestamp,
        sent: Instant,
    ) -> Result<Acquire, MemoryError> {
        let decision = self.with_table(|table| table.decide(request.resource(), core, now))?;
        let Some(record) = decision.write else {
            return Ok(self.answer(request, decision.outcome, now, sent));
        };
        std::thread::sleep(Duration::from_micros(300));
        let record = self.with_table(|table| {
            let above = table.state(request.resource()).high_water();
            let token = above
                .and_then(|t| FencingToken::after(t.get()))
                .unwrap_or(record.token);
            let record = LeaseRecord { token, ..record };
            write(table, request.resource(), record.clone());
            record
        });
        let grant = (record.token, record.acquired_at, record.expires_at);
        Ok(Acquire::Granted(request.granted(grant, self.db.id, sent)))
    }

    /// The store's answer for the core's acquire outcome.
    fn answer(
        &self,
        request: &AcquireRequest,
        outcome: Outcome,
        now: Timestamp,
        sent: Instant,
    ) -> Acquire {
        match outcome {
            Outcome::Acquire(AcquireOutcome::Granted(grant)) => {
                let ttl = match grant.kind {
                    GrantKind::New => request.ttl().as_duration(),
                    GrantKind::Replayed => {
                        Duration::from_millis(grant.expires_at.millis_since(now))
                    }
                };
                let holder = Holder::new(
                    request.resource().clone(),
                    request.owner().clone(),
                    grant.token,
                    grant.acquired_at,
                    grant.expires_at,
                );
                Acquire::Granted(Lease::new(
                    holder,
                    request.request_id(),
                    self.db.id,
                    sent,
                    ttl,
                ))
            }
            Outcome::Acquire(AcquireOutcome::Busy(holder)) => {
                Acquire::Busy(Holder::from_core(request.resource(), holder))
            }
            other => unreachable!("an acquire is answered as an acquire: {other:?}"),
        }
    }

    fn renew_token(
        &self,
        resource: &ResourceName,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Result<LeaseRecord, Lost>, MemoryError> {
        self.enter()?;
        let ttl = Ttl::from_duration(ttl)?;
        let now = self.now()?;
        self.with_table(|table| {
            let state = table.state(resource);
            let token = match (self.flaw, state.record()) {
                // **Planted bug**: any token renews the resource's lease.
                (Flaw::RenewsAnyToken, Some(record)) => record.token,
                _ => token,
            };
            let decision = state.decide(&Request::Renew { token, ttl }, now)?;
            match decision.write {
                Some(record) => {
                    write(table, resource, record.clone());
                    Ok(Ok(record))
                }
                None => Ok(Err(Lost::from_core(
                    resource,
                    state
                        .loss(token, now)
                        .expect("a renew that writes nothing is lost"),
                ))),
            }
        })
    }

    fn release_token(
        &self,
        resource: &ResourceName,
        token: FencingToken,
    ) -> Result<Release, MemoryError> {
        self.enter()?;
        let now = self.now()?;
        let answer = self.with_table(|table| {
            let token = match (self.flaw, table.state(resource).valid_record(now)) {
                // **Planted bug**: frees whatever lease the resource has.
                (Flaw::ReleaseByName, Some(record)) => record.token,
                _ => token,
            };
            match table.apply(resource, &Request::Release { token }, now)? {
                Outcome::Release(outcome) => Ok(Release::from_core(resource, outcome)),
                other => unreachable!("a release is answered as a release: {other:?}"),
            }
        });
        self.wake(resource);
        answer
    }

    /// Wakes this store's waiters for `resource`, unless a flaw says they are never woken.
    fn wake(&self, resource: &ResourceName) {
        if self.flaw != Flaw::NoTurns {
            self.turns.notify(resource.as_str());
        }
    }

    /// A fenced write that changes nothing: committed exactly when `lease` is the valid lease.
    ///
    /// # Errors
    ///
    /// A lease of another store, the clock, or a busy store ([`Flaw::AlwaysBusy`]).
    pub fn fenced_write(&self, lease: &Lease) -> Result<Fenced<()>, MemoryError> {
        self.enter()?;
        self.own(lease)?;
        let now = self.now()?;
        let state = self.with_table(|table| table.state(lease.resource()));
        Ok(match state.loss(lease.token(), now) {
            None => Fenced::Committed(()),
            Some(loss) => Fenced::Lost(Lost::from_core(lease.resource(), loss)),
        })
    }

    fn wait(
        &self,
        request: &AcquireRequest,
        deadline: Option<Instant>,
    ) -> Result<Acquire, MemoryError> {
        match self.flaw {
            // **Planted bug**: one try, whatever the timeout.
            Flaw::ReturnsEarly => self.attempt(request),
            // **Planted bug**: sleeps three times the timeout.
            Flaw::ReturnsLate => {
                let timeout = deadline.map_or(Duration::ZERO, |d| {
                    d.saturating_duration_since(Instant::now())
                });
                std::thread::sleep(timeout * 3);
                self.attempt(request)
            }
            Flaw::NoTurns => self.poll_until(request, deadline),
            _ => {
                let mut waiter = MemoryWaiter {
                    store: self,
                    request,
                };
                let resource = request.resource().as_str();
                wait::acquire_until(&self.turns, resource, deadline, &mut waiter)
            }
        }
    }

    /// **Planted bug** ([`Flaw::NoTurns`]): try, sleep a millisecond, try again — no line, no
    /// wake-up.
    fn poll_until(
        &self,
        request: &AcquireRequest,
        deadline: Option<Instant>,
    ) -> Result<Acquire, MemoryError> {
        loop {
            let answer = self.attempt(request)?;
            let over = deadline.is_some_and(|d| Instant::now() >= d);
            if matches!(answer, Acquire::Granted(_)) || over {
                return Ok(answer);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The request with another id: what [`Flaw::NoReplay`] decides on.
fn with_fresh_id(request: &AcquireRequest, id: leasehold_core::RequestId) -> Request {
    Request::Acquire {
        owner: request.owner().clone(),
        request_id: id,
        ttl: request.ttl(),
    }
}

/// Replaces the record of `resource` (the table's own `apply` decides and writes; the flaws need
/// to write a decision taken elsewhere).
fn write(table: &mut LockTable, resource: &ResourceName, record: LeaseRecord) {
    let records: Vec<_> = table
        .records()
        .filter(|(name, _)| *name != resource)
        .map(|(name, r)| (name.clone(), r.clone()))
        .chain([(resource.clone(), record)])
        .collect();
    *table = LockTable::from_records(records, table.pruned_high_water());
}

struct MemoryWaiter<'a> {
    store: &'a MemoryStore,
    request: &'a AcquireRequest,
}

impl Waiter for MemoryWaiter<'_> {
    type Error = MemoryError;

    fn attempt(&mut self) -> Result<Acquire, MemoryError> {
        self.store.attempt(self.request)
    }

    fn is_busy(&self, error: &MemoryError) -> bool {
        *error == MemoryError::Busy
    }

    fn until_expiry(&mut self, holder: &Holder) -> Result<Duration, MemoryError> {
        let now = self.store.now()?;
        Ok(Duration::from_millis(holder.expires_at().millis_since(now)))
    }
}
