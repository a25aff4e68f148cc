//! `stress-worker`: one client process of the multi-process stress test
//! (`tests/tests/stress/`). It contends for a few resources of one SQLite lock database until its
//! time is up or it is killed, and logs what it was told to its own file, one
//! [`LogLine`] per line, for the supervisor's checker.
//!
//! A holder writes to the protected table only through `SqliteStore::with_fence`, first right
//! after each grant (a marker, so the table shows each token as soon as it is granted), then
//! while it works. Some holders sleep past their lease's expiry before a write, which the fence
//! must refuse; some release, some let their lease expire, and the supervisor kills others
//! mid-lease.
//!
//! Usage: `stress-worker --db PATH --log PATH --client NAME --millis N --seed N
//! --store real|check-then-act --resources N --ttl-min-ms N --ttl-max-ms N`
//! (see [`WorkerConfig`]).

use std::env;
use std::error::Error as StdError;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use leasehold_sqlite::{
    Acquire, Clock, Direct, Durability, Error, Fenced, Lease, Lost, Renew, SqliteStore, SystemClock,
};
use leasehold_tests::CheckThenActStore;
use leasehold_tests::history::Event;
use leasehold_tests::rng::XorShift;
use leasehold_tests::stress::{
    Grant, INSERT_WORK, LogLine, LostOp, StoreKind, WorkerConfig, WriteKind, resource_name,
};
use rusqlite::Transaction;

/// The longest pause the planted store takes between its read and its write. This is help the
/// negative control gets so that its race shows up in a few seconds; the real store gets none
/// and has no gap to widen.
const CHECK_THEN_ACT_GAP_MS: u64 = 8;

/// The most steps (work, renew, overrun) a holder takes before it releases or walks away.
const MAX_STEPS: u64 = 5;

/// The longest pause after a busy answer before the next try.
const BUSY_PAUSE_MS: u64 = 10;

fn main() -> ExitCode {
    let config = match WorkerConfig::from_args(env::args_os().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = config.client.clone();
    match Worker::open(config).and_then(|mut worker| worker.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stress-worker {client}: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

/// Whether the holder goes on using its lease after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// As far as the holder knows, the lease is still valid.
    Kept,
    /// The lease is over (lost, or released): stop using it.
    Over,
}

struct Worker {
    config: WorkerConfig,
    store: SqliteStore,
    /// The planted acquire, for the negative control.
    naive: Option<CheckThenActStore>,
    log: File,
    rng: XorShift,
    deadline: Instant,
}

impl Worker {
    fn open(config: WorkerConfig) -> Result<Self> {
        let store = SqliteStore::open(&config.db)?;
        let naive = match config.store {
            StoreKind::Real => None,
            StoreKind::CheckThenAct => Some(open_check_then_act(&config)?),
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log)?;
        Ok(Self {
            rng: XorShift::new(config.seed),
            deadline: Instant::now() + config.run_for,
            log,
            config,
            store,
            naive,
        })
    }

    fn run(&mut self) -> Result<()> {
        while Instant::now() < self.deadline {
            let resource = resource_name(self.rng.in_range(0..=self.config.resources - 1));
            let ttl = self.ttl();
            match self.acquire(&resource, ttl)? {
                Some(lease) => self.hold(lease, ttl)?,
                None => self.pause(0..=BUSY_PAUSE_MS),
            }
        }
        Ok(())
    }

    /// Logs `line` with one `write` call. `File` is unbuffered, so the line is in the kernel
    /// when this returns, where a SIGKILL cannot lose it; at worst a kill cuts the line being
    /// written, which the reader skips.
    fn record(&mut self, line: LogLine) -> io::Result<()> {
        let mut text = line.to_line();
        text.push('\n');
        self.log.write_all(text.as_bytes())
    }

    fn event(&mut self, event: Event) -> io::Result<()> {
        self.record(LogLine::Event(event))
    }

    fn ttl(&mut self) -> Duration {
        Duration::from_millis(self.rng.in_range(self.config.ttl_ms.clone()))
    }

    fn pause(&mut self, millis: std::ops::RangeInclusive<u64>) {
        thread::sleep(Duration::from_millis(self.rng.in_range(millis)));
    }

    /// One acquire; `None` when someone else holds the resource (or the database stayed
    /// locked, which is contention too).
    fn acquire(&mut self, resource: &str, ttl: Duration) -> Result<Option<Lease>> {
        let answer = if self.naive.is_some() {
            self.acquire_check_then_act(resource, ttl)
        } else {
            self.acquire_real(resource, ttl)
        };
        let lease = match answer {
            Ok(Acquire::Granted(lease)) => lease,
            Ok(Acquire::Busy(_)) | Err(Error::Busy) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.log_grant(&lease)?;
        Ok(Some(lease))
    }

    fn log_grant(&mut self, lease: &Lease) -> Result<()> {
        // Read before anything else: the first instant this holder could rely on the lease.
        let received_at = SystemClock.now()?.as_millis();
        self.record(LogLine::Grant(Grant {
            resource: lease.resource().to_string(),
            client: lease.owner().to_string(),
            token: lease.token().get(),
            acquired_at: lease.acquired_at().as_millis(),
            expires_at: lease.expires_at().as_millis(),
            received_at,
        }))?;
        Ok(())
    }

    /// Half the time one try, half the time waiting up to the longest TTL: both entry points
    /// must keep the promises.
    fn acquire_real(
        &mut self,
        resource: &str,
        ttl: Duration,
    ) -> std::result::Result<Acquire, Error> {
        let client = &self.config.client;
        if self.rng.chance(1, 2) {
            return self.store.try_acquire(resource, client, ttl);
        }
        let wait = Duration::from_millis(self.rng.in_range(0..=*self.config.ttl_ms.end()));
        let until = (Instant::now() + wait).min(self.deadline);
        self.store.acquire(resource, client, ttl, until)
    }

    fn acquire_check_then_act(
        &mut self,
        resource: &str,
        ttl: Duration,
    ) -> std::result::Result<Acquire, Error> {
        let gap = Duration::from_millis(self.rng.in_range(0..=CHECK_THEN_ACT_GAP_MS));
        let naive = self
            .naive
            .as_ref()
            .expect("only called for the check-then-act kind");
        let decision = naive.read(resource, &self.config.client, ttl)?;
        thread::sleep(gap);
        naive.write(decision)
    }

    /// Uses a granted lease for a few random steps, then releases it or walks away from it.
    fn hold(&mut self, mut lease: Lease, ttl: Duration) -> Result<()> {
        if self.write(&lease, WriteKind::Grant)? == Hold::Over {
            return Ok(());
        }
        for _ in 0..self.rng.in_range(0..=MAX_STEPS) {
            if self.step(&mut lease, ttl)? == Hold::Over {
                return Ok(());
            }
        }
        // A quarter of leases are left to expire: takeovers after expiry without a kill.
        if self.rng.chance(3, 4) {
            self.release(&lease)?;
        }
        Ok(())
    }

    /// One random step of a holder: mostly work, then renewals, sometimes an overrun or an early
    /// release.
    fn step(&mut self, lease: &mut Lease, ttl: Duration) -> Result<Hold> {
        match self.rng.in_range(0..=7) {
            0..=3 => self.work(lease, ttl),
            4..=5 => self.renew(lease),
            6 => self.overrun(lease),
            _ => self.release(lease).map(|()| Hold::Over),
        }
    }

    /// Works for a while within (usually) the lease, then writes.
    fn work(&mut self, lease: &Lease, ttl: Duration) -> Result<Hold> {
        let quarter = u64::try_from(ttl.as_millis() / 4).unwrap_or(u64::MAX);
        self.pause(0..=quarter);
        self.write(lease, WriteKind::Work)
    }

    /// Sleeps until just past the lease's expiry on the store's clock, then writes: the fence
    /// reads `now` after this sleep, on the same clock, so it must refuse the write (the
    /// supervisor checks that no `overrun` row exists).
    fn overrun(&mut self, lease: &Lease) -> Result<Hold> {
        let now = SystemClock.now()?;
        let late = self.rng.in_range(1..=30);
        let until_expiry = lease.expires_at().millis_since(now);
        thread::sleep(Duration::from_millis(until_expiry + late));
        self.write(lease, WriteKind::Overrun)
    }

    fn renew(&mut self, lease: &mut Lease) -> Result<Hold> {
        let ttl = self.ttl();
        match self.store.renew(lease, ttl) {
            Ok(Renew::Renewed(renewed)) => {
                self.event(Event::Renewed {
                    resource: renewed.resource().to_string(),
                    token: renewed.token().get(),
                    expires_at: renewed.expires_at().as_millis(),
                })?;
                *lease = renewed;
                Ok(Hold::Kept)
            }
            Ok(Renew::Lost(lost)) => self.lost(LostOp::Renew, lease, &lost),
            // Nothing changed; the lease is as valid as before.
            Err(Error::Busy) => Ok(Hold::Kept),
            Err(e) => Err(e.into()),
        }
    }

    /// One fenced write to the protected table, logged once committed.
    fn write(&mut self, lease: &Lease, kind: WriteKind) -> Result<Hold> {
        let (resource, token) = (lease.resource().as_str(), lease.token().get());
        let row = (
            resource,
            i64::try_from(token)?,
            self.config.client.as_str(),
            kind,
        );
        match self.store.with_fence(lease, |tx| insert_work(tx, row)) {
            Ok(Fenced::Committed(seq)) => {
                let (resource, seq) = (resource.to_owned(), u64::try_from(seq)?);
                self.event(Event::Wrote {
                    resource,
                    token,
                    seq,
                })?;
                Ok(Hold::Kept)
            }
            Ok(Fenced::Lost(lost)) => self.lost(LostOp::Write, lease, &lost),
            // Rolled back; the lease is as valid as before.
            Err(Error::Busy) => Ok(Hold::Kept),
            Err(e) => Err(e.into()),
        }
    }

    /// Logs a refusal. A holder told its lease is over stops using it, and does not release it
    /// (there is nothing left to release).
    fn lost(&mut self, op: LostOp, lease: &Lease, lost: &Lost) -> Result<Hold> {
        self.record(LogLine::Lost {
            op,
            resource: lease.resource().to_string(),
            token: lease.token().get(),
            reason: format!("{:?}", lost.reason()),
        })?;
        Ok(Hold::Over)
    }

    /// Logs `Releasing` first, so that a kill between the release and the log line cannot hide
    /// a release from the checker.
    fn release(&mut self, lease: &Lease) -> Result<()> {
        self.event(Event::Releasing {
            resource: lease.resource().to_string(),
            token: lease.token().get(),
            at: SystemClock.now()?.as_millis(),
        })?;
        match self.store.release(lease) {
            // Every answer ends this holder's use of the lease; `Expired` and `NotHolder` mean it
            // had already ended, which the log shows by its times. After `Busy` nothing changed
            // and the lease runs to its expiry unused; the checker, told `Releasing`, then
            // holds it valid only until `at`, which can miss an overlap but not invent one.
            Ok(_) | Err(Error::Busy) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The planted acquire on the same database, reading the same clock as the real store.
fn open_check_then_act(config: &WorkerConfig) -> Result<CheckThenActStore> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(CheckThenActStore::open(
        &config.db,
        clock,
        Direct,
        Durability::Full,
    )?)
}

/// The fenced write itself: one row of the protected table; returns its `seq`.
fn insert_work(
    tx: &Transaction<'_>,
    (resource, token, writer, kind): (&str, i64, &str, WriteKind),
) -> std::result::Result<i64, Error> {
    let params = rusqlite::params![resource, token, writer, kind.as_str()];
    Ok(tx.query_row(INSERT_WORK, params, |row| row.get(0))?)
}
