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

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

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
/// failure to a minimal sequence. The cases are split between
/// [`Backend::conformance_threads`] runners, each on a thread of its own.
///
/// # Panics
///
/// When the store and the core disagree: on an answer, on the stored rows, or on the high-water
/// mark; the panic message names the minimal failing sequence (of the first runner that failed).
pub fn check<B: Backend>(cases: u32) {
    let most = usize::try_from(cases.max(1)).unwrap_or(usize::MAX);
    let runners = B::default().conformance_threads().clamp(1, most);
    let failed = AtomicUsize::new(NONE);
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..runners)
            .map(|i| {
                let share = share(cases, runners, i);
                let failed = &failed;
                scope.spawn(move || run::<B>(share, i, failed))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| match handle.join() {
                Ok(outcome) => outcome.err(),
                Err(panic) => resume_unwind(panic),
            })
            .collect()
    });
    if let Some(failure) = failures.first() {
        panic!(
            "{} does not conform to the core: {failure}",
            B::default().name()
        );
    }
}

/// Runner `i`'s share of `cases` split between `runners`: as equal as can be, summing to `cases`.
fn share(cases: u32, runners: usize, i: usize) -> u32 {
    // `check` makes `runners` at most `cases`, so both fit.
    let runners = u32::try_from(runners).expect("at most `cases` runners");
    let i = u32::try_from(i).expect("i < runners");
    cases / runners + u32::from(i < cases % runners)
}

/// No runner has failed yet.
const NONE: usize = usize::MAX;

/// Runner `me` runs `cases` cases. Once another runner has found a failure (`failed` holds its
/// index), the rest of this runner's cases pass without running, so that the failure, shrunk, is
/// reported without waiting for them.
fn run<B: Backend>(cases: u32, me: usize, failed: &AtomicUsize) -> Result<(), String> {
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
        let first = failed.load(Ordering::Relaxed);
        if first != NONE && first != me {
            return Ok(());
        }
        let case = AssertUnwindSafe(|| {
            Sut::<B>::test_sequential(Config::default(), initial, transitions, seen);
        });
        catch_unwind(case).map_err(|panic| {
            let _ = failed.compare_exchange(NONE, me, Ordering::Relaxed, Ordering::Relaxed);
            resume_unwind(panic)
        })
    });
    result.map_err(|failure| failure.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_are_even_and_sum_to_the_cases() {
        assert_eq!(
            (0..3).map(|i| super::share(10, 3, i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!((0..4).map(|i| super::share(2, 4, i)).sum::<u32>(), 2);
    }
}
