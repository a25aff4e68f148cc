//! Conformance: random request sequences run against the core's [`LockTable`] (the reference)
//! and a real store side by side. After every step the answers must be equal, and so must every
//! stored record and the high-water mark.
//!
//! Steps: acquire (fresh, and retried with an earlier request id), waiting acquire, renew and
//! release (with the client's lease, and by resource and token — current, stale or never issued),
//! fenced writes, evict, prune, reads, and clock moves, including to exactly a lease's expiry and
//! past the largest storable instant.
//!
//! [`LockTable`]: leasehold_core::LockTable

mod reference;
mod sut;

use proptest::test_runner::{Config, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use crate::backend::Backend;
use reference::Reference;
use sut::Sut;

/// How many cases [`check`] runs: `LEASEHOLD_CONFORMANCE_CASES`, else `default`.
#[must_use]
pub fn cases(default: u32) -> u32 {
    std::env::var("LEASEHOLD_CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` random sequences of 1 to 40 steps against `B`'s store and the core, shrinking a
/// failure to a minimal sequence.
///
/// # Panics
///
/// When the store and the core disagree: on an answer, on the stored rows, or on the high-water
/// mark; the panic message names the minimal failing sequence.
pub fn check<B: Backend>(cases: u32) {
    let config = Config {
        cases,
        max_shrink_iters: 4_096,
        // Failures are reported by the panic; no regression file is written from a library.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = Reference::sequential_strategy(1..40_usize);
    let result = runner.run(&strategy, |(initial, transitions, seen)| {
        Sut::<B>::test_sequential(Config::default(), initial, transitions, seen);
        Ok(())
    });
    if let Err(failure) = result {
        panic!(
            "{} does not conform to the core: {failure}",
            B::default().name()
        );
    }
}
