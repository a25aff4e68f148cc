//! Conformance: the reference store conforms; each flaw a sequential test can see is caught.

use std::panic::{AssertUnwindSafe, catch_unwind};

use leasehold_contract::{Fenced, Lease, ManualClock};
use leasehold_kit::{Backend, MemoryBackend, StoreErrorOf, conformance, planted};

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

/// `B` with its conformance cases on four runners at once.
#[derive(Default)]
struct FourRunners<B>(B);

impl<B: Backend> Backend for FourRunners<B> {
    type Store = B::Store;
    type Database = B::Database;

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn database(&self) -> B::Database {
        self.0.database()
    }

    fn open(&self, db: &B::Database, clock: &ManualClock) -> B::Store {
        self.0.open(db, clock)
    }

    fn open_real(&self, db: &B::Database) -> B::Store {
        self.0.open_real(db)
    }

    fn fenced_write(
        &self,
        store: &B::Store,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, StoreErrorOf<Self>>> {
        self.0.fenced_write(store, lease)
    }

    fn conformance_threads(&self) -> usize {
        4
    }
}

#[test]
fn cases_on_several_runners_pass_and_catch_what_one_runner_catches() {
    conformance::check::<FourRunners<MemoryBackend>>(conformance::cases(1_000));
    let message = caught::<FourRunners<MemoryBackend<planted::RenewsAnyToken>>>(1_000);
    assert!(message.contains("minimal failing input"), "{message}");
    let message = caught::<FourRunners<MemoryBackend<planted::AlwaysBusy>>>(16);
    assert!(message.contains("busy"), "{message}");
}
