//! One worker process: it opens the store on the run's database with the real clock and
//! contends for a few resources until its time is up or it is killed, logging what it was told
//! to its own file, one [`LogLine`] per line.
//!
//! A holder writes to the [protected resource](super::protected) (and, if the store has one,
//! through the store's own fenced write) right after each grant, so the resource learns each
//! token as soon as it is granted, then while it works. Some holders sleep past their lease's
//! expiry before a write, which the store's fence must refuse; some renew, by lease or by token;
//! most release, by lease or by token; a quarter let their lease expire; every worker now and
//! then prunes; and the supervisor kills others mid-lease.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_contract::{
    Acquire, Clock, ErrorKind, Fenced, Lease, LockStore, Lost, Release, Renew, StoreError,
    SystemClock,
};

use super::config::{AcquireKind, WorkerConfig, resource_name};
use super::log::{Grant, LogLine, LostOp};
use super::protected::{Protected, Written};
use super::rng::XorShift;
use crate::backend::Backend;
use crate::history::Event;

/// The longest pause the planted acquire takes between its read and its write: help the negative
/// control gets so that its race shows in a few seconds. The store's acquire gets none.
const CHECK_THEN_ACT_GAP_MS: u64 = 8;

/// The most steps (work, renew, overrun, release) a holder takes before it releases or walks away.
const MAX_STEPS: u64 = 5;

/// The longest pause after a busy answer before the next try.
const BUSY_PAUSE_MS: u64 = 10;

/// One loop in this many starts with a prune.
const PRUNE_ONE_IN: u64 = 8;

/// The longest `idle_for` a prune asks for: short, so that records of leases that just ended go.
const PRUNE_IDLE_MS: u64 = 20;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Whether the holder goes on using its lease after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// As far as the holder knows, the lease is still valid.
    Kept,
    /// The lease is over (lost, refused, or released): stop using it.
    Over,
}

impl Hold {
    fn and(self, other: Self) -> Self {
        if self == Self::Kept {
            other
        } else {
            Self::Over
        }
    }
}

/// The store's clock, as this host reads it: the harness assumes every store of the run reads
/// the host's wall clock (SQLite's `SystemClock`; a PostgreSQL server on this host).
pub(crate) fn now_ms() -> Result<u64> {
    Ok(SystemClock.now()?.as_millis())
}

/// Runs the worker `config` describes against `backend`'s store until its time is up.
pub(crate) fn run<B: Backend>(backend: &B, config: WorkerConfig) -> Result<()> {
    Worker::open(backend, config)?.run()
}

struct Worker<'b, B: Backend> {
    backend: &'b B,
    store: B::Store,
    protected: Protected,
    log: File,
    rng: XorShift,
    deadline: Instant,
    config: WorkerConfig,
}

impl<'b, B: Backend> Worker<'b, B> {
    fn open(backend: &'b B, config: WorkerConfig) -> Result<Self> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log)?;
        Ok(Self {
            backend,
            store: backend.open_located(&config.locator),
            protected: Protected::open(&config.protected)?,
            log,
            rng: XorShift::new(config.seed),
            deadline: Instant::now() + config.run_for,
            config,
        })
    }

    fn run(&mut self) -> Result<()> {
        while Instant::now() < self.deadline {
            if self.rng.chance(1, PRUNE_ONE_IN) {
                self.prune()?;
            }
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
    /// written, which the reader drops (a line counts only with its newline).
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

    /// One acquire; `None` when someone else holds the resource (or the store stayed busy,
    /// which is contention too).
    fn acquire(&mut self, resource: &str, ttl: Duration) -> Result<Option<Lease>> {
        let answer = match self.config.acquire {
            AcquireKind::Store => self.acquire_from_store(resource, ttl),
            AcquireKind::CheckThenAct => {
                let gap = Duration::from_millis(self.rng.in_range(0..=CHECK_THEN_ACT_GAP_MS));
                check_then_act(&self.store, resource, &self.config.client, ttl, gap)
            }
        };
        let lease = match tolerate_busy(answer)? {
            Some(Acquire::Granted(lease)) => lease,
            Some(Acquire::Busy(_)) | None => return Ok(None),
        };
        // Read before anything else: the first instant this holder could rely on the lease.
        let received_at = now_ms()?;
        let grant = Grant::from_event(Event::granted(&lease), received_at);
        self.record(LogLine::Grant(grant.expect("`Event::granted` is a grant")))?;
        Ok(Some(lease))
    }

    /// Half the time one try, half the time waiting up to the longest TTL: both entry points
    /// must keep the promises.
    fn acquire_from_store(
        &mut self,
        resource: &str,
        ttl: Duration,
    ) -> std::result::Result<Acquire, <B::Store as LockStore>::Error> {
        let client = &self.config.client;
        if self.rng.chance(1, 2) {
            return self.store.try_acquire(resource, client, ttl);
        }
        let wait = Duration::from_millis(self.rng.in_range(0..=*self.config.ttl_ms.end()));
        let until = (Instant::now() + wait).min(self.deadline);
        self.store.acquire_until(resource, client, ttl, until)
    }

    /// Uses a granted lease for a few random steps, then releases it or walks away from it.
    fn hold(&mut self, mut lease: Lease, ttl: Duration) -> Result<()> {
        if self.write(&lease)? == Hold::Over {
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
        self.write(lease)
    }

    /// Sleeps until just past the lease's expiry on the store's clock, then writes: the store's
    /// fence reads `now` after this sleep, on the same clock, so it must refuse the write (the
    /// verdict checks every committed fenced write against the lease's known expiry).
    fn overrun(&mut self, lease: &Lease) -> Result<Hold> {
        let late = self.rng.in_range(1..=30);
        let until_expiry = lease.expires_at().as_millis().saturating_sub(now_ms()?);
        thread::sleep(Duration::from_millis(until_expiry + late));
        self.write(lease)
    }

    /// Renews by lease or by token, half the time each.
    fn renew(&mut self, lease: &mut Lease) -> Result<Hold> {
        let ttl = self.ttl();
        let answer = if self.rng.chance(1, 2) {
            self.store.renew(lease, ttl)
        } else {
            let (resource, token) = (lease.resource().as_str(), lease.token());
            self.store.renew_by_token(resource, token, ttl)
        };
        match tolerate_busy(answer)? {
            Some(Renew::Renewed(renewed)) => {
                self.event(Event::Renewed {
                    resource: renewed.resource().to_string(),
                    token: renewed.token().get(),
                    expires_at: renewed.expires_at().as_millis(),
                })?;
                *lease = renewed;
                Ok(Hold::Kept)
            }
            Some(Renew::Lost(lost)) => self.lost(LostOp::Renew, lease, &lost),
            // Nothing changed; the lease is as valid as before.
            None => Ok(Hold::Kept),
        }
    }

    /// One write: through the store's fence, if it has one, and to the protected resource.
    /// Both are tried whatever the other answers, so that each meets stale tokens.
    fn write(&mut self, lease: &Lease) -> Result<Hold> {
        let fenced = self.fenced(lease)?;
        Ok(fenced.and(self.protected(lease)?))
    }

    fn fenced(&mut self, lease: &Lease) -> Result<Hold> {
        let started_at = now_ms()?;
        let Some(answer) = self.backend.fenced_write(&self.store, lease) else {
            return Ok(Hold::Kept);
        };
        match tolerate_busy(answer)? {
            Some(Fenced::Committed(())) => {
                let (resource, token) = (lease.resource().to_string(), lease.token().get());
                self.record(LogLine::Fenced {
                    resource,
                    token,
                    started_at,
                })?;
                Ok(Hold::Kept)
            }
            Some(Fenced::Lost(lost)) => self.lost(LostOp::Fence, lease, &lost),
            // Rolled back; the lease is as valid as before.
            None => Ok(Hold::Kept),
        }
    }

    fn protected(&mut self, lease: &Lease) -> Result<Hold> {
        let (resource, token) = (lease.resource().to_string(), lease.token().get());
        match self
            .protected
            .write(&resource, token, &self.config.client)?
        {
            Written::Accepted { seq } => {
                self.event(Event::Wrote {
                    resource,
                    token,
                    seq,
                })?;
                Ok(Hold::Kept)
            }
            Written::Refused { newest } => {
                self.record(LogLine::Refused {
                    resource,
                    token,
                    newest,
                })?;
                Ok(Hold::Over)
            }
        }
    }

    /// Logs a refusal. A holder told its lease is over stops using it, and does not release it.
    fn lost(&mut self, op: LostOp, lease: &Lease, lost: &Lost) -> Result<Hold> {
        self.record(LogLine::Lost {
            op,
            resource: lease.resource().to_string(),
            token: lease.token().get(),
            reason: format!("{:?}", lost.reason()),
            current: lost.current().map(|holder| holder.token().get()),
        })?;
        Ok(Hold::Over)
    }

    /// Releases by lease or by token, half the time each. Logs `Releasing` first, so that a kill
    /// between the release and its answer cannot hide a release from the checker, then the
    /// answer: whether the release ended the lease.
    fn release(&mut self, lease: &Lease) -> Result<()> {
        let (resource, token) = (lease.resource().to_string(), lease.token());
        let at = now_ms()?;
        self.event(Event::Releasing {
            resource: resource.clone(),
            token: token.get(),
            at,
        })?;
        let answer = if self.rng.chance(1, 2) {
            self.store.release(lease)
        } else {
            self.store.release_by_token(&resource, token)
        };
        let ended = match &answer {
            Ok(release) => *release == Release::Released,
            // Only a store that could not be reached may have applied it: no answer is known.
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e.to_string().into()),
            // Any other error changed nothing.
            Err(_) => false,
        };
        let token = token.get();
        self.event(Event::ReleaseAnswered {
            resource,
            token,
            ended,
        })?;
        tolerate_busy(answer)?;
        Ok(())
    }

    fn prune(&mut self) -> Result<()> {
        let idle_for = Duration::from_millis(self.rng.in_range(0..=PRUNE_IDLE_MS));
        if let Some(removed) = tolerate_busy(self.store.prune(idle_for))? {
            let removed = u64::try_from(removed)?;
            self.record(LogLine::Pruned { removed })?;
        }
        Ok(())
    }
}

/// `Ok(Some(answer))`; `Ok(None)` for a store that stayed busy (nothing changed: contention, not
/// a failure); any other error fails the worker, and with it the run.
fn tolerate_busy<T, E: StoreError>(answer: std::result::Result<T, E>) -> Result<Option<T>> {
    match answer {
        Ok(answer) => Ok(Some(answer)),
        Err(e) if e.kind() == ErrorKind::Busy => Ok(None),
        Err(e) => Err(Box::new(e)),
    }
}

/// **The planted bug** of the negative control: the seed's check-then-act, made of the store's
/// own operations. It reads the holder; if there is none, it pauses for `gap`, then takes the
/// resource whatever happened meanwhile — it evicts whoever was granted it during the pause (the
/// write that ignores what the row holds now) and acquires. The eviction is not logged: the
/// client granted in the gap is never told, as nobody was told in the seed's race.
///
/// Every store has this bug available, so every store's harness has its negative control.
pub(crate) fn check_then_act<S: LockStore>(
    store: &S,
    resource: &str,
    owner: &str,
    ttl: Duration,
    gap: Duration,
) -> std::result::Result<Acquire, S::Error> {
    if let Some(holder) = store.holder(resource)? {
        return Ok(Acquire::Busy(holder));
    }
    thread::sleep(gap);
    let _evicted = store.evict(resource)?;
    store.try_acquire(resource, owner, ttl)
}
