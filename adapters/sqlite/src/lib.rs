//! Lease-based locks in SQLite whose every transition is one atomic statement, proven equal to
//! the [`leasehold_core`] state machine.
#![forbid(unsafe_code)]

mod clock;
mod error;
mod fence;
mod ops;
mod options;
mod outcome;
mod row;
mod schema;
mod seam;
mod sql;
mod store;
mod wait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ClockError, Error};
pub use leasehold_core::{FencingToken, LostReason, RequestId, Timestamp};
pub use options::{Durability, Options};
pub use outcome::{Acquire, Evict, Fenced, Holder, Lease, Lost, Release, Renew};
pub use seam::{Direct, Seam, Statement};
pub use store::SqliteStore;

/// A fresh request id: 128 bits from the operating system's random source. Use one per acquire
/// attempt, and the same one again only to retry that attempt after a lost reply.
///
/// # Errors
///
/// [`Error::Random`] when the random source fails.
pub fn new_request_id() -> Result<RequestId, Error> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(Error::Random)?;
    Ok(RequestId::from_bytes(bytes))
}
