//! Linearizability of real concurrent histories, checked with stateright's
//! [`LinearizabilityTester`] against the core as the sequential specification.
//!
//! Several OS threads, each with a store of its own on one database, run short random sequences
//! of `try_acquire_with_id` (fresh, and retried with the last request id), `acquire_for`,
//! `renew` and `release` (through the lease, and by resource and token), `evict`, `holder`,
//! `holders` and `prune` against two resources. Each operation is recorded between two numbers
//! drawn from one counter, just before the call and just after the answer, so that the recorded
//! interval contains the real one. The tester then looks for one serial order, consistent with
//! those intervals, in which the core's [`LockTable`], started from the store's own state when
//! the history began ([`Audit::snapshot`]) and decided at the history's clock reading, gives
//! every answer the store gave — tokens, expiries and holders included. The tokens the store
//! chose are not taken on trust: the specification issues the token the core would issue in
//! that order, from that starting high-water mark.
//!
//! **Assumptions.** The clock does not move during a history (a [`ManualClock`] the test holds
//! still; in [`moving_clock`] it moves only between histories, while no operation runs). A store
//! error (other than the core's refusals) leaves its operation "in flight": it may or may not
//! have taken effect, and the tester may place it anywhere after its start or leave it out.
//!
//! **Negative controls.** A store that decides on a copy and writes later
//! ([`Flaw::CheckThenAct`](crate::Flaw::CheckThenAct)) and one whose reads answer from what it
//! last wrote itself ([`Flaw::StaleReads`](crate::Flaw::StaleReads)) are rejected, usually
//! within the first few histories; the second passes conformance, which drives one store.
//!
//! **What it cannot show.** Histories are short (3–4 threads × 3–5 operations) so the tester's
//! search stays small, and each is judged from the state the store reports at its start, so a
//! store whose rows and answers agree with each other but not with the core between histories
//! is left to [`conformance`](crate::conformance). It says nothing about what happens while the
//! clock moves under a running operation ([`threads`](crate::threads) and the history checker
//! cover that). A passing run means that the interleavings that happened were linearizable,
//! not that every interleaving is.
//!
//! [`LinearizabilityTester`]: stateright::semantics::LinearizabilityTester
//! [`LockTable`]: leasehold_core::LockTable
//! [`Audit::snapshot`]: leasehold_contract::Audit::snapshot
//! [`ManualClock`]: leasehold_contract::ManualClock

mod client;
mod spec;

use std::fmt::Write as _;
use std::sync::Barrier;
use std::sync::atomic::AtomicU64;

use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

use crate::backend::Backend;
use crate::support::{Fixture, Rng, ms};
use client::{Client, Durations, Record};
use spec::{LockSpec, Op, Ret};

/// What a run saw: how many histories were judged linearizable, and what their operations
/// answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Histories judged linearizable.
    pub histories: usize,
    /// Operations recorded.
    pub operations: usize,
    /// Operations the store failed (left in flight).
    pub failed: usize,
    /// Acquires answered `Granted`.
    pub granted: usize,
    /// Acquires answered `Busy`.
    pub busy: usize,
    /// Renews answered `Renewed`.
    pub renewed: usize,
    /// Releases that ended a valid lease.
    pub released: usize,
    /// Operations that overlapped in time with another thread's: what makes a history
    /// concurrent rather than a sequence the threads took turns at.
    pub concurrent: usize,
}

/// Judges `histories` histories with a clock that never moves and leases (60 s and more) that
/// never expire: every lease ends by a release or an eviction.
///
/// # Panics
///
/// On the first history that is not linearizable (the message lists it), when the store fails
/// more than one operation in twenty, or when the run made no grants or saw no contention.
pub fn frozen_clock<B: Backend>(histories: usize) -> Report {
    let durations = Durations {
        ttls: &[60_000, 90_000],
        wait: ms(2),
    };
    run::<B>(histories, durations, &[0])
}

/// Judges `histories` histories with short leases (20 and 50 ms) and the clock moved between
/// histories (by 0, 10, 30 or 60 ms): leases also end by expiring, records of ended leases are
/// pruned, and tokens continue above what was pruned.
///
/// # Panics
///
/// As [`frozen_clock`].
pub fn moving_clock<B: Backend>(histories: usize) -> Report {
    let durations = Durations {
        ttls: &[20, 50],
        wait: ms(2),
    };
    run::<B>(histories, durations, &[0, 10, 30, 60])
}

fn run<B: Backend>(histories: usize, durations: Durations, advances: &[u64]) -> Report {
    let seed = Rng::seed();
    let mut rng = Rng::new(seed);
    let fixture = Fixture::<B>::new();
    let stores: Vec<B::Store> = (0..4).map(|_| fixture.open()).collect();
    let mut clients: Vec<Client> = (0..4).map(|i| Client::new(i, rng.next_u64())).collect();
    let mut report = Report::default();
    for history in 0..histories {
        // Alternately 3 threads × 5 operations and 4 threads × 3 operations.
        let (threads, ops) = if history % 2 == 0 { (3, 5) } else { (4, 3) };
        let start = LockSpec {
            table: fixture.snapshot(),
            now: fixture.now(),
        };
        let records = record(&stores[..threads], &mut clients[..threads], ops, durations);
        if let Err(listing) = judge(&start, &records) {
            panic!(
                "{} is not linearizable (history {history}, seed {seed}):\n{listing}",
                fixture.backend.name()
            );
        }
        report.count(&records);
        fixture.advance(advances[rng.index(advances.len())]);
    }
    report.assert_progress(fixture.backend.name());
    report
}

/// Runs one history: each client on its own thread and store, started together.
fn record<S: leasehold_contract::LockStore>(
    stores: &[S],
    clients: &mut [Client],
    ops: usize,
    durations: Durations,
) -> Vec<Vec<Record>> {
    let seq = AtomicU64::new(0);
    let start = Barrier::new(clients.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = clients
            .iter_mut()
            .zip(stores)
            .map(|(client, store)| {
                let (seq, start) = (&seq, &start);
                scope.spawn(move || {
                    start.wait();
                    client.run(store, ops, durations, seq)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a client thread does not panic"))
            .collect()
    })
}

/// Feeds the history to the tester in the order its sequence numbers give; `Err` lists the
/// history when no serial order explains it.
fn judge(start: &LockSpec, records: &[Vec<Record>]) -> Result<(), String> {
    let mut events: Vec<(u64, usize, Option<&Op>, Option<&Ret>)> = Vec::new();
    for (thread, ops) in records.iter().enumerate() {
        for record in ops {
            events.push((record.invoked, thread, Some(&record.op), None));
            if let Some((at, ret)) = &record.returned {
                events.push((*at, thread, None, Some(ret)));
            }
        }
    }
    events.sort_by_key(|event| event.0);
    let mut tester = LinearizabilityTester::new(start.clone());
    for (_, thread, op, ret) in events {
        let fed = match (op, ret) {
            (Some(op), _) => tester.on_invoke(thread, op.clone()).map(|_| ()),
            (_, Some(ret)) => tester.on_return(thread, ret.clone()).map(|_| ()),
            (None, None) => unreachable!("every event is an invocation or an answer"),
        };
        fed.expect("each thread has at most one operation in flight");
    }
    if tester.is_consistent() {
        Ok(())
    } else {
        Err(listing(start, records))
    }
}

/// The history, one operation a line: `[invoked, answered] thread: op -> answer`.
fn listing(start: &LockSpec, records: &[Vec<Record>]) -> String {
    let mut text = format!("at {} from {:?}\n", start.now.as_millis(), start.table);
    for (thread, ops) in records.iter().enumerate() {
        for record in ops {
            let (end, ret) = match &record.returned {
                Some((at, ret)) => (at.to_string(), format!("{ret:?}")),
                None => ("-".to_owned(), "(failed: in flight)".to_owned()),
            };
            let _ = writeln!(
                text,
                "[{:>3}, {end:>3}] {thread}: {:?} -> {ret}",
                record.invoked, record.op
            );
        }
    }
    text
}

impl Report {
    fn count(&mut self, records: &[Vec<Record>]) {
        use leasehold_core::{AcquireOutcome, Outcome, ReleaseOutcome, RenewOutcome};
        self.histories += 1;
        self.concurrent += concurrent(records);
        for record in records.iter().flatten() {
            self.operations += 1;
            match &record.returned {
                None => self.failed += 1,
                Some((_, Ret::Outcome(Ok(outcome)))) => match outcome {
                    Outcome::Acquire(AcquireOutcome::Granted(_)) => self.granted += 1,
                    Outcome::Acquire(AcquireOutcome::Busy(_)) => self.busy += 1,
                    Outcome::Renew(RenewOutcome::Renewed { .. }) => self.renewed += 1,
                    Outcome::Release(ReleaseOutcome::Released) => self.released += 1,
                    _ => {}
                },
                Some(_) => {}
            }
        }
    }

    /// A run that granted nothing, saw no contention, ran its threads one after the other, or
    /// whose store failed often proves nothing.
    fn assert_progress(&self, store: &str) {
        assert!(
            self.granted > 0 && self.busy > 0 && self.released > 0,
            "{store}: no progress, nothing was shown: {self:?}"
        );
        assert!(
            self.concurrent * 20 >= self.operations,
            "{store}: under one operation in twenty overlapped another: the threads took turns \
             rather than ran together: {self:?}"
        );
        assert!(
            self.failed * 20 <= self.operations,
            "{store} failed too many operations: {self:?}"
        );
    }
}

/// How many operations overlapped in time with an operation of another thread.
fn concurrent(records: &[Vec<Record>]) -> usize {
    let span = |r: &Record| {
        (
            r.invoked,
            r.returned.as_ref().map_or(u64::MAX, |(at, _)| *at),
        )
    };
    let mut count = 0;
    for (thread, ops) in records.iter().enumerate() {
        for record in ops {
            let (start, end) = span(record);
            let overlaps = records
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != thread)
                .flat_map(|(_, others)| others)
                .any(|other| {
                    let (s, e) = span(other);
                    s < end && start < e
                });
            count += usize::from(overlaps);
        }
    }
    count
}
