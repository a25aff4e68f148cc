//! Exhaustive model checking of leasehold's lock protocol and of its holders' keeper, and of each
//! known-bad protocol as a negative control.
//!
//! [`LeaseModel`] is a [stateright] model of the lock: clients acquire, renew, release, crash,
//! pause and lose replies; a clock ticks up to a horizon; each resource has a stored row and a
//! protected resource that holders write to with their fencing token. **Every store step is a call
//! to [`leasehold_core::LockState::decide`]**: the model never restates the rules, so what it
//! proves is about the function the adapters are tested against. The planted bugs
//! ([`Protocol::LOCK`]) compose those calls differently.
//!
//! [`HolderModel`] is the holder's view: holders keep their lease with the core's
//! [`Keeper`](leasehold_core::Keeper) on clocks that drift from the store's, over a network that
//! delays replies and fails renewals, and the checker asks whether a holder ever acts while the
//! store no longer counts its lease as valid — without fencing. Every holder step is a call to the
//! keeper; the planted bugs ([`Protocol::HOLDER`]) make those calls wrongly.
//!
//! The checker explores every interleaving within the [`Config`]'s bounds, one checker per
//! property ([`check`]), and extracts a shortest counterexample for each violation. The
//! `leasehold-check` binary prints the report; `docs/verification.md` in the repository says what
//! is checked and under which assumptions.
//!
//! # Example
//!
//! The seed report's race, found in four steps:
//!
//! ```
//! use leasehold_model::{Config, PropertyKind, Protocol, RunOptions, Verdict, check, preset};
//!
//! let config = Config { protocol: Protocol::CheckThenAct, ..preset("baseline").unwrap().config };
//! let result = check(&config, PropertyKind::MutualExclusion, &RunOptions::default(), &mut |_| {})?;
//! assert_eq!(result.verdict, Verdict::Violated);
//! let steps: Vec<String> = result.counterexample.unwrap().into_iter().map(|s| s.raw).collect();
//! assert_eq!(steps, ["A read r0", "B read r0", "A write", "B write"]);
//!
//! // The shipped protocol keeps mutual exclusion in all 15,740 states of the same configuration.
//! let atomic = Config { protocol: Protocol::Atomic, ..config };
//! let result = check(&atomic, PropertyKind::MutualExclusion, &RunOptions::default(), &mut |_| {})?;
//! assert_eq!((result.verdict, result.unique_states), (Verdict::Holds, 15_740));
//! # Ok::<(), leasehold_model::ConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod config;
pub mod holder;
mod model;
mod preset;
mod properties;
pub mod report;
mod run;
pub mod state;
pub mod trace;

pub use action::{Action, ParseActionError, Reply};
pub use config::{
    Config, ConfigError, Expectation, Faults, MAX_ATTEMPTS, MAX_CLIENTS, MAX_HOLDERS,
    MAX_RESOURCES, PropertyKind, PropertySet, Protocol, SUB_TICKS,
};
pub use holder::{Fate, HolderAction, HolderModel};
pub use model::LeaseModel;
pub use preset::{PRESETS, Preset, preset};
pub use run::{
    CheckResult, Expect, Progress, RunOptions, Verdict, check, check_all, expected_verdict,
    shortest_counterexample,
};
