//! [`Guard`]: a lease that keeps itself. [`Store::hold`] acquires, then a thread drives the core's
//! [`Keeper`]: it renews when the keeper says, tells the keeper every answer, and the guard knows
//! when the lease must no longer be relied on.

mod clock;
pub(crate) mod driver;
mod faults;
pub(crate) mod shared;

use std::fmt;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, ErrorKind, Lease, Release, StoreId};
use leasehold_core::{FencingToken, Keeper, KeeperConfig, LocalInstant, LossReason, Ttl};

pub(crate) use clock::LocalClock;
pub(crate) use faults::Faults;
#[cfg(feature = "test-util")]
pub use faults::PlantedFlaw;

use crate::error::Error;
use crate::store::Store;
use driver::Driver;
use shared::Shared;

/// What a guard's keeper did, as its observer ([`HoldOptions::on_event`]) hears it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardEvent {
    /// The store renewed the lease; the keeper's deadline is now `deadline`.
    Renewed {
        /// The lease as the store renewed it (its `expires_at` is on the store's clock).
        lease: Lease,
        /// The keeper's new deadline, on this process's monotonic clock.
        deadline: Instant,
    },
    /// A renewal got no answer (a store error); the keeper retries until its deadline.
    RenewFailed {
        /// The error's kind.
        kind: ErrorKind,
        /// The error, as text.
        message: String,
    },
    /// The lease is lost: stop relying on it. Reported once.
    Lost(LossReason),
}

/// A guard's observer: called on the keeper's thread (or task) for every [`GuardEvent`].
pub(crate) type Observer = Box<dyn FnMut(&GuardEvent) + Send>;

/// How [`Store::hold_with`] and [`Store::keep`] keep a lease: the core's [`KeeperConfig`] (ttl,
/// when to renew and retry, the drift margin) and an optional observer.
pub struct HoldOptions {
    pub(crate) config: KeeperConfig,
    pub(crate) observer: Option<Observer>,
    pub(crate) faults: Faults,
}

impl HoldOptions {
    /// Keeps a lease as `config` says (see [`KeeperConfig::new`] for the defaults: renew after a
    /// third of the ttl, retry every twentieth, a 1,000 ppm + 1 ms drift margin).
    #[must_use]
    pub fn new(config: KeeperConfig) -> Self {
        Self {
            config,
            observer: None,
            faults: Faults::default(),
        }
    }

    /// Calls `observer` with every [`GuardEvent`], on the keeper's thread (or task): keep it
    /// short — a keeper busy in its observer renews late.
    #[must_use]
    pub fn on_event(mut self, observer: impl FnMut(&GuardEvent) + Send + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Holds back the reply to renewal number `renewal` (from 0) for `delay` after the store
    /// answered, as a slow network would (feature `test-util`).
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn slow_reply(mut self, renewal: u32, delay: Duration) -> Self {
        self.faults.slow_reply(renewal, delay);
        self
    }

    /// Plants `flaw` in the keeper's driver (feature `test-util`).
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn plant(mut self, flaw: PlantedFlaw) -> Self {
        self.faults.plant(flaw);
        self
    }
}

impl fmt::Debug for HoldOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HoldOptions")
            .field("config", &self.config)
            .field("observer", &self.observer.is_some())
            .field("faults", &self.faults)
            .finish()
    }
}

/// The keeper for `lease`, on a clock whose origin is the send instant of the request that
/// produced it.
/// [`Error::ForeignLease`] for a lease that `store` did not grant: every renewal would be refused
/// as foreign, and its release would act on nothing.
pub(crate) fn foreign_check(lease: &Lease, store: StoreId) -> Result<(), Error> {
    if lease.store_id() == store {
        Ok(())
    } else {
        Err(Error::ForeignLease {
            lease_store: lease.store_id(),
            store,
        })
    }
}

pub(crate) fn keeper_for(
    lease: &Lease,
    config: &KeeperConfig,
) -> Result<(Keeper, LocalClock), Error> {
    let sent = clock::acquire_sent_at(lease, config.ttl.as_duration())?;
    let keeper = Keeper::new(config, LocalInstant::ZERO)?;
    Ok((keeper, LocalClock::starting_at(sent)))
}

/// A held lease, kept by a background thread that drives the core's [`Keeper`]. Made by
/// [`Store::hold`], [`Store::hold_with`] or [`Store::keep`].
///
/// Rely on the lease only while [`is_valid`](Guard::is_valid) — until [`deadline`](Guard::deadline)
/// unless a renewal moves it — and pass [`token`](Guard::token) to whatever the lease protects:
/// a process paused between its check and its act (a stopped process, a long GC pause) can only
/// be stopped by fencing. Dropping the guard stops the thread and releases the lease (best
/// effort; [`release`](Guard::release) returns the store's answer); both wait for a store call
/// the thread has in progress (at most the store's busy timeout for SQLite).
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<Release, Error>>>,
}

impl Guard {
    /// The lease: as granted, or as the store last renewed it. Its [`Lease::deadline`] is the
    /// contract's; the keeper's is [`Guard::deadline`].
    #[must_use]
    pub fn lease(&self) -> Lease {
        self.shared.lease()
    }

    /// The fencing token: pass it to what the lease protects, which refuses older tokens.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.shared.lease().token()
    }

    /// Until when this process may rely on the lease, on its monotonic clock: the send instant of
    /// the last confirmed request (the acquire or a renewal) plus `ttl − margin`.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.shared.deadline()
    }

    /// Whether the keeper says the lease may be relied on now: not lost, and before the deadline.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.shared.is_valid()
    }

    /// Why the lease was lost, if it is lost now (a refused renewal, or a deadline that passed).
    #[must_use]
    pub fn try_lost(&self) -> Option<LossReason> {
        self.shared.lost()
    }

    /// Waits up to `timeout` for the lease to be lost; `None` if it was still held then.
    #[must_use]
    pub fn lost_for(&self, timeout: Duration) -> Option<LossReason> {
        self.shared.wait_lost(Instant::now().checked_add(timeout))
    }

    /// Waits until the lease is lost, for as long as that takes (a watchdog thread's loop).
    #[must_use]
    pub fn lost(&self) -> LossReason {
        loop {
            if let Some(reason) = self.shared.wait_lost(None) {
                return reason;
            }
        }
    }

    /// Stops the keeper and releases the lease, returning the store's answer (`Expired` or
    /// `NotHolder` if it was lost meanwhile).
    ///
    /// # Errors
    ///
    /// The store's error; the lease then ends at its expiry.
    pub fn release(mut self) -> Result<Release, Error> {
        self.stop().unwrap_or(Ok(Release::Released))
    }

    /// Stops the driver and waits for its release; `None` if it was stopped before.
    fn stop(&mut self) -> Option<Result<Release, Error>> {
        let thread = self.thread.take()?;
        self.shared.stop();
        Some(match thread.join() {
            Ok(answer) => answer,
            // The driver panicked (a store or an observer did): do not hide it.
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop();
        // Best effort, and never a panic inside a drop (which could abort): the answer and a
        // driver's panic are both dropped here.
        let _ = thread.join();
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("lease", &self.shared.lease())
            .field("deadline", &self.shared.deadline())
            .field("lost", &self.shared.lost())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Acquires the lease on `resource` for `owner`, waiting up to `timeout`, and keeps it with
    /// the core's default [`KeeperConfig`] for `ttl` (rounded up to whole milliseconds). `None`:
    /// the resource stayed busy.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTtl`] and [`Error::KeeperConfig`] before anything is acquired; the store's
    /// errors; [`Error::KeeperThread`] (the lease was released).
    pub fn hold(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Option<Guard>, Error> {
        let config = KeeperConfig::new(Ttl::from_duration(ttl)?);
        self.hold_with(resource, owner, timeout, HoldOptions::new(config))
    }

    /// [`hold`](Store::hold) with `options`: another renewal period, retry period or margin, an
    /// observer.
    ///
    /// # Errors
    ///
    /// As [`hold`](Store::hold).
    pub fn hold_with(
        &self,
        resource: &str,
        owner: &str,
        timeout: Duration,
        options: HoldOptions,
    ) -> Result<Option<Guard>, Error> {
        options.config.validate()?;
        let ttl = options.config.ttl.as_duration();
        match self.acquire_for(resource, owner, ttl, timeout)? {
            Acquire::Granted(lease) => self.keep(lease, options).map(Some),
            Acquire::Busy(_) => Ok(None),
        }
    }

    /// Keeps `lease`, which this store granted with `options`' ttl (or renewed last with it), as
    /// [`hold_with`](Store::hold_with) keeps the leases it acquires. The keeper's deadline counts
    /// from the send instant the lease's own [`deadline`](Lease::deadline) implies.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignLease`] (kind [`ErrorKind::ForeignLease`]) for a lease another store
    /// granted, before anything else: it is neither kept nor released. [`Error::KeeperConfig`],
    /// [`Error::InvalidTtl`] or [`Error::KeeperThread`]; the lease is then released (best
    /// effort). A renewal the store refuses as foreign later ends the guard as a refusal
    /// ([`LostReason::NotCurrent`](crate::LostReason::NotCurrent)), not as a failure to retry.
    pub fn keep(&self, lease: Lease, options: HoldOptions) -> Result<Guard, Error> {
        foreign_check(&lease, self.store_id())?;
        match self.start_keeper(&lease, options) {
            Ok(guard) => Ok(guard),
            Err(e) => {
                let _ = self.release(&lease);
                Err(e)
            }
        }
    }

    fn start_keeper(&self, lease: &Lease, options: HoldOptions) -> Result<Guard, Error> {
        let (keeper, clock) = keeper_for(lease, &options.config)?;
        let shared = Arc::new(Shared::new(keeper, lease.clone(), clock));
        let driver = Driver {
            store: self.clone(),
            shared: Arc::clone(&shared),
            ttl: options.config.ttl.as_duration(),
            observer: options.observer,
            faults: options.faults,
        };
        let thread = thread::Builder::new()
            .name("leasehold-keeper".to_owned())
            .spawn(move || driver.run())
            .map_err(Error::KeeperThread)?;
        Ok(Guard {
            shared,
            thread: Some(thread),
        })
    }
}
