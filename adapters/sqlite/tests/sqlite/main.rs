//! Tests of `leasehold-sqlite` against real SQLite files in temporary directories. One test
//! binary with one module per concern keeps link time down.

mod checkpoints;
mod docs;
mod faults;
mod fence;
mod hostile;
mod kit;
mod lines;
mod open;
mod replay;
mod statements;
mod support;
mod waiting;
