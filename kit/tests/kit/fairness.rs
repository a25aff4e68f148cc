//! Fairness: waiters through the reference store take turns and answer at their deadlines;
//! waiters that poll without a line are starved, and a wait that returns at once is
//! caught.

use leasehold_kit::{MemoryBackend, fairness, planted};

use super::caught;

#[test]
fn waiters_through_the_reference_store_take_turns() {
    let counts = fairness::waiters_take_turns::<MemoryBackend>(400);
    eprintln!("{counts:?}");
}

#[test]
fn waiters_without_a_line_are_starved() {
    let message = caught(|| fairness::waiters_take_turns::<MemoryBackend<planted::NoTurns>>(400));
    assert!(message.contains("under 60 %"), "{message}");
}

#[test]
fn a_waiter_in_line_answers_at_its_deadline() {
    fairness::in_line_answers_at_its_deadline::<MemoryBackend>();
}

#[test]
fn a_wait_that_returns_at_once_is_caught_in_line() {
    caught(fairness::in_line_answers_at_its_deadline::<MemoryBackend<planted::ReturnsEarly>>);
}
