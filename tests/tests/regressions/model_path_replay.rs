//! **The model's check-then-act counterexample, replayed on SQLite.**
//!
//! Interleaving (from `leasehold-check`, stored in `check-then-act.path`): A reads the free lock,
//! B reads the free lock, A writes its lease, B writes its lease. Both hold it.
//!
//! Cause and fix: as in `seed_interleaving.rs`. This file pins the bridge between the two
//! halves of the evidence: the path the model checker found is replayed step by step against
//! real SQLite, where the planted store breaks mutual exclusion and the real store does not.
//!
//! The path is kept as data (the model's stable action text), not as a scheduler string, so it
//! survives refactors of either side; a second test fails if the model stops finding it.

use std::collections::BTreeMap;

use leasehold_model::{Action, Config, PropertyKind, Protocol, RunOptions, check, preset};
use leasehold_sqlite::{Acquire, Direct, Lease};
use leasehold_tests::history::{self, Event};
use leasehold_tests::naive::Decision;

use crate::support::{Db, ms};

const PATH: &str = include_str!("check-then-act.path");

/// One model tick, in milliseconds of the store's clock.
const TICK_MS: u64 = 1_000;

fn path() -> Vec<Action> {
    PATH.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.parse().expect("the stored path parses"))
        .collect()
}

fn config() -> Config {
    Config {
        protocol: Protocol::CheckThenAct,
        ..preset("default").expect("the default preset").config
    }
}

/// Which store the path is replayed against.
enum Target {
    Planted(leasehold_tests::CheckThenActStore),
    Atomic(leasehold_sqlite::SqliteStore),
}

/// Replays the model's actions and records what each client was told.
struct Replay {
    db: Db,
    target: Target,
    ttl_ms: u64,
    decisions: BTreeMap<u8, Decision>,
    held: BTreeMap<u8, Lease>,
    events: Vec<Event>,
}

impl Replay {
    fn new(planted: bool) -> Self {
        let db = Db::new(0);
        let target = if planted {
            Target::Planted(db.naive(Direct))
        } else {
            Target::Atomic(db.store(Direct))
        };
        let ttl_ms = u64::from(config().ttl) * TICK_MS;
        Self {
            db,
            target,
            ttl_ms,
            decisions: BTreeMap::new(),
            held: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn step(&mut self, action: Action) {
        let name = |client: u8| char::from(b'A' + client).to_string();
        let resource = |r: u8| format!("lock/r{r}");
        match (action, &self.target) {
            (Action::Tick, _) => self.db.advance(TICK_MS),
            (
                Action::Read {
                    client,
                    resource: r,
                    ..
                },
                Target::Planted(store),
            ) => {
                let decision = store
                    .read(&resource(r), &name(client), ms(self.ttl_ms))
                    .expect("read");
                self.decisions.insert(client, decision);
            }
            (Action::Write { client }, Target::Planted(store)) => {
                let decision = self
                    .decisions
                    .remove(&client)
                    .expect("a write follows its read");
                let outcome = store.write(decision).expect("write");
                self.told(client, outcome);
            }
            // The real store has no separate read: its acquire decides and writes at once, so the
            // model's read is where it acquires, and the write has nothing left to do.
            (
                Action::Read {
                    client,
                    resource: r,
                    ..
                }
                | Action::Acquire {
                    client,
                    resource: r,
                    ..
                },
                Target::Atomic(store),
            ) => {
                let outcome = store
                    .try_acquire(&resource(r), &name(client), ms(self.ttl_ms))
                    .expect("acquire");
                self.told(client, outcome);
            }
            (Action::Write { .. }, Target::Atomic(_)) => {}
            (other, _) => panic!("the stored path has an action the replay does not know: {other}"),
        }
    }

    fn told(&mut self, client: u8, outcome: Acquire) {
        if let Acquire::Granted(lease) = outcome {
            self.events.push(Event::granted(&lease));
            self.held.insert(client, lease);
        }
    }

    /// Clients holding a lease valid at the clock.
    fn valid_holders(&self) -> usize {
        let now = self.db.now();
        self.held
            .values()
            .filter(|lease| lease.expires_at().as_millis() > now)
            .count()
    }
}

fn replay(planted: bool) -> Replay {
    let mut replay = Replay::new(planted);
    for action in path() {
        replay.step(action);
    }
    replay
}

#[test]
fn the_planted_store_breaks_mutual_exclusion_on_the_models_path() {
    let replay = replay(true);
    assert_eq!(replay.valid_holders(), 2, "A and B both hold the lock");
    let violations = history::check(&replay.events);
    assert!(
        violations
            .iter()
            .any(|v| matches!(v, history::Violation::Overlap { .. })),
        "{violations:?}"
    );
}

#[test]
fn the_atomic_store_keeps_it_on_the_same_path() {
    let replay = replay(false);
    assert_eq!(replay.valid_holders(), 1);
    assert_eq!(history::check(&replay.events), []);
}

#[test]
fn the_model_still_finds_this_path() {
    let result = check(
        &config(),
        PropertyKind::MutualExclusion,
        &RunOptions::default(),
        &mut |_| {},
    )
    .expect("a valid configuration");
    let found: Vec<Action> = result
        .counterexample
        .expect("check-then-act violates mutual exclusion")
        .iter()
        .map(|step| step.raw.parse().expect("the model's own text parses"))
        .collect();
    assert_eq!(
        found,
        path(),
        "update check-then-act.path if the model's path changed on purpose"
    );
}
