//! Linearizability: the reference store's real concurrent histories are linearizable, many of
//! them; a store that decides on a copy and writes later, and one whose reads lag behind other
//! stores' writes, are not.

use leasehold_kit::{MemoryBackend, linearizability, planted};

use super::caught;

#[test]
fn the_reference_store_is_linearizable_with_a_frozen_clock() {
    let report = linearizability::frozen_clock::<MemoryBackend>(400);
    eprintln!("{report:?}");
    assert_eq!(report.histories, 400);
    assert!(report.granted >= 50 && report.busy >= 50, "{report:?}");
}

#[test]
fn the_reference_store_is_linearizable_with_a_moving_clock() {
    let report = linearizability::moving_clock::<MemoryBackend>(400);
    eprintln!("{report:?}");
    assert_eq!(report.histories, 400);
    assert!(report.granted >= 50 && report.busy >= 20, "{report:?}");
}

#[test]
fn check_then_act_is_not_linearizable() {
    let message =
        caught(|| linearizability::frozen_clock::<MemoryBackend<planted::CheckThenAct>>(400));
    assert!(message.contains("not linearizable"), "{message}");
}

#[test]
fn reads_that_lag_behind_other_stores_are_not_linearizable() {
    let message =
        caught(|| linearizability::frozen_clock::<MemoryBackend<planted::StaleReads>>(400));
    assert!(message.contains("not linearizable"), "{message}");
}

#[test]
fn a_store_that_is_always_busy_shows_nothing() {
    let message =
        caught(|| linearizability::frozen_clock::<MemoryBackend<planted::AlwaysBusy>>(20));
    assert!(message.contains("no progress"), "{message}");
}

/// Why the kit needs both: one store on one thread (conformance) never sees its own stale
/// reads, since its own writes refresh them; several stores at once do.
#[test]
fn stale_reads_pass_conformance_which_drives_one_store() {
    leasehold_kit::conformance::check::<MemoryBackend<planted::StaleReads>>(500);
}
