//! [`Turns`]: the threads of one process that wait, through one store, for the same resource,
//! served in arrival order.
//!
//! Threads sharing a store share its connection, and a thread that releases a lease and asks for
//! it again takes the connection back before a woken waiter runs: without turns, a waiter could
//! sleep through every moment the lease was free (the benchmarks saw threads with no grant for a
//! whole 0.6 s round). So a waiting acquire first takes a place in the resource's line; only the
//! thread at the front tries the store, and a release or eviction through the store wakes it at
//! once instead of at the end of its pause.
//!
//! The line never decides who holds a lease: the store does. It only orders this store's
//! attempts, so a bug here could cost fairness or time, never exclusion.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Line as WaitLine, Place};

/// How long one wait for the turn sleeps at most when there is no deadline; the loop then
/// checks again (a wake-up is never lost: every change notifies under the lock).
const FOREVER_SLICE: Duration = Duration::from_secs(3_600);

/// The lines of one store, by resource name.
#[derive(Debug, Default)]
pub struct Turns {
    lines: Mutex<Lines>,
}

#[derive(Debug, Default)]
struct Lines {
    by_resource: HashMap<String, Line>,
    next_ticket: u64,
}

/// The waiters of one resource, first come first served.
#[derive(Debug)]
struct Line {
    tickets: VecDeque<u64>,
    /// Counts releases and changes of front; a waiter pauses until it moves.
    changes: u64,
    moved: Arc<Condvar>,
}

/// A thread's place in a line of [`Turns`]; leaving (dropping it) hands the turn on.
#[derive(Debug)]
pub struct Turn<'a> {
    turns: &'a Turns,
    resource: &'a str,
    ticket: u64,
    /// The line's change count when the last attempt began.
    mark: u64,
}

impl Turns {
    /// Joins the back of `resource`'s line.
    pub fn join<'a>(&'a self, resource: &'a str) -> Turn<'a> {
        let mut lines = self.lock();
        let ticket = lines.next_ticket;
        lines.next_ticket += 1;
        let line = lines
            .by_resource
            .entry(resource.to_owned())
            .or_insert_with(|| Line {
                tickets: VecDeque::new(),
                changes: 0,
                moved: Arc::new(Condvar::new()),
            });
        line.tickets.push_back(ticket);
        let mark = line.changes;
        Turn {
            turns: self,
            resource,
            ticket,
            mark,
        }
    }

    /// Wakes `resource`'s waiters: its lease may have become free.
    pub fn notify(&self, resource: &str) {
        let mut lines = self.lock();
        if let Some(line) = lines.by_resource.get_mut(resource) {
            line.changes += 1;
            line.moved.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // Nothing under this lock can panic half-way through a change, so a poisoned lock still
        // holds consistent lines.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Turn<'_> {
    /// Waits until this place is at the front of its line (`true`) or `deadline` passes first
    /// (`false`); `None` waits for the turn however long it takes.
    pub fn wait_for_turn(&self, deadline: Option<Instant>) -> bool {
        let mut lines = self.turns.lock();
        loop {
            let line = self.line(&lines);
            if line.tickets.front() == Some(&self.ticket) {
                return true;
            }
            let left = deadline.map_or(FOREVER_SLICE, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            let moved = Arc::clone(&line.moved);
            lines = wait(&moved, lines, left.min(FOREVER_SLICE));
        }
    }

    /// A mark to pause from: taken before an attempt, so that a release between the attempt
    /// and the pause is not slept through.
    pub fn mark(&self) -> u64 {
        self.line(&self.turns.lock()).changes
    }

    /// Sleeps for `pause`, or less if the line moved since `mark`.
    pub fn pause(&self, mark: u64, pause: Duration) {
        let until = Instant::now() + pause;
        let mut lines = self.turns.lock();
        loop {
            let line = self.line(&lines);
            let left = until.saturating_duration_since(Instant::now());
            if line.changes != mark || left.is_zero() {
                return;
            }
            let moved = Arc::clone(&line.moved);
            lines = wait(&moved, lines, left);
        }
    }

    fn line<'l>(&self, lines: &'l Lines) -> &'l Line {
        // A place's line exists until the place leaves it.
        &lines.by_resource[self.resource]
    }
}

impl WaitLine for Turns {
    type Place<'a> = Turn<'a>;

    fn join<'a>(&'a self, resource: &'a str) -> Turn<'a> {
        Turns::join(self, resource)
    }

    fn notify(&self, resource: &str) {
        Turns::notify(self, resource);
    }
}

impl Place for Turn<'_> {
    fn wait_for_turn(&mut self, deadline: Option<Instant>) -> bool {
        Turn::wait_for_turn(self, deadline)
    }

    fn mark(&mut self) {
        self.mark = Turn::mark(self);
    }

    fn pause(&mut self, pause: Duration) {
        Turn::pause(self, self.mark, pause);
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut lines = self.turns.lock();
        let Some(line) = lines.by_resource.get_mut(self.resource) else {
            return;
        };
        let was_front = line.tickets.front() == Some(&self.ticket);
        line.tickets.retain(|&ticket| ticket != self.ticket);
        if line.tickets.is_empty() {
            lines.by_resource.remove(self.resource);
        } else if was_front {
            line.changes += 1;
            line.moved.notify_all();
        }
    }
}

fn wait<'g>(
    moved: &Condvar,
    lines: MutexGuard<'g, Lines>,
    timeout: Duration,
) -> MutexGuard<'g, Lines> {
    moved
        .wait_timeout(lines, timeout)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Turns;

    #[test]
    fn the_first_to_join_has_the_turn_and_leaving_hands_it_on() {
        let turns = Turns::default();
        let now = Instant::now();
        let first = turns.join("r");
        let second = turns.join("r");
        let elsewhere = turns.join("s");
        assert!(first.wait_for_turn(Some(now)));
        assert!(!second.wait_for_turn(Some(now)), "second went before first");
        assert!(
            elsewhere.wait_for_turn(Some(now)),
            "lines of two resources are independent"
        );
        drop(first);
        assert!(second.wait_for_turn(Some(now)));
        drop((second, elsewhere));
        assert!(
            turns.lock().by_resource.is_empty(),
            "an empty line is removed"
        );
    }

    #[test]
    fn a_waiter_behind_the_front_may_leave_first() {
        let turns = Turns::default();
        let front = turns.join("r");
        let middle = turns.join("r");
        let back = turns.join("r");
        drop(middle);
        assert!(!back.wait_for_turn(Some(Instant::now())));
        drop(front);
        assert!(back.wait_for_turn(Some(Instant::now())));
    }

    #[test]
    fn a_notification_after_the_mark_ends_the_pause() {
        let turns = Turns::default();
        let place = turns.join("r");
        let mark = place.mark();
        turns.notify("r");
        let started = Instant::now();
        // Would sleep a minute if the notification were lost.
        place.pause(mark, Duration::from_secs(60));
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_notification_before_the_mark_does_not_end_the_pause() {
        let turns = Turns::default();
        let place = turns.join("r");
        turns.notify("r");
        let mark = place.mark();
        let pause = Duration::from_millis(50);
        let started = Instant::now();
        place.pause(mark, pause);
        assert!(
            started.elapsed() >= pause,
            "a move the waiter already saw woke it"
        );
    }

    #[test]
    fn the_front_leaving_wakes_the_next_and_a_back_place_leaving_does_not() {
        let turns = Turns::default();
        let front = turns.join("r");
        let middle = turns.join("r");
        let back = turns.join("r");
        let mark = back.mark();
        drop(middle);
        let pause = Duration::from_millis(50);
        let started = Instant::now();
        back.pause(mark, pause);
        assert!(
            started.elapsed() >= pause,
            "a place behind the front left, yet the back woke"
        );
        drop(front);
        let started = Instant::now();
        // Would sleep a minute if the front's leaving did not move the line.
        back.pause(mark, Duration::from_secs(60));
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    /// The same line through the traits the waiting loop uses (inherent methods of the same
    /// names would shadow them, so each call names its trait).
    #[test]
    fn the_traits_reach_the_same_line() {
        use crate::wait::{Line, Place};

        let turns = Turns::default();
        let mut front = Line::join(&turns, "r");
        let mut second = Line::join(&turns, "r");
        assert!(Place::wait_for_turn(&mut front, Some(Instant::now())));
        assert!(!Place::wait_for_turn(&mut second, Some(Instant::now())));
        Place::mark(&mut second);
        Line::notify(&turns, "r");
        let started = Instant::now();
        // Would sleep a minute if the trait's mark or notify did nothing.
        Place::pause(&mut second, Duration::from_secs(60));
        assert!(started.elapsed() < Duration::from_secs(30));
        // A mark after the move: the next pause is not cut short by a wake-up already seen.
        Place::mark(&mut second);
        let pause = Duration::from_millis(50);
        let started = Instant::now();
        Place::pause(&mut second, pause);
        assert!(started.elapsed() >= pause, "the trait's mark did not move");
        Place::granted(&mut front);
    }
}
