//! The model checker's verdicts, state counts and counterexamples, including the negative
//! controls: every planted bug must be caught, and only on its own property. `lock.rs` is about
//! the lock protocols (`LeaseModel`), `holder.rs` about the holder protocols (`HolderModel`).

mod holder;
mod lock;

use leasehold_model::{CheckResult, Config, PropertyKind, PropertySet, RunOptions, check_all};

/// Every property.
fn all_properties() -> PropertySet {
    PropertyKind::ALL.into_iter().collect()
}

fn run(config: &Config, options: &RunOptions) -> Vec<CheckResult> {
    check_all(config, options, &mut |_| {}).expect("valid configuration")
}
