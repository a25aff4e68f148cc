//! Threads under a moving clock, judged by the history checker: the reference store keeps every
//! promise; check-then-act and a release by name are caught.

use leasehold_kit::{MemoryBackend, planted, threads};

use super::caught;

#[test]
fn the_reference_store_keeps_its_promises_under_threads() {
    for _ in 0..3 {
        let report = threads::check::<MemoryBackend>(150);
        eprintln!("{report:?}");
    }
}

#[test]
fn check_then_act_grants_overlapping_leases() {
    let message = caught(|| threads::check::<MemoryBackend<planted::CheckThenAct>>(150));
    assert!(message.contains("while"), "{message}");
}

#[test]
fn a_release_by_name_ends_the_wrong_lease() {
    let message = caught(|| threads::check::<MemoryBackend<planted::ReleaseByName>>(150));
    assert!(message.contains("while"), "{message}");
}
