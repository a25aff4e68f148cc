//! Threads under a moving clock, judged by the history checker: threads sharing one store and
//! threads with stores of their own race for one resource while they move a shared
//! [`ManualClock`] forward; an administrator evicts and prunes at the same time. Every answer is
//! logged as a history [`Event`], and [`history::check`] judges the whole
//! history: mutual exclusion over every pair of leases (not only neighbours), tokens never
//! repeated and increasing per client, releases that did or did not end their lease, renewals
//! and evictions.
//!
//! **Soundness.** A store labels a grant with the clock reading it took before its statement;
//! with threads that move the clock between that reading and the commit, the label can be
//! earlier than the commit, and the checker would report overlaps that did not happen. So a
//! grant is logged with the clock read *after* the answer arrived (no earlier than its commit),
//! and a release or eviction with the clock read *before* the call (no later than its effect):
//! every interval the checker sees contains the real one, and a reported overlap is real.
//!
//! [`ManualClock`]: leasehold_contract::ManualClock

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use leasehold_contract::{Acquire, Clock, Evict, Lease, LockStore, ManualClock, Release, Renew};

use crate::backend::Backend;
use crate::history::{self, Event};
use crate::support::{Fixture, Rng, ms};

/// The contested resource.
const RESOURCE: &str = "threads/hot";
/// The sleep after each iteration of a worker, and each round of the administrator.
const PAUSE: std::time::Duration = std::time::Duration::from_micros(200);

/// What a run did, for its progress assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Events in the history.
    pub events: usize,
    /// Grants.
    pub granted: usize,
    /// Renewals.
    pub renewed: usize,
    /// Releases that ended a valid lease.
    pub released: usize,
    /// Releases that did not (expired, or a newer holder).
    pub stale_releases: usize,
    /// Evictions of a valid lease.
    pub evicted: usize,
    /// Records deleted by concurrent prunes.
    pub pruned: usize,
}

/// Three threads sharing one store and three with stores of their own run `iterations` each
/// — acquire (5 to 30 ms), renew, release (in time or late), or keep — moving the clock 1 to 3
/// ms after each; a seventh evicts and prunes throughout. The whole history must pass
/// [`history::check`].
///
/// Replaces a test that checked only adjacent token pairs and had no negative control. Catches
/// check-then-act (two leases at once) and a release that frees by name (a stale release ends
/// the newer holder's lease, and a third client is granted while it is still valid).
///
/// # Panics
///
/// When the history breaks a promise (the message lists the violations), or the run made too
/// little progress to mean anything.
pub fn check<B: Backend>(iterations: usize) -> Report {
    let fixture = Fixture::<B>::new();
    let own: Vec<B::Store> = (0..3).map(|_| fixture.open()).collect();
    let admin = fixture.open();
    let log = Log::default();
    let done = AtomicBool::new(false);
    let seed = Rng::seed();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|i| {
                let store = if i < 3 { &fixture.store } else { &own[i - 3] };
                let (clock, log) = (&fixture.clock, &log);
                let mut worker = Worker::new(format!("worker-{i}"), seed.wrapping_add(i as u64));
                scope.spawn(move || worker.run(store, clock, log, iterations))
            })
            .collect();
        let administrator = scope.spawn(|| administer(&admin, &fixture.clock, &log, &done));
        for worker in workers {
            worker.join().expect("a worker does not panic");
        }
        done.store(true, Ordering::SeqCst);
        administrator
            .join()
            .expect("the administrator does not panic");
    });
    log.judge(fixture.backend.name(), seed)
}

/// The shared history and the counts.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<Event>>,
    report: Mutex<Report>,
    pruned: AtomicUsize,
}

impl Log {
    fn push(&self, event: Event) {
        let mut report = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        match &event {
            Event::Granted { .. } => report.granted += 1,
            Event::Renewed { .. } => report.renewed += 1,
            Event::ReleaseAnswered { ended: true, .. } => report.released += 1,
            Event::ReleaseAnswered { ended: false, .. } => report.stale_releases += 1,
            Event::Evicted { .. } => report.evicted += 1,
            Event::Releasing { .. } | Event::Wrote { .. } => {}
        }
        drop(report);
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn judge(self, store: &str, seed: u64) -> Report {
        let events = self
            .events
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let mut report = self
            .report
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        report.events = events.len();
        report.pruned = self.pruned.into_inner();
        let violations = history::check(&events);
        assert!(
            violations.is_empty(),
            "{store} broke its promises (seed {seed}): {}\nthe leases involved:\n{}",
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            involved(&events, &violations)
        );
        let progress = report.granted >= 30
            && report.renewed >= 3
            && report.released >= 3
            && report.stale_releases >= 3
            && report.evicted >= 1
            && report.pruned >= 1;
        assert!(
            progress,
            "{store}: too little happened to show anything: {report:?}"
        );
        report
    }
}

/// One client thread and what it holds.
struct Worker {
    name: String,
    rng: Rng,
    held: Option<Lease>,
}

impl Worker {
    fn new(name: String, seed: u64) -> Self {
        Self {
            name,
            rng: Rng::new(seed),
            held: None,
        }
    }

    fn run<S: LockStore>(&mut self, store: &S, clock: &ManualClock, log: &Log, iterations: usize) {
        for _ in 0..iterations {
            match self.held.take() {
                None => self.acquire(store, clock, log),
                Some(lease) => match self.rng.below(10) {
                    0..2 => self.renew(store, lease, log),
                    2..5 => release(store, &lease, clock, log),
                    // Kept: released later, in time or not.
                    _ => self.held = Some(lease),
                },
            }
            clock.advance(ms(1 + self.rng.below(3)));
            // Lets the other threads run between iterations, even on a store that answers in
            // microseconds.
            std::thread::sleep(PAUSE);
        }
    }

    fn acquire<S: LockStore>(&mut self, store: &S, clock: &ManualClock, log: &Log) {
        let ttl = ms(5 + self.rng.below(26));
        let Ok(Acquire::Granted(lease)) = store.try_acquire(RESOURCE, &self.name, ttl) else {
            return;
        };
        // The receipt time: no earlier than the grant's commit (see the module's soundness note).
        let received = reading(clock);
        log.push(Event::Granted {
            resource: RESOURCE.to_owned(),
            client: self.name.clone(),
            token: lease.token().get(),
            acquired_at: received,
            expires_at: lease.expires_at().as_millis(),
        });
        self.held = Some(lease);
    }

    fn renew<S: LockStore>(&mut self, store: &S, lease: Lease, log: &Log) {
        let ttl = ms(5 + self.rng.below(26));
        match store.renew(&lease, ttl) {
            Ok(Renew::Renewed(renewed)) => {
                log.push(Event::Renewed {
                    resource: RESOURCE.to_owned(),
                    token: renewed.token().get(),
                    expires_at: renewed.expires_at().as_millis(),
                });
                self.held = Some(renewed);
            }
            // A lost lease is kept now and then, to be released late.
            Ok(Renew::Lost(_)) | Err(_) => self.held = self.rng.chance(50).then_some(lease),
        }
    }
}

/// Releases `lease`, logging the intent before the call and the answer after it.
fn release<S: LockStore>(store: &S, lease: &Lease, clock: &ManualClock, log: &Log) {
    let (resource, token) = (RESOURCE.to_owned(), lease.token().get());
    let at = reading(clock);
    log.push(Event::Releasing {
        resource: resource.clone(),
        token,
        at,
    });
    let ended = matches!(store.release(lease), Ok(Release::Released));
    log.push(Event::ReleaseAnswered {
        resource,
        token,
        ended,
    });
}

/// Evicts now and then and prunes often, until the workers are done.
fn administer<S: LockStore>(store: &S, clock: &ManualClock, log: &Log, done: &AtomicBool) {
    let mut round = 0_u64;
    while !done.load(Ordering::SeqCst) || round < 20 {
        round += 1;
        if round.is_multiple_of(5) {
            let at = reading(clock);
            if let Ok(Evict::Evicted(holder)) = store.evict(RESOURCE) {
                log.push(Event::Evicted {
                    resource: RESOURCE.to_owned(),
                    token: holder.token().get(),
                    at,
                });
            }
        } else if let Ok(deleted) = store.prune(ms(0)) {
            log.pruned.fetch_add(deleted, Ordering::Relaxed);
        }
        std::thread::sleep(PAUSE);
    }
}

fn reading(clock: &ManualClock) -> u64 {
    clock
        .now()
        .expect("a manual clock always reads")
        .as_millis()
}

/// The events about the leases a violation names, one a line.
fn involved(events: &[Event], violations: &[history::Violation]) -> String {
    let tokens: Vec<u64> = violations
        .iter()
        .flat_map(|v| match v {
            history::Violation::Overlap { earlier, later, .. } => vec![earlier.1, later.1],
            history::Violation::TokenRepeated { token, .. } => vec![*token],
            history::Violation::TokenNotIncreasing { earlier, later, .. } => vec![*earlier, *later],
            history::Violation::WriteOutOfOrder { newer, older, .. } => vec![*newer, *older],
        })
        .collect();
    let token_of = |event: &Event| match event {
        Event::Granted { token, .. }
        | Event::Renewed { token, .. }
        | Event::Releasing { token, .. }
        | Event::ReleaseAnswered { token, .. }
        | Event::Evicted { token, .. }
        | Event::Wrote { token, .. } => *token,
    };
    events
        .iter()
        .filter(|e| tokens.contains(&token_of(e)))
        .map(Event::to_line)
        .collect::<Vec<_>>()
        .join("\n")
}
