//! Waiting for a lease. The blocking [`PgStore`](crate::PgStore) waits with
//! `leasehold_contract::wait::acquire_until` itself; the tasks of an [`AsyncPgStore`] wait here,
//! by the same rules on tokio's primitives: one attempt per turn, tasks of one store in arrival
//! order per resource, jittered pauses from 4 ms to 50 ms that never reach past the deadline nor
//! past the holder's expiry, and one attempt out of turn at the deadline.
//!
//! Both kinds of waiter are woken by [`Waiters::wake`]: a release or eviction through the store
//! calls it after its statement, and the store's listener (`listen.rs`) at each notification of
//! a release or eviction by any store of the schema. Waiting never decides a grant: every attempt
//! is the store's own atomic acquire, so a bug here could cost fairness or time, never exclusion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasehold_contract::rounds::AcquireRequest;
use leasehold_contract::wait::{self, Backoff, Turns, Waiter};
use leasehold_contract::{Acquire, Holder};
use tokio::sync::{Mutex as TurnLock, Notify};

use crate::acquire::{Reading, is_busy};
use crate::error::Error;
use crate::store::AsyncPgStore;

/// Everyone waiting through one store: its threads (a [`PgStore`](crate::PgStore)'s, in the
/// contract's [`Turns`]) and its tasks. Shared with the store's listener.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// Threads of a [`PgStore`](crate::PgStore) waiting for a resource.
    pub(crate) turns: Turns,
    /// Tasks waiting for a resource.
    pub(crate) lines: Lines,
}

impl Waiters {
    /// Wakes the waiters for `resource`, blocking and async: its lease may have become free.
    pub(crate) fn wake(&self, resource: &str) {
        self.turns.notify(resource);
        self.lines.notify(resource);
    }
}

/// The lines of one store's waiting tasks, by resource.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    by_resource: Mutex<HashMap<String, (usize, Arc<Line>)>>,
}

/// The tasks waiting for one resource.
#[derive(Debug, Default)]
struct Line {
    /// Held by the task whose turn it is; tokio's mutex serves waiters first come, first served.
    turn: TurnLock<()>,
    /// Notified when the resource's lease may have become free.
    moved: Notify,
}

/// A task's place in a line; leaving it (dropping it) removes an empty line.
struct Place<'a> {
    lines: &'a Lines,
    resource: &'a str,
    line: Arc<Line>,
}

impl Lines {
    fn join<'a>(&'a self, resource: &'a str) -> Place<'a> {
        let mut lines = self.lock();
        let (places, line) = lines.entry(resource.to_owned()).or_default();
        *places += 1;
        let line = Arc::clone(line);
        Place {
            lines: self,
            resource,
            line,
        }
    }

    /// Wakes `resource`'s waiting tasks: its lease may have become free.
    pub(crate) fn notify(&self, resource: &str) {
        if let Some((_, line)) = self.lock().get(resource) {
            line.moved.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (usize, Arc<Line>)>> {
        // Nothing under this lock can panic half-way through a change.
        self.by_resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut lines = self.lines.lock();
        if let Some((places, _)) = lines.get_mut(self.resource) {
            *places -= 1;
            if *places == 0 {
                lines.remove(self.resource);
            }
        }
    }
}

impl AsyncPgStore {
    /// Wakes this store's waiters for `resource`, blocking and async: its lease may have become
    /// free.
    pub(crate) fn wake(&self, resource: &str) {
        self.waiters.wake(resource);
    }

    /// The pauses of one wait: the contract's backoff, or the test's fixed interval.
    pub(crate) fn backoff(&self) -> Backoff {
        #[cfg(feature = "test-util")]
        if let Some(interval) = self.poll_interval {
            return Backoff::fixed(interval);
        }
        Backoff::new()
    }
}

/// Tries to acquire `request` until it is granted or `deadline` passes (`None`: however long it
/// takes), in the resource's line of `store`'s waiting tasks.
pub(crate) async fn acquire_until(
    store: &AsyncPgStore,
    request: &AcquireRequest,
    deadline: Option<Instant>,
) -> Result<Acquire, Error> {
    let place = store.waiters.lines.join(request.resource().as_str());
    let turn = match deadline {
        None => Some(place.line.turn.lock().await),
        Some(deadline) => tokio::time::timeout_at(deadline.into(), place.line.turn.lock())
            .await
            .ok(),
    };
    let mut backoff = store.backoff();
    loop {
        // Registered before the attempt, so that a release between the attempt and the pause is
        // not slept through.
        let woken = place.line.moved.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        let mut reading = None;
        let busy = match store.attempt(request, &mut reading).await {
            Ok(Acquire::Busy(holder)) => Ok(holder),
            Ok(granted) => return Ok(granted),
            Err(e) if is_busy(&e) => Err(e),
            Err(e) => return Err(e),
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if turn.is_none() || left.is_some_and(|left| left.is_zero()) {
            return busy.map(Acquire::Busy);
        }
        // This task waits: from now on, releases by other stores should wake it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            store.listener.start(&runtime);
        }
        let pause = pause(&mut backoff, busy.as_ref().ok(), reading, left);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = woken => {}
        }
    }
}

/// The next pause: the backoff's, no longer than the holder has left nor than the time left,
/// and at least a millisecond.
fn pause(
    backoff: &mut Backoff,
    holder: Option<&Holder>,
    reading: Option<Reading>,
    left: Option<Duration>,
) -> Duration {
    let mut pause = backoff.next_pause();
    if let (Some(holder), Some(reading)) = (holder, reading) {
        pause = pause.min(reading.until_expiry(holder));
    }
    let pause = pause.max(Duration::from_millis(1));
    left.map_or(pause, |left| pause.min(left))
}

/// [`Waiter`] for one waiting acquire of a blocking [`PgStore`](crate::PgStore): its attempts
/// run the async store's on the blocking store's runtime.
pub(crate) struct BlockingWaiter<'a> {
    pub(crate) store: &'a crate::PgStore,
    pub(crate) request: &'a AcquireRequest,
    pub(crate) reading: Option<Reading>,
}

impl Waiter for BlockingWaiter<'_> {
    type Error = Error;

    fn attempt(&mut self) -> Result<Acquire, Error> {
        let inner = self.store.inner();
        let answer = self
            .store
            .block_on(inner.attempt(self.request, &mut self.reading));
        let busy = match &answer {
            Ok(answer) => matches!(answer, Acquire::Busy(_)),
            Err(e) => is_busy(e),
        };
        if busy {
            // This thread is about to wait: from now on, releases by other stores should wake
            // the store's waiters.
            inner.listener.start(self.store.runtime().handle());
        }
        answer
    }

    fn is_busy(&self, error: &Error) -> bool {
        is_busy(error)
    }

    fn until_expiry(&mut self, holder: &Holder) -> Result<Duration, Error> {
        Ok(self
            .reading
            .map_or(Duration::MAX, |r| r.until_expiry(holder)))
    }

    fn backoff(&self) -> Backoff {
        self.store.inner().backoff()
    }
}

/// The blocking store's waiting acquire: the contract's, in the store's turns.
pub(crate) fn acquire_until_blocking(
    store: &crate::PgStore,
    request: &AcquireRequest,
    deadline: Option<Instant>,
) -> Result<Acquire, Error> {
    let mut waiter = BlockingWaiter {
        store,
        request,
        reading: None,
    };
    let turns = &store.inner().waiters.turns;
    wait::acquire_until(turns, request.resource().as_str(), deadline, &mut waiter)
}
