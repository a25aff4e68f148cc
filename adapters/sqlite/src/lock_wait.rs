//! [`LockWait`]: how an operation waits for another connection's write lock.
//!
//! SQLite's own busy handler waits *inside* a statement, after the store has bound the statement's
//! `now`: a statement that waited would be judged, and its lease stamped, with a clock reading
//! from before the wait. So connections get no busy handler at all (a statement that cannot take
//! the lock fails at once with `SQLITE_BUSY`, having done nothing), and the store waits here, then
//! sends the statement again with a fresh reading. `now` is thus read when the statement can run,
//! not when the operation started.
//!
//! The schedule is on the scale of the statements it waits for. SQLite's handler sleeps 1, 2, 5,
//! 10, 15, 20, 25, 25, 25, 50, 50 ms and then 100 ms at a time, while a lock statement holds the
//! write lock for tens of microseconds (milliseconds with an fsync): a waiter would sleep through
//! dozens of commits, and one deep in its schedule would lose every race to newcomers — across
//! processes on one hot resource, that is how a client starves. Here a waiter yields the CPU for
//! its first tries, then sleeps from 20 µs, doubling to 1 ms. A write that is still waiting then
//! (about 1.3 ms) joins the line for the write lock (`crate::line`), where the leasehold writer
//! that frees the lock wakes the front; the front still tries after each 1 ms sleep in case the
//! holder wakes nobody. Without a line (a read, a full line, no shared directory) it sleeps the
//! schedule blind. All until the busy timeout.

use std::thread;
use std::time::{Duration, Instant};

use crate::line::{Lines, SharedPlace};

/// Tries that only yield the CPU before the first sleep.
const YIELDS: u32 = 4;
/// The first sleep.
const FIRST_SLEEP: Duration = Duration::from_micros(20);
/// The longest sleep.
const MAX_SLEEP: Duration = Duration::from_millis(1);
/// Tries after which a write joins the line for the write lock: the four yields and the six
/// growing sleeps (20 to 640 µs), about 1.3 ms of waiting. Joining and being woken cost a few
/// tens of microseconds — a whole write without an fsync, so shorter waits stay blind; a write
/// that waits longer is the kind that loses race after race without the line (measured: relaxed
/// mode, 8 processes, mixed operations, 55,000 operations/s joining after the yields against
/// 90,000 blind).
const JOIN_AFTER: u32 = YIELDS + 6;

/// One operation's wait for the write lock.
#[derive(Debug)]
pub(crate) struct LockWait {
    /// `None`: a timeout too long to add to now, i.e. wait for as long as it takes.
    deadline: Option<Instant>,
    tries: u32,
    /// The line for the write lock was full (or could not be joined): wait blind.
    blind: bool,
}

impl LockWait {
    /// A wait that gives up `timeout` from now (never, for a timeout too long to add to now,
    /// such as `Duration::MAX`).
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            deadline: Instant::now().checked_add(timeout),
            tries: 0,
            blind: false,
        }
    }

    /// Pauses before the next try; `false` when the timeout has passed (give up).
    pub(crate) fn pause(&mut self) -> bool {
        let Some(left) = self.left() else {
            return false;
        };
        match pause(self.tries) {
            None => thread::yield_now(),
            Some(pause) => thread::sleep(pause.min(left)),
        }
        self.tries = self.tries.saturating_add(1);
        true
    }

    /// Pauses before the next try in the line for the write lock (joining it once the blind
    /// schedule has reached its longest sleep, [`JOIN_AFTER`]), where the writer that frees the
    /// lock wakes the front; without a line, as [`LockWait::pause`]. `false` when the timeout has
    /// passed.
    ///
    /// A waiter that just joined tries again at once (the lock may have been freed before it
    /// joined, and nobody would wake it for that); one behind others waits for its turn first,
    /// and tries once out of turn when the timeout passes. The front sleeps the schedule's
    /// sleep at most — the lock's holder may be a connection that wakes nobody — and is usually
    /// woken sooner.
    pub(crate) fn pause_in_line<'a>(
        &mut self,
        lines: &'a Lines,
        place: &mut Option<SharedPlace<'a>>,
    ) -> bool {
        let Some(left) = self.left() else {
            return false;
        };
        if let Some(place) = place {
            let sleep = pause(self.tries.max(YIELDS)).unwrap_or(MAX_SLEEP);
            place.pause(sleep.min(left));
            self.tries = self.tries.saturating_add(1);
            return true;
        }
        if self.tries < JOIN_AFTER || self.blind {
            // Most waits end within the first yields and sleeps (a write holds the lock for tens
            // of microseconds without an fsync): there, joining costs more than it saves.
            return self.pause();
        }
        *place = lines.join_write();
        match place {
            Some(place) => {
                place.wait_for_turn(self.deadline);
                true
            }
            None => {
                self.blind = true;
                self.pause()
            }
        }
    }

    /// When the wait gives up (`None`: never).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left; `None` once the timeout has passed.
    fn left(&self) -> Option<Duration> {
        let left = self
            .deadline
            .map_or(MAX_SLEEP, |d| d.saturating_duration_since(Instant::now()));
        (!left.is_zero()).then_some(left)
    }
}

/// The pause before try `tries + 1`: `None` to yield the CPU, else a sleep.
fn pause(tries: u32) -> Option<Duration> {
    let doublings = tries.checked_sub(YIELDS)?;
    // 20 µs · 2^6 > 1 ms: larger exponents are capped anyway.
    Some((FIRST_SLEEP * 2_u32.pow(doublings.min(6))).min(MAX_SLEEP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_timeout_gives_up_at_once() {
        assert!(!LockWait::new(Duration::ZERO).pause());
        let mut wait = LockWait::new(Duration::from_secs(5));
        assert!(wait.pause());
        assert_eq!(wait.tries, 1);
    }

    #[test]
    fn an_endless_timeout_never_gives_up_and_does_not_overflow() {
        let mut wait = LockWait::new(Duration::MAX);
        assert_eq!(wait.deadline, None);
        for _ in 0..6 {
            assert!(wait.pause());
        }
    }

    #[test]
    fn yields_then_sleeps_from_twenty_microseconds_doubling_to_one_millisecond() {
        let pauses: Vec<_> = (0..12).map(pause).collect();
        let us = Duration::from_micros;
        assert_eq!(pauses[..4], [None; 4]);
        assert_eq!(
            pauses[4..],
            [
                us(20),
                us(40),
                us(80),
                us(160),
                us(320),
                us(640),
                us(1000),
                us(1000)
            ]
            .map(Some)
        );
        assert_eq!(pause(u32::MAX), Some(MAX_SLEEP));
    }
}
