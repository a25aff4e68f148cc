//! Turns for the threads of one process that wait, through one store, for the same resource.
//!
//! Threads sharing a store share its connection behind a mutex, and a thread that releases a
//! lease and asks for it again takes that mutex back before a woken waiter runs: without turns,
//! a waiter could sleep through every moment the lease was free (the benchmarks saw threads with
//! no grant for a whole 0.6 s round). So [`SqliteStore::acquire`](crate::SqliteStore::acquire)
//! first takes a place in the resource's line; only the thread at the front tries the database,
//! and a release or eviction through the store wakes it at once instead of at the end of its
//! pause. Waiters in other stores or processes are not in the line: the front thread competes
//! with them as before.
//!
//! The line never decides who holds a lease: the database does. It only orders this store's
//! attempts, so a bug here could cost fairness or time, never exclusion.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The lines of one store, by resource name.
#[derive(Default)]
pub(crate) struct Turns {
    lines: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    by_resource: HashMap<String, Line>,
    next_ticket: u64,
}

/// The waiters of one resource, first come first served.
struct Line {
    tickets: VecDeque<u64>,
    /// Counts releases and changes of front; a waiter pauses until it moves.
    changes: u64,
    moved: Arc<Condvar>,
}

/// A waiter's place in a line; leaving (dropping it) hands the turn on.
pub(crate) struct Place<'a> {
    turns: &'a Turns,
    resource: &'a str,
    ticket: u64,
}

impl Turns {
    /// Joins the back of `resource`'s line.
    pub(crate) fn join<'a>(&'a self, resource: &'a str) -> Place<'a> {
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
        Place {
            turns: self,
            resource,
            ticket,
        }
    }

    /// Wakes `resource`'s waiters: its lease may have become free.
    pub(crate) fn notify(&self, resource: &str) {
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

impl Place<'_> {
    /// Waits until this place is at the front of its line (`true`) or `deadline` passes first
    /// (`false`).
    pub(crate) fn wait_for_turn(&self, deadline: Instant) -> bool {
        let mut lines = self.turns.lock();
        loop {
            let line = self.line(&lines);
            if line.tickets.front() == Some(&self.ticket) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let moved = Arc::clone(&line.moved);
            lines = wait(&moved, lines, left);
        }
    }

    /// A mark to pause from: taken before an attempt, so that a release between the attempt
    /// and the pause is not slept through.
    pub(crate) fn mark(&self) -> u64 {
        self.line(&self.turns.lock()).changes
    }

    /// Sleeps for `pause`, or less if the line moved since `mark`.
    pub(crate) fn pause(&self, mark: u64, pause: Duration) {
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

impl Drop for Place<'_> {
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
    use crate::{Acquire, SqliteStore};

    #[test]
    fn the_first_to_join_has_the_turn_and_leaving_hands_it_on() {
        let turns = Turns::default();
        let now = Instant::now();
        let first = turns.join("r");
        let second = turns.join("r");
        let elsewhere = turns.join("s");
        assert!(first.wait_for_turn(now));
        assert!(!second.wait_for_turn(now), "second went before first");
        assert!(
            elsewhere.wait_for_turn(now),
            "lines of two resources are independent"
        );
        drop(first);
        assert!(second.wait_for_turn(now));
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
        assert!(!back.wait_for_turn(Instant::now()));
        drop(front);
        assert!(back.wait_for_turn(Instant::now()));
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
    fn release_and_evict_through_the_store_wake_its_line() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path().join("locks.db")).expect("a fresh store");
        let place = store.turns.join("r");
        let take = |owner| match store.try_acquire("r", owner, Duration::from_secs(60)) {
            Ok(Acquire::Granted(lease)) => lease,
            other => panic!("a free resource is granted, got {other:?}"),
        };
        let lease = take("a");
        let mark = place.mark();
        assert_eq!(
            store.release(&lease).expect("release"),
            crate::Release::Released
        );
        assert_ne!(place.mark(), mark, "a release woke no waiter");
        take("b");
        let mark = place.mark();
        assert!(matches!(
            store.evict("r").expect("evict"),
            crate::Evict::Evicted(_)
        ));
        assert_ne!(place.mark(), mark, "an eviction woke no waiter");
    }
}
