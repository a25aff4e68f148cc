//! Lease-based locks in PostgreSQL, for processes on many machines: every transition is one
//! atomic statement judged on the **server's** clock.
//!
//! placeholder
#![forbid(unsafe_code)]

mod acquire;
mod admin;
mod blocking;
mod contract;
mod error;
mod fence;
mod options;
mod read;
mod release;
mod renew;
mod row;
mod seam;
mod session;
mod setup;
mod sql;
mod sqlstate;
mod store;
mod wait;

pub use blocking::{FencedTransaction, PgStore};
pub use error::Error;
pub use leasehold_contract::{
    Acquire, AsyncLockStore, ErrorKind, Evict, Fenced, Holder, Lease, LockStore, Lost, Release,
    Renew, StoreError, StoreId,
};
pub use leasehold_core::{
    DecideError, FencingToken, LostReason, NameError, Owner, RequestId, ResourceName, Timestamp,
    TtlError,
};
pub use options::{DEFAULT_SCHEMA, Options};
pub use store::AsyncPgStore;
pub use tokio_postgres;

#[cfg(feature = "test-util")]
pub use leasehold_contract::{Audit, Clock, ManualClock};
#[cfg(feature = "test-util")]
pub use leasehold_core::{LeaseRecord, LockTable};
#[cfg(feature = "test-util")]
pub use seam::{Seam, Statement, Verdict};
#[cfg(not(feature = "test-util"))]
pub(crate) use seam::Statement;
