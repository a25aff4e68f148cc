//! [`Occupancy`]: whether anyone, in any process, stands in any line of the database — answered
//! in two system calls on an open file, so that every write can ask.
//!
//! Every waiter holds a shared `flock` on `<database>-lines/waiters` while it is in a line (a
//! store takes it once for all its waiters). A writer that wants to know whether to wake anyone
//! tries an exclusive lock on its own descriptor of the same file without blocking: taken means
//! nobody waits (it is given back at once); refused means someone may. The kernel drops a dead
//! process's lock, so a killed waiter never makes the database look occupied for ever.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The occupancy file of one database, as one store holds it.
#[derive(Debug)]
pub(crate) struct Occupancy {
    /// Tried exclusively to see whether anyone waits.
    checker: File,
    /// Locked shared while this store has waiters.
    occupant: File,
    /// This store's waiters in any line.
    waiters: Mutex<usize>,
}

impl Occupancy {
    /// Opens (creating) the occupancy file at `path`.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let open = || {
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
        };
        Ok(Self {
            checker: open()?,
            occupant: open()?,
            waiters: Mutex::new(0),
        })
    }

    /// Whether no waiter stands in any line now. `false` also when the answer is unsure (two
    /// writers asking at once see each other's exclusive try as a waiter): the caller then looks
    /// at the line itself.
    pub(crate) fn vacant(&self) -> bool {
        match self.checker.try_lock() {
            Ok(()) => {
                // Unlocking a lock this descriptor holds cannot fail but for a bad descriptor.
                let _ = self.checker.unlock();
                true
            }
            Err(TryLockError::WouldBlock | TryLockError::Error(_)) => false,
        }
    }

    /// Marks one more waiter of this store until the guard is dropped. The shared lock is taken
    /// before the waiter joins its line and tries: a writer that found the file vacant finished
    /// its statement before this waiter's next try.
    pub(crate) fn enter(&self) -> io::Result<Occupant<'_>> {
        let mut waiters = self.count();
        if *waiters == 0 {
            // Waits at most for a writer's exclusive try, which it gives back at once.
            self.occupant.lock_shared()?;
        }
        *waiters += 1;
        Ok(Occupant { occupancy: self })
    }

    fn count(&self) -> MutexGuard<'_, usize> {
        // A counter update cannot panic half-way.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One waiter's mark on the occupancy file.
#[derive(Debug)]
pub(crate) struct Occupant<'a> {
    occupancy: &'a Occupancy,
}

impl Drop for Occupant<'_> {
    fn drop(&mut self) {
        let mut waiters = self.occupancy.count();
        *waiters -= 1;
        if *waiters == 0 {
            let _ = self.occupancy.occupant.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_of_any_store_makes_the_file_occupied_until_it_leaves() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("waiters");
        let (a, b) = (
            Occupancy::open(&path).expect("opens"),
            Occupancy::open(&path).expect("opens"),
        );
        assert!(a.vacant() && b.vacant());
        let first = a.enter().expect("entered");
        let second = a.enter().expect("entered");
        assert!(!a.vacant() && !b.vacant(), "a's own waiters count too");
        drop(first);
        assert!(!b.vacant(), "one waiter is left");
        drop(second);
        assert!(a.vacant() && b.vacant());
    }
}
