//! The `leasehold` crate's tests, in one test binary: `open`, the blocking and async guards
//! against real SQLite files (with SIGSTOP in a child process) and real PostgreSQL servers (with a
//! fault proxy), and the `leasehold` command.

mod async_cancel;
mod async_guard;
mod cli;
mod foreign_keep;
mod guard;
mod open;
mod postgres;
mod sigstop;
mod support;
