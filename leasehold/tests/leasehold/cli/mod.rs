//! The `leasehold` command, driven as users drive it: the real binary, real processes, real
//! signals, a temporary SQLite file.

mod admin;
mod closed_stdout;
mod errors;
mod lost;
mod replaced_binary;
mod run;
mod signals;
mod usage;
mod watchdog_first_deadline;
