//! The waiting every store shares: [`acquire_until`] tries, then pauses with jittered backoff
//! until a deadline, taking turns in a [`Line`] of waiters.
//!
//! A [`Line`] orders the waiters of each resource and wakes them when a lease may have become
//! free. [`Turns`] is the line of the threads of one process waiting through one store; a store
//! whose waiters live in several processes brings a line of its own that reaches them all (the
//! SQLite store's line beside its database file; a PostgreSQL store could wake its line from
//! `LISTEN`). The line is a hint about *when* to try: a waiter that nobody wakes still tries at
//! the end of each pause.
//!
//! Waiting never decides a grant: every attempt is the store's own atomic acquire. What this
//! module decides is only *when* to try again, so a bug here can cost fairness or time, never
//! exclusion.

mod turns;

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

pub use turns::{Turn, Turns};

use crate::answer::Acquire;
use crate::lease::Holder;

/// The first pause between attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(4);
/// The longest pause between attempts. It bounds how late a waiter notices that a lease held by
/// another process was released early, and keeps a waiter's tries to about 20 a second.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// What [`acquire_until`] needs from a store.
pub trait Waiter {
    /// The store's error.
    type Error;

    /// One acquire attempt, with the request id of the whole call (so that a grant whose answer
    /// was lost comes back to the next attempt).
    ///
    /// # Errors
    ///
    /// The store's error; [`Waiter::is_busy`] says which ones are waited out.
    fn attempt(&mut self) -> Result<Acquire, Self::Error>;

    /// Whether `error` means "the store stayed busy, nothing changed": such errors are retried
    /// like a `Busy` answer; any other error ends the wait.
    fn is_busy(&self, error: &Self::Error) -> bool;

    /// How long until `holder`'s lease expires on the store's clock (zero if it has): a pause
    /// never sleeps past it.
    ///
    /// # Errors
    ///
    /// The store's clock failed.
    fn until_expiry(&mut self, holder: &Holder) -> Result<Duration, Self::Error>;

    /// The pauses between this wait's attempts: [`Backoff::new`]'s unless a store says otherwise
    /// (a test that must tell a wake-up from a poll makes its polls rare with `Backoff::fixed`,
    /// feature `test-util`).
    fn backoff(&self) -> Backoff {
        Backoff::new()
    }
}

/// The lines of waiters of one store, one line per resource: who tries next, and a way to wake
/// them when a lease may have become free.
///
/// A line orders attempts and nothing else; every grant is still the store's decision. So a
/// mistake in a line can cost fairness or time, never exclusion. Implementations must not lose a
/// wake-up: a [`notify`](Line::notify) that follows an attempt of the front waiter (in real
/// time) must end that waiter's next [`Place::pause`] early, as [`Place::mark`] describes.
pub trait Line {
    /// A waiter's place in one resource's line; dropping it leaves the line.
    type Place<'a>: Place
    where
        Self: 'a;

    /// Joins the back of `resource`'s line.
    fn join<'a>(&'a self, resource: &'a str) -> Self::Place<'a>;

    /// Wakes `resource`'s front waiter: its lease may have become free (a release or an
    /// eviction committed). Called after the statement, never before.
    fn notify(&self, resource: &str);
}

/// A waiter's place in a [`Line`]. Dropping it leaves the line and, when it was at the front,
/// hands the turn on (except after [`Place::granted`]).
pub trait Place {
    /// Waits until this place is at the front of its line (`true`) or `deadline` passes first
    /// (`false`); `None` waits for the turn however long it takes.
    fn wait_for_turn(&mut self, deadline: Option<Instant>) -> bool;

    /// Called just before each attempt: a wake-up that comes after it ends the next
    /// [`Place::pause`] at once, so that a release between the attempt and the pause is not
    /// slept through.
    fn mark(&mut self);

    /// Sleeps for `pause`, or less if the waiter was woken since the [`Place::mark`].
    fn pause(&mut self, pause: Duration);

    /// The wait ends with a grant: the lease is held, so the next waiter need not be woken to try
    /// now (the holder's release will wake it). A line may still hand the turn on when this
    /// place is dropped; the default does nothing.
    fn granted(&mut self) {}
}

/// Tries to acquire through `waiter` until it is granted or `deadline` passes (`None`: wait
/// however long it takes), in `resource`'s place of `line`.
///
/// Only the waiter at the front of the line tries; a [`Line::notify`] (a release or eviction)
/// ends its pause at once. Pauses grow exponentially from 4 ms to 50 ms with jitter (so that
/// waiters that are not woken do not retry in step), and never reach past the deadline nor past
/// the holder's expiry when that is sooner. A waiter still in line at the deadline makes one
/// attempt out of turn, whose answer it returns.
///
/// # Errors
///
/// The first error that is not [`Waiter::is_busy`]; a busy error if it was the last answer.
pub fn acquire_until<L: Line + ?Sized, W: Waiter>(
    line: &L,
    resource: &str,
    deadline: Option<Instant>,
    waiter: &mut W,
) -> Result<Acquire, W::Error> {
    let mut place = line.join(resource);
    let mut backoff = waiter.backoff();
    loop {
        let in_turn = place.wait_for_turn(deadline);
        place.mark();
        let busy = match waiter.attempt() {
            Ok(Acquire::Busy(holder)) => Ok(holder),
            Ok(granted) => {
                place.granted();
                return Ok(granted);
            }
            Err(e) if waiter.is_busy(&e) => Err(e),
            Err(e) => return Err(e),
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if !in_turn || left.is_some_and(|left| left.is_zero()) {
            return busy.map(Acquire::Busy);
        }
        let mut pause = backoff.next_pause();
        if let Ok(holder) = &busy {
            pause = pause.min(waiter.until_expiry(holder)?);
        }
        let pause = pause.max(Duration::from_millis(1));
        // Ends early when a release or eviction may have freed the lease.
        place.pause(left.map_or(pause, |left| pause.min(left)));
    }
}

/// Exponential backoff with "equal jitter": each pause is between half the ceiling and the
/// ceiling, and the ceiling doubles from 4 ms up to 50 ms.
#[derive(Debug)]
pub struct Backoff {
    ceiling: Duration,
    /// The largest ceiling: [`MAX_PAUSE`], or the pause of a fixed backoff.
    max: Duration,
    /// Whether pauses are drawn between half the ceiling and the ceiling (else: the ceiling).
    jitter: bool,
    random: RandomState,
    draws: u64,
}

impl Backoff {
    /// A backoff at its first ceiling.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ceiling: FIRST_PAUSE,
            max: MAX_PAUSE,
            jitter: true,
            random: RandomState::new(),
            draws: 0,
        }
    }

    /// A backoff whose every pause is `pause`, without jitter (feature `test-util`): for a test
    /// whose polls must be too rare to explain what it sees.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn fixed(pause: Duration) -> Self {
        Self {
            ceiling: pause,
            max: pause,
            jitter: false,
            random: RandomState::new(),
            draws: 0,
        }
    }

    /// The next pause, and the ceiling doubled for the one after.
    pub fn next_pause(&mut self) -> Duration {
        if !self.jitter {
            return self.ceiling;
        }
        let half = self.ceiling / 2;
        let span = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        self.draws += 1;
        // std's per-process random hasher keys: no system call, no error path; jitter needs
        // spread, not secrecy.
        let random = self.random.hash_one(self.draws);
        let pause = half + Duration::from_micros(random % span);
        self.ceiling = (self.ceiling * 2).min(self.max);
        pause
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
