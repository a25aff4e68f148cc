//! [`AsyncGuard`]: a lease kept by a tokio task that drives the core's keeper.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Lease, Release};
use leasehold_core::{FencingToken, KeeperConfig, LossReason, RenewTicket, Ttl};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::sleep;

use crate::asynchronous::AsyncStore;
use crate::error::Error;
use crate::guard::driver::{record, reply_to};
use crate::guard::shared::{Shared, Step};
use crate::guard::{Faults, GuardEvent, HoldOptions, Observer, foreign_check, keeper_for};

/// A held lease, kept by a tokio task that drives the core's
/// [`Keeper`](leasehold_core::Keeper): the async twin of [`Guard`](crate::Guard), made by
/// [`AsyncStore::hold`].
///
/// [`lost`](AsyncGuard::lost) is a future that resolves when the lease is lost, to `select!`
/// against the work it protects. Dropping the guard stops the task, which then releases the
/// lease (best effort, if the runtime is still running).
pub struct AsyncGuard {
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    lost: watch::Receiver<Option<LossReason>>,
    task: Option<JoinHandle<Result<Release, Error>>>,
}

impl AsyncGuard {
    /// The lease: as granted, or as the store last renewed it.
    #[must_use]
    pub fn lease(&self) -> Lease {
        self.shared.lease()
    }

    /// The fencing token.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.shared.lease().token()
    }

    /// Until when this process may rely on the lease (see [`Guard::deadline`](crate::Guard::deadline)).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.shared.deadline()
    }

    /// Whether the keeper says the lease may be relied on now.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.shared.is_valid()
    }

    /// Why the lease was lost, if it is lost now.
    #[must_use]
    pub fn try_lost(&self) -> Option<LossReason> {
        self.shared.lost()
    }

    /// Resolves when the lease is lost: at once when a renewal is refused, at the deadline
    /// otherwise (even if a renewal is still waiting for its answer).
    pub async fn lost(&self) -> LossReason {
        let mut changes = self.lost.clone();
        loop {
            if let Some(reason) = self.shared.lost() {
                return reason;
            }
            let deadline = tokio::time::Instant::from_std(self.shared.deadline());
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The task ended without a loss (stopped): only the deadline is left.
                        tokio::time::sleep_until(deadline).await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Stops the task and releases the lease, returning the store's answer.
    ///
    /// # Errors
    ///
    /// The store's error, or [`Error::RuntimeShutdown`].
    pub async fn release(mut self) -> Result<Release, Error> {
        let Some(task) = self.task.take() else {
            return Ok(Release::Released);
        };
        self.request_stop();
        match task.await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::RuntimeShutdown),
        }
    }

    fn request_stop(&self) {
        self.shared.stop();
        // A stored permit: the task sees it even if it is inside a store call right now.
        self.stop.notify_one();
    }
}

impl Drop for AsyncGuard {
    fn drop(&mut self) {
        if self.task.take().is_some() {
            self.request_stop();
        }
    }
}

impl fmt::Debug for AsyncGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncGuard")
            .field("lease", &self.shared.lease())
            .field("deadline", &self.shared.deadline())
            .field("lost", &self.shared.lost())
            .finish_non_exhaustive()
    }
}

impl AsyncStore {
    /// [`Store::hold`](crate::Store::hold), for async callers: the keeper runs on a tokio task.
    ///
    /// # Errors
    ///
    /// As [`Store::hold`](crate::Store::hold).
    pub async fn hold(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Option<AsyncGuard>, Error> {
        let config = KeeperConfig::new(Ttl::from_duration(ttl)?);
        self.hold_with(resource, owner, timeout, HoldOptions::new(config))
            .await
    }

    /// [`Store::hold_with`](crate::Store::hold_with), for async callers.
    ///
    /// # Errors
    ///
    /// As [`Store::hold`](crate::Store::hold).
    pub async fn hold_with(
        &self,
        resource: &str,
        owner: &str,
        timeout: Duration,
        options: HoldOptions,
    ) -> Result<Option<AsyncGuard>, Error> {
        options.config.validate()?;
        let ttl = options.config.ttl.as_duration();
        match self.acquire_for(resource, owner, ttl, timeout).await? {
            Acquire::Granted(lease) => self.keep(lease, options).await.map(Some),
            Acquire::Busy(_) => Ok(None),
        }
    }

    /// [`Store::keep`](crate::Store::keep), for async callers.
    ///
    /// # Errors
    ///
    /// As [`Store::keep`](crate::Store::keep).
    pub async fn keep(&self, lease: Lease, options: HoldOptions) -> Result<AsyncGuard, Error> {
        foreign_check(&lease, self.store_id())?;
        let (keeper, clock) = match keeper_for(&lease, &options.config) {
            Ok(started) => started,
            Err(e) => {
                let _ = self.release(&lease).await;
                return Err(e);
            }
        };
        let shared = Arc::new(Shared::new(keeper, lease, clock));
        let stop = Arc::new(Notify::new());
        let (lost_tx, lost) = watch::channel(None);
        let driver = TaskDriver {
            store: self.clone(),
            shared: Arc::clone(&shared),
            stop: Arc::clone(&stop),
            lost: lost_tx,
            ttl: options.config.ttl.as_duration(),
            observer: options.observer,
            faults: options.faults,
        };
        Ok(AsyncGuard {
            shared,
            stop,
            lost,
            task: Some(tokio::spawn(driver.run())),
        })
    }
}

/// Everything the keeper's task owns.
struct TaskDriver {
    store: AsyncStore,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    lost: watch::Sender<Option<LossReason>>,
    ttl: Duration,
    observer: Option<Observer>,
    faults: Faults,
}

impl TaskDriver {
    async fn run(mut self) -> Result<Release, Error> {
        let mut renewals = 0;
        loop {
            match self.shared.step(self.faults.dates_from_reply()) {
                Step::Wait(at) => {
                    tokio::select! {
                        () = sleep(self.shared.clock().until(at)) => {}
                        () = self.stop.notified() => {}
                    }
                }
                Step::Renew { ticket, lease } => {
                    self.renew(ticket, &lease, renewals).await;
                    renewals += 1;
                }
                Step::Lost(reason) => {
                    self.lost.send_replace(Some(reason));
                    self.emit(&GuardEvent::Lost(reason));
                    while !self.shared.stopping() {
                        self.stop.notified().await;
                    }
                    break;
                }
                Step::Stop => break,
            }
        }
        self.store.release(&self.shared.lease()).await
    }

    /// One renewal, raced against the deadline: the keeper loses the lease then, answer or not.
    async fn renew(&mut self, ticket: Option<RenewTicket>, lease: &Lease, renewal: u32) {
        let deadline = tokio::time::Instant::from_std(self.shared.deadline());
        let answer = tokio::select! {
            answer = self.store.renew(lease, self.ttl) => answer,
            () = tokio::time::sleep_until(deadline) => return,
        };
        if let Some(delay) = self.faults.reply_delay(renewal) {
            sleep(delay).await;
        }
        let ticket = ticket.unwrap_or_else(|| self.shared.renew_sent_now());
        let (reply, renewed, failure) = reply_to(answer);
        if let Some(event) = failure {
            self.emit(&event);
        }
        if let Some(event) = record(&self.shared, ticket, reply, renewed) {
            self.emit(&event);
        }
    }

    fn emit(&mut self, event: &GuardEvent) {
        if let Some(observer) = self.observer.as_mut() {
            observer(event);
        }
    }
}
