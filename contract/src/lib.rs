//! The contract every leasehold store keeps, as code: the store traits ([`LockStore`],
//! [`AsyncLockStore`]), the answers every store gives ([`Acquire`], [`Renew`], [`Release`],
//! [`Evict`], [`Fenced`], with [`Lease`] and [`Holder`]), and the waiting every store shares
//! ([`wait`]).
//!
//! The rules themselves live in [`leasehold_core`]: a store decides every transition exactly as
//! [`LockState::decide`](leasehold_core::LockState::decide) does, in one atomic statement of its
//! own. This crate says what a caller sees, identically for every store, so that switching stores
//! is a change of one line and a test kit (`leasehold-kit`) can hold every store to the same bar.
//!
//! # Guarantees a store makes
//!
//! - **Mutual exclusion** on the store's clock: at most one valid lease per resource.
//! - **Fencing**: tokens strictly increase per resource and never restart.
//! - **Contention is an answer** ([`Acquire::Busy`], [`Renew::Lost`], [`Release::NotHolder`]),
//!   never an error; an error means nothing changed (see [`ErrorKind`]).
//! - **Idempotent retry**: an acquire retried with the same request id and owner gets the same
//!   lease while it is valid.
//! - **A lease belongs to its store**: renewing, releasing or fencing with a lease of another
//!   store is refused ([`ErrorKind::ForeignLease`]).
//!
//! # Example
//!
//! Code generic over stores, here a helper that runs `work` under a lease (the stores' own crates
//! have runnable examples against a real database):
//!
//! ```
//! use std::time::Duration;
//! use leasehold_contract::{Acquire, LockStore, Release};
//!
//! /// Runs `work` if the lease on `resource` can be had within a second; `None` if it is busy.
//! fn with_lease<S: LockStore, T>(
//!     store: &S,
//!     resource: &str,
//!     work: impl FnOnce(u64) -> T,
//! ) -> Result<Option<T>, S::Error> {
//!     let ttl = Duration::from_secs(30);
//!     match store.acquire_for(resource, "worker-a", ttl, Duration::from_secs(1))? {
//!         Acquire::Granted(lease) => {
//!             let result = work(lease.token().get());
//!             if store.release(&lease)? == Release::Expired {
//!                 // The work outlived the lease: it ran unprotected at the end.
//!             }
//!             Ok(Some(result))
//!         }
//!         Acquire::Busy(_) => Ok(None),
//!     }
//! }
//! ```
//!
//! The SQLite and PostgreSQL stores implement [`LockStore`]; `leasehold-kit` runs the same
//! conformance, history, linearizability and peer suites against each.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod answer;
#[cfg(feature = "test-util")]
mod audit;
mod clock;
mod error;
mod lease;
mod request_id;
pub mod rounds;
pub mod row;
mod store;
pub mod wait;

pub use answer::{Acquire, Evict, Fenced, Lost, Release, Renew};
#[cfg(feature = "test-util")]
pub use audit::Audit;
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, ClockError, SystemClock};
pub use error::{ErrorKind, StoreError};
pub use lease::{Holder, Lease, StoreId, drift_margin, starting_high_water};
pub use leasehold_core::{FencingToken, LostReason, Owner, RequestId, ResourceName, Timestamp};
pub use request_id::RequestIds;
pub use store::{AsyncLockStore, LockStore, deadline_after};
