//! Exhaustive model checking of leasehold's lock protocol.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod model;
mod preset;
pub mod report;
mod run;
pub mod state;
pub mod trace;

pub use config::{
    Config, ConfigError, Expectation, Faults, MAX_ATTEMPTS, MAX_CLIENTS, MAX_RESOURCES,
    PropertyKind, PropertySet, Protocol,
};
pub use model::{Action, LeaseModel, ParseActionError, Reply};
pub use preset::{PRESETS, Preset, preset};
pub use run::{
    CheckResult, Expect, Progress, RunOptions, Verdict, check, check_all, expected_verdict,
    shortest_counterexample,
};
