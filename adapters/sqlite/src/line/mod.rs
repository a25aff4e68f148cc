//! [`Lines`]: the waiters of every process that opened the database, one line per resource,
//! woken when a lease may have become free — and one line for SQLite's write lock, woken when a
//! leasehold write has finished (see `lock_wait`).
//!
//! A waiting acquire ([`SqliteStore::acquire_until`](crate::SqliteStore::acquire_until)) stands
//! in its resource's line: only the front waiter tries the database, a release or eviction by
//! any store of the database wakes it at once, and a waiter that asks again joins the back. The
//! line is a directory beside the database (`<database>-lines/`, see [`shared`]); where it
//! cannot be used (no file name, a directory that cannot be written, a full line, not Linux)
//! a waiter stands in the store's own line of threads ([`Turns`]) and polls, as before.
//!
//! The line never grants: every grant is the acquire statement's decision. It only decides who
//! tries and when, so a mistake here costs fairness or time, never exclusion.

#[cfg(target_os = "linux")]
mod occupancy;
#[cfg(target_os = "linux")]
mod shared;
#[cfg(not(target_os = "linux"))]
#[path = "unsupported.rs"]
mod shared;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leasehold_contract::wait::{Line, Place, Turn, Turns};

use shared::SharedLines;
pub(crate) use shared::SharedPlace;

/// How long the front of the line for the write lock may wait before new writes queue behind
/// it instead of trying (see [`Lines::defer_write`]).
const PATIENCE: Duration = Duration::from_millis(1);

/// The most waiters one resource's line holds; later ones wait in the store's [`Turns`] and
/// poll. It bounds what a release reads to find the front.
pub(crate) const CAPACITY: usize = 64;

/// Where a store's waiters stand in line.
#[derive(Debug)]
pub(crate) struct Lines {
    /// The line shared with every process, when the database has one.
    shared: Option<SharedLines>,
    /// The line of this store's threads that could not join the shared one.
    turns: Turns,
    /// Whether this store's last write found waiters: its next write looks at the line for the
    /// write lock before trying, and joins it rather than overtake it.
    contended: AtomicBool,
    /// Whether writes that find the lock taken use the line for the write lock (see
    /// [`Lines::new`]).
    write_line: bool,
}

impl Lines {
    /// The lines of the database at `database` (an absolute path; `None`: only this store's
    /// threads), holding at most `capacity` waiters per resource.
    ///
    /// `fsynced`: whether every commit is flushed (`synchronous` FULL or EXTRA, as
    /// `Durability::Full` sets); only then do writes that find the lock taken use the line for
    /// the write lock. A write then holds the lock for an fsync, and a writer that waits blind
    /// loses race after race. Without fsyncs a write holds the lock for tens of microseconds, a
    /// hand-over in line costs about as much, and waiting blind is faster: measured, relaxed,
    /// 8 processes, mixed operations: 53,000-56,000 operations/s in line against 70,000-97,000
    /// blind, with p99 no better.
    pub(crate) fn new(database: Option<&Path>, capacity: usize, fsynced: bool) -> Self {
        Self {
            shared: database.and_then(|path| SharedLines::new(path, capacity)),
            turns: Turns::default(),
            contended: AtomicBool::new(false),
            write_line: fsynced,
        }
    }

    /// Whether a waiter of another process or thread is in `resource`'s line: then a new waiter
    /// joins the back instead of trying first.
    pub(crate) fn waiting(&self, resource: &str) -> bool {
        self.shared.as_ref().is_some_and(|s| s.waiting(resource))
    }

    /// After every write statement, committed or not: wakes the front of the line for the write
    /// lock and, for a release or eviction of `freed`, the front of that resource's line (in this
    /// store's threads too). Costs an `flock` try on an open file when nobody waits.
    pub(crate) fn after_write(&self, freed: Option<&str>) {
        if let Some(resource) = freed {
            self.turns.notify(resource);
        } else if !self.write_line {
            // Nothing freed, and this store's writers never queue for the write lock: nobody to
            // wake (a durable store's writer queued behind this one tries again within 1 ms).
            // Saves the check on every acquire of a relaxed store.
            return;
        }
        if let Some(shared) = &self.shared {
            let found = shared.after_write(freed);
            self.contended.store(found, Ordering::Relaxed);
        }
    }

    /// A place in the line for the write lock, for a write that found the lock taken; `None`
    /// without a shared line (the write then waits blind, as `LockWait` says).
    pub(crate) fn join_write(&self) -> Option<SharedPlace<'_>> {
        self.shared
            .as_ref()
            .filter(|_| self.write_line)?
            .join_write()
    }

    /// A place in the line for the write lock for a write about to start, when the writer at
    /// its front has waited longer than [`PATIENCE`]: it lets the line go first instead of
    /// overtaking it. Only looked at when the store's last write found waiters.
    ///
    /// Not whenever anyone waits: when writes are short (no fsync), a hand-over in line costs as
    /// much as a write, and writers that all queued behind one another would keep the line full
    /// for good (a convoy: 36,000-75,000 operations/s against 90,000 blind, relaxed, 8 processes,
    /// mixed operations). A front that waits long is what a newcomer must not overtake.
    pub(crate) fn defer_write(&self) -> Option<SharedPlace<'_>> {
        let shared = self.shared.as_ref().filter(|_| self.write_line)?;
        if !self.contended.load(Ordering::Relaxed) || !shared.writers_starving(PATIENCE) {
            return None;
        }
        shared.join_write()
    }
}

impl Line for Lines {
    type Place<'a> = LinePlace<'a>;

    fn join<'a>(&'a self, resource: &'a str) -> LinePlace<'a> {
        match self.shared.as_ref().and_then(|s| s.join(resource)) {
            Some(place) => LinePlace::Shared(place),
            None => LinePlace::Local(self.turns.join(resource)),
        }
    }

    fn notify(&self, resource: &str) {
        self.turns.notify(resource);
        if let Some(shared) = &self.shared {
            shared.notify(resource);
        }
    }
}

/// A waiter's place: in the shared line, or in the store's own.
#[derive(Debug)]
pub(crate) enum LinePlace<'a> {
    /// In the line shared between processes.
    Shared(SharedPlace<'a>),
    /// In this store's line of threads, polling.
    Local(Turn<'a>),
}

impl Place for LinePlace<'_> {
    fn wait_for_turn(&mut self, deadline: Option<Instant>) -> bool {
        match self {
            Self::Shared(p) => p.wait_for_turn(deadline),
            Self::Local(p) => Place::wait_for_turn(p, deadline),
        }
    }

    fn mark(&mut self) {
        match self {
            Self::Shared(p) => p.mark(),
            Self::Local(p) => Place::mark(p),
        }
    }

    fn pause(&mut self, pause: Duration) {
        match self {
            Self::Shared(p) => p.pause(pause),
            Self::Local(p) => Place::pause(p, pause),
        }
    }

    fn granted(&mut self) {
        match self {
            Self::Shared(p) => p.granted(),
            Self::Local(p) => Place::granted(p),
        }
    }
}
