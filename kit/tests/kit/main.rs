//! The kit on its own reference store, and each planted flaw caught by the suite meant to catch
//! it. One test binary with one module per suite.

mod conformance;
mod fairness;
mod linearizability;
mod peer;
mod races;
mod threads;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `suite`, which must fail; returns its panic message.
fn caught<T>(suite: impl FnOnce() -> T) -> String {
    let outcome = catch_unwind(AssertUnwindSafe(suite)).map(drop);
    let panic = outcome.expect_err("the planted flaw was not caught");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
