//! Tests of `leasehold-sqlite` against real SQLite files in temporary directories. One test
//! binary with one module per concern keeps link time down.

mod checkpoints;
mod conformance;
mod faults;
mod fence;
mod replay;
mod statements;
mod support;
mod threads;
mod turns;
mod waiting;
