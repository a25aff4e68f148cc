//! One benchmark client: acquire, enter the witness, leave it, release, as often as it can
//! until the run's deadline.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::thread;
use std::time::Instant;

use crate::error::BenchError;
use crate::locker::Locker;
use crate::scenario::{ClientResult, HOLD, Style};

/// Nanoseconds since the Unix epoch on the wall clock: comparable between the processes of a
/// run, unlike `Instant`.
#[must_use]
pub fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The resource names of a run: `r00`, `r01`, …
#[must_use]
pub fn resource_names(resources: usize) -> Vec<String> {
    (0..resources).map(|i| format!("r{i:02}")).collect()
}

/// An outside check of mutual exclusion: one lock file per resource, `flock`ed (non-blocking)
/// by a client from just after its grant until just before its release. Both points lie inside
/// the lease's true holding interval, so a correct lock never finds a witness taken; a double
/// grant finds it taken whenever the two holdings overlap in real time.
#[derive(Debug)]
pub struct Witness {
    files: Vec<File>,
}

impl Witness {
    /// Opens (creating) the witness files of `resources` resources in `dir`. Each client opens
    /// its own, so that its `flock`s conflict with every other client's, thread or process.
    ///
    /// # Errors
    ///
    /// File errors.
    pub fn open(dir: &Path, resources: usize) -> Result<Self, BenchError> {
        let files = (0..resources)
            .map(|i| {
                File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join(format!("r{i:02}.witness")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { files })
    }

    /// Takes resource `index`'s witness. `Ok(false)`: another client holds it (a double grant),
    /// and this client does not take it.
    fn enter(&self, index: usize) -> Result<bool, BenchError> {
        match self.files[index].try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }

    fn leave(&self, index: usize) -> Result<(), BenchError> {
        Ok(self.files[index].unlock()?)
    }
}

/// A client's fixed part: who it is, what it locks, how it waits.
#[derive(Debug)]
pub struct Client<'a, L> {
    /// The contender, possibly shared with other threads.
    pub locker: &'a L,
    /// The owner name it acquires as.
    pub owner: String,
    /// The names it picks from.
    pub resources: &'a [String],
    /// Its own handles on the witness files.
    pub witness: Witness,
    /// How it waits for a held lease.
    pub style: Style,
    /// State of its resource picker (xorshift; any nonzero seed).
    pub seed: u64,
}

impl<L: Locker> Client<'_, L> {
    /// Runs cycles until `deadline`, starting now.
    ///
    /// # Errors
    ///
    /// Any failure but a busy database, which is counted.
    pub fn run(mut self, deadline: Instant) -> Result<ClientResult, BenchError> {
        let started = Instant::now();
        let mut result = ClientResult::default();
        if self.style.mixes() {
            crate::mixed::run(&mut self, deadline, &mut result)?;
        } else if self.style.holds() {
            self.run_holding(deadline, &mut result)?;
        } else {
            self.run_cycles(deadline, &mut result)?;
        }
        result.elapsed_s = started.elapsed().as_secs_f64();
        Ok(result)
    }

    /// Acquire, enter the witness, leave it, release, as fast as possible.
    fn run_cycles(
        &mut self,
        deadline: Instant,
        result: &mut ClientResult,
    ) -> Result<(), BenchError> {
        while Instant::now() < deadline {
            let index = self.pick();
            let wanted = Instant::now();
            let Some(grant) = self.acquire(index, deadline, result)? else {
                break;
            };
            result.acquire_latency.record(wanted.elapsed());
            self.hold(index, result)?;
            self.release(&grant, result)?;
            result.grants += 1;
        }
        Ok(())
    }

    /// Waits for the first resource, holds it [`HOLD`] inside the witness, releases, and asks
    /// again at once; logs when each lease was held.
    fn run_holding(&self, deadline: Instant, result: &mut ClientResult) -> Result<(), BenchError> {
        while Instant::now() < deadline {
            let wanted = Instant::now();
            let Some(grant) = self.acquire(0, deadline, result)? else {
                break;
            };
            let granted = wall_ns();
            result.acquire_latency.record(wanted.elapsed());
            if self.witness.enter(0)? {
                thread::sleep(HOLD);
                self.witness.leave(0)?;
            } else {
                result.double_grants += 1;
            }
            self.release(&grant, result)?;
            result.held.push((granted, wall_ns()));
            result.grants += 1;
        }
        Ok(())
    }

    pub(crate) fn pick(&mut self) -> usize {
        if self.resources.len() == 1 {
            return 0;
        }
        let len = u64::try_from(self.resources.len()).unwrap_or(u64::MAX);
        usize::try_from(self.draw() % len).unwrap_or(0)
    }

    /// The next draw of the client's random source.
    pub(crate) fn draw(&mut self) -> u64 {
        // xorshift64: cheap, and enough to spread picks uniformly.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// Takes resource `index`, or `None` when the run ended first.
    fn acquire(
        &self,
        index: usize,
        deadline: Instant,
        result: &mut ClientResult,
    ) -> Result<Option<L::Grant>, BenchError> {
        let resource = &self.resources[index];
        loop {
            let attempt = if self.style.waits() {
                self.locker.acquire_waiting(resource, &self.owner, deadline)
            } else {
                self.locker.try_acquire(resource, &self.owner)
            };
            match attempt {
                Ok(Some(grant)) => return Ok(Some(grant)),
                Ok(None) if self.style.waits() => result.unfinished_waits += 1,
                Ok(None) => result.busy_attempts += 1,
                Err(e) if e.is_busy() => result.busy_errors += 1,
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // Let the holder run: two cores, up to eight clients.
            thread::yield_now();
        }
    }

    /// The critical section: enter and leave the witness.
    fn hold(&self, index: usize, result: &mut ClientResult) -> Result<(), BenchError> {
        if !L::EXCLUSIVE {
            return Ok(());
        }
        if self.witness.enter(index)? {
            self.witness.leave(index)
        } else {
            result.double_grants += 1;
            Ok(())
        }
    }

    /// Releases, retrying a busy database: a lease left held would block the resource for the
    /// rest of the run.
    fn release(&self, grant: &L::Grant, result: &mut ClientResult) -> Result<(), BenchError> {
        loop {
            match self.locker.release(grant) {
                Err(e) if e.is_busy() => result.busy_errors += 1,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_finds_the_witness_taken_until_the_first_leaves() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (a, b) = (
            Witness::open(dir.path(), 2).expect("opened"),
            Witness::open(dir.path(), 2).expect("opened"),
        );
        assert!(a.enter(0).expect("flock"));
        assert!(!b.enter(0).expect("flock"), "a double grant is seen");
        assert!(
            b.enter(1).expect("flock"),
            "another resource is independent"
        );
        a.leave(0).expect("unlock");
        assert!(b.enter(0).expect("flock"), "free once left");
    }
}
