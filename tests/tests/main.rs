//! The concurrency evidence for leasehold-sqlite, in one test binary (one link, one run).

mod regressions;
mod shuttle;
mod support;
