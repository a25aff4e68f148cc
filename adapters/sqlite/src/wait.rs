//! [`SqliteStore::acquire`]: try, then back off with jitter until a deadline.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ops::AcquireRequest;
use crate::outcome::{Acquire, Holder};
use crate::seam::Seam;
use crate::store::SqliteStore;

/// The first pause between attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(4);
/// The longest pause between attempts. It bounds how late a waiter notices that a lease was
/// released early, and keeps a waiter's tries to about 20 a second (each holds SQLite's write lock
/// for tens of microseconds). At 1 s, waiters on a hot resource could sleep through a whole second
/// of free windows; see docs/performance.md.
const MAX_PAUSE: Duration = Duration::from_millis(50);

impl<S: Seam> SqliteStore<S> {
    /// Like [`SqliteStore::try_acquire`], retrying while the resource is busy until `wait` has
    /// passed; then returns the last `Busy`. A database lock held past the busy timeout
    /// ([`Error::Busy`]) is retried the same way, and returned if it is the last answer.
    ///
    /// The whole call uses one request id, so if an attempt's grant committed but the call went
    /// on trying (only [`Error::Busy`] is retried), the next attempt gets that grant back rather
    /// than `Busy`. Any other error ends the call; a caller that must recover a grant whose reply
    /// was lost uses [`SqliteStore::try_acquire_with_id`] with an id of its own. Pauses grow
    /// exponentially from 4 ms to 50 ms with random jitter (so that waiters do not retry in step),
    /// and never reach past `wait` nor past the holder's expiry when that is sooner. `wait` is
    /// measured on [`Instant`]; leases on the store's clock.
    ///
    /// Threads waiting through this store for the same resource take turns in arrival order:
    /// only the first tries the database, and a [`release`](SqliteStore::release) or
    /// [`evict`](SqliteStore::evict) through this store wakes it at once. A thread that releases
    /// and asks again joins the back of the line. Waiters in other stores and processes are not
    /// in the line; they compete with its first thread through the database. A thread still in
    /// line at `wait` makes one attempt out of turn, whose answer it returns.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::try_acquire`], and [`Error::Random`] if the operating system's random
    /// source fails while drawing a pause's jitter.
    pub fn acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        wait: Instant,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new(resource, owner, ttl)?;
        let request = request.with_id(self.next_request_id());
        let place = self.turns.join(request.resource());
        let mut ceiling = FIRST_PAUSE;
        loop {
            // Behind other threads of this store: wait for the turn. Past the deadline, one last
            // attempt out of turn answers for the call.
            let in_turn = place.wait_for_turn(wait);
            let mark = place.mark();
            // A busy database is waited out like a busy lease; the next attempt, with the same
            // request id, also replays a grant whose reply was lost.
            let busy = match self.attempt(&request) {
                Ok(Acquire::Busy(holder)) => Ok(holder),
                Ok(granted) => return Ok(granted),
                Err(Error::Busy) => Err(Error::Busy),
                Err(other) => return Err(other),
            };
            let left = wait.saturating_duration_since(Instant::now());
            if !in_turn || left.is_zero() {
                return busy.map(Acquire::Busy);
            }
            let mut pause = jittered(ceiling)?;
            if let Ok(holder) = &busy {
                pause = pause.min(self.until_expiry(holder)?);
            }
            // Ends early when a release or eviction through this store may have freed the lease.
            place.pause(mark, pause.max(Duration::from_millis(1)).min(left));
            ceiling = (ceiling * 2).min(MAX_PAUSE);
        }
    }

    /// How long until `holder`'s lease expires, on the store's clock.
    fn until_expiry(&self, holder: &Holder) -> Result<Duration, Error> {
        let now = self.now()?;
        Ok(Duration::from_millis(holder.expires_at().millis_since(now)))
    }
}

/// A pause between `ceiling / 2` and `ceiling` ("equal jitter"): never much shorter than the
/// backoff asks, yet spread out among waiters.
fn jittered(ceiling: Duration) -> Result<Duration, Error> {
    let half = ceiling / 2;
    let span = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    let random = getrandom::u64().map_err(Error::Random)?;
    Ok(half + Duration::from_micros(random % span))
}
