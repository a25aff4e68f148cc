//! Conformance: the reference store conforms; each flaw a sequential test can see is caught.

use std::panic::{AssertUnwindSafe, catch_unwind};

use leasehold_kit::{Backend, MemoryBackend, conformance, planted};

#[test]
fn the_reference_store_conforms() {
    conformance::check::<MemoryBackend>(conformance::cases(1_000));
}

/// Runs conformance on `B` and expects it to fail.
fn caught<B: Backend>(cases: u32) -> String {
    let outcome = catch_unwind(AssertUnwindSafe(|| conformance::check::<B>(cases)));
    let panic = outcome.expect_err("the planted flaw was not caught");
    panic
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[test]
fn a_renew_that_extends_any_lease_is_caught() {
    caught::<MemoryBackend<planted::RenewsAnyToken>>(1_000);
}

#[test]
fn a_release_that_frees_by_name_is_caught() {
    caught::<MemoryBackend<planted::ReleaseByName>>(1_000);
}

#[test]
fn a_store_that_forgets_request_ids_is_caught() {
    caught::<MemoryBackend<planted::NoReplay>>(1_000);
}

#[test]
fn a_reentrant_acquire_is_caught() {
    caught::<MemoryBackend<planted::Reentrant>>(1_000);
}

#[test]
fn names_folded_to_lower_case_are_caught() {
    caught::<MemoryBackend<planted::FoldsCase>>(1_000);
}

#[test]
fn a_store_that_is_always_busy_is_caught() {
    let message = caught::<MemoryBackend<planted::AlwaysBusy>>(16);
    assert!(message.contains("busy"), "{message}");
}
