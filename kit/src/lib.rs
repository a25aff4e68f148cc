//! The kit that holds a leasehold store to the contract: every promise of
//! [`leasehold_contract`], checked the same way for every store.
//!
//! A store implements [`Backend`] (fresh databases, stores on them with a logical clock or the
//! real one) and adds one line, [`store_suite!`], to its tests. It then runs every suite below,
//! one `#[test]` per scenario. Everything is generic over [`Backend`] and uses only the
//! contract; a store's own tests cover what is particular to it (files, servers, faults).
//!
//! # The suites, what each shows, and what it cannot
//!
//! - [`conformance`]: random request sequences against the core's `LockTable` (one store, one
//!   thread, a logical clock), with equal answers and equal rows after every step. It shows that
//!   the store decides as the core does, one request at a time; it says nothing about
//!   concurrency.
//! - [`linearizability`]: real concurrent histories (3–4 threads, each with its own store on one
//!   database, 3–5 operations each, a thousand histories per run) checked with stateright's
//!   linearizability tester, with the core as the sequential specification — tokens and expiries
//!   included, so a store's choices are checked, not trusted. It assumes the clock does not move
//!   *during* a history (it moves between histories in the second phase); it shows that the
//!   interleavings that happened were linearizable, not that every one is.
//! - [`threads`]: threads sharing a store and threads with stores of their own, moving a shared
//!   logical clock *while* they acquire, renew, release (in time and late), evict and prune; the
//!   whole history judged by [`history::check`] (mutual exclusion over every pair of leases,
//!   tokens, releases that did or did not end their lease). Sound under a moving clock because
//!   grants are logged at their receipt time; it cannot see an overlap shorter than the time
//!   between a grant's commit and its receipt.
//! - [`races`]: the TOCTOU regressions, many rounds each: threads released together racing for
//!   an expired lease, a stale release racing a new acquire, a retry after a lost reply (alone
//!   and delivered four times at once).
//! - [`peer`]: 22 scenarios that ShedLock's, DistributedLock's, etcd's and the DynamoDB lock
//!   client's own test suites check, re-stated for this contract: exact counts under threads,
//!   non-reentrance, bounded waits that return in time, stale and foreign handles, names that
//!   differ by case or form, expiry, abandonment, renewal, listing, tokens across prune and
//!   reopen. Exact counts across *processes* and killed holders are the multi-process stress
//!   test's.
//! - [`stress`]: many processes on one database, SIGKILLed at random, writing to a protected
//!   resource, judged by the history checker; its negative control is a check-then-act acquire
//!   made of the store's own operations.
//! - [`fairness`]: threads waiting through one store take turns (each gets at least 60 % of an
//!   equal share), and a waiter in line still answers at its deadline. Fairness is per store;
//!   waiters in different processes are not in one line.
//! - [`history`]: the time-aware checker itself, which the concurrent suites (and loom, shuttle
//!   and the stress test) run on their histories.
//!
//! **Negative controls.** Every suite is run by the kit's own tests against the kit's
//! [`MemoryStore`] with one planted [`Flaw`] at a time, and must fail — a checker that cannot
//! fail proves nothing: check-then-act, a release by name, a forgotten request id, re-entrance,
//! waits that return early or late, folded or truncated names, waiters without a line, renewals
//! that accept any token, resurrect ended leases or shorten them, leases that never expire, a
//! prune that forgets its tokens, reads that lag behind other stores, and a store that is always
//! busy. Every positive run asserts that it made progress (grants, contention, releases), so a
//! store that answers `Busy` to everything fails.
//!
//! **Timing.** Waiting is measured on the real clock; everything else runs on a
//! [`ManualClock`](leasehold_contract::ManualClock). A bounded wait may answer no earlier than
//! its deadline and, on the median of repeated waits, no later than one 50 ms pause (the
//! contract's backoff cap), ten statements ([`Backend::statement_time`]) and 50 ms of
//! scheduling after it. The other assertions count.
//!
//! # Example
//!
//! The kit's reference store passes conformance and has linearizable histories; a store whose
//! renew extends any lease fails conformance, and a store that decides on a copy and writes
//! later is not linearizable:
//!
//! ```
//! use leasehold_kit::{MemoryBackend, conformance, linearizability, planted};
//!
//! conformance::check::<MemoryBackend>(64);
//! let report = linearizability::frozen_clock::<MemoryBackend>(100);
//! assert_eq!(report.histories, 100);
//!
//! let broken = std::panic::catch_unwind(|| {
//!     conformance::check::<MemoryBackend<planted::RenewsAnyToken>>(256)
//! });
//! assert!(broken.is_err(), "the planted bug was not caught");
//! let racy = std::panic::catch_unwind(|| {
//!     linearizability::frozen_clock::<MemoryBackend<planted::CheckThenAct>>(400)
//! });
//! assert!(racy.is_err(), "check-then-act was not caught");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod conformance;
pub mod fairness;
pub mod history;
pub mod linearizability;
mod memory;
pub mod peer;
pub mod races;
pub mod stress;
mod suite;
mod support;
pub mod threads;

pub use backend::{Backend, StoreErrorOf};
pub use memory::{Flaw, MemoryBackend, MemoryDatabase, MemoryError, MemoryStore, Planted, planted};
