//! Lease-based locks in SQLite whose every transition is one atomic statement, checked equal to
//! the [`leasehold_core`] state machine by a randomised conformance test.
//!
//! A lease lock is only as good as the step that decides "free → mine". Here that step is a
//! single `INSERT … ON CONFLICT DO UPDATE … WHERE <free> RETURNING …`: SQLite decides and writes
//! under one write lock, so two callers racing for an expired lease cannot both win (the
//! check-then-act race this project exists for). Renew, release, evict and prune are single
//! conditional statements too. A property test drives random request sequences through this
//! store and the core side by side and requires equal answers and equal rows after every step.
//!
//! # Guarantees
//!
//! Those of [`leasehold_core`], for every store (thread or process) that opens the same file:
//!
//! - **Mutual exclusion**: at most one lease per resource is valid at any `now` of the store's
//!   clock; a lease is valid iff it is active and `now < expires_at`.
//! - **Fencing tokens** strictly increase per resource and survive release, expiry, eviction and
//!   pruning (a high-water mark outlives deleted rows).
//! - **Contention is an outcome** ([`Acquire::Busy`], [`Renew::Lost`], [`Release::NotHolder`], …),
//!   never an [`Error`]; an error means nothing changed (bad input, busy database, storage
//!   failure).
//! - **Idempotent retries**: an acquire retried with the same [`RequestId`] gets the same lease
//!   ([`SqliteStore::try_acquire_with_id`]); a retried release gets the first answer while the
//!   lease is still the resource's last.
//! - **A lease belongs to its database**: a lease of another database file (or of this path
//!   before the file was deleted and created again) is refused with [`Error::ForeignLease`], and a
//!   new database's tokens start above its creation instant in microseconds, so a re-created
//!   file does not reissue its predecessor's tokens.
//! - With [`Durability::Full`] (the default) a grant is on stable storage before it is returned.
//!
//! # Assumptions
//!
//! - Every store of a database reads the **same clock** ([`SystemClock`]: the host's wall clock,
//!   so all users are on one host — SQLite's file locking does not work over network file
//!   systems anyway). `now` is read once per statement, when the statement is about to run: a
//!   statement never waits for SQLite's write lock holding an older reading (the store waits
//!   between attempts and reads the clock again), so each is judged, and each lease stamped, at
//!   the moment it runs.
//! - Waiting acquires and writes that find SQLite's write lock taken stand in lines kept in a
//!   directory beside the database, `<database>-lines/` (Linux; elsewhere, or where the directory
//!   cannot be written, they poll). The lines only order attempts: every grant is still the
//!   acquire statement's decision, so nothing in that directory can cause a double grant.
//! - A holder stops relying on its lease at its [`Lease::deadline`] (its own clock: the request's
//!   send time plus the ttl, less a drift margin) and passes its fencing token to whatever it
//!   protects. For data in the same database,
//!   [`SqliteStore::with_fence`] does the token check inside the writing transaction.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use leasehold_sqlite::{Acquire, Fenced, Release, SqliteStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("locks.db"))?;
//!
//! let lease = match store.try_acquire("plan/42", "worker-a", Duration::from_secs(30))? {
//!     Acquire::Granted(lease) => lease,
//!     Acquire::Busy(holder) => panic!("{} holds it until {}", holder.owner(), holder.expires_at()),
//! };
//! // Someone else is told who holds it, and until when.
//! let Acquire::Busy(holder) = store.try_acquire("plan/42", "worker-b", Duration::from_secs(30))?
//! else { unreachable!("the lease is valid") };
//! assert_eq!(holder.token(), lease.token());
//!
//! // Writes to the same database that commit only while the lease is current.
//! let fenced = store.with_fence(&lease, |tx| {
//!     tx.execute_batch("CREATE TABLE IF NOT EXISTS work (step TEXT)")?;
//!     tx.execute("INSERT INTO work VALUES ('phase 1')", [])?;
//!     Ok::<_, leasehold_sqlite::Error>(())
//! })?;
//! assert!(matches!(fenced, Fenced::Committed(())));
//!
//! assert_eq!(store.release(lease)?, Release::Released);
//! assert!(store.holder("plan/42")?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The store implements [`LockStore`] from `leasehold-contract`, the contract every leasehold
//! store keeps; its methods are also the store's own, so no import is needed. See `README.md` of
//! this crate for the statements, the durability and clock choices and the error table, and
//! `docs/sqlite.md` in the repository for the atomicity argument.
//!
//! # Features
//!
//! - `bundled` (default): compile SQLite into the crate.
//! - `test-util`: test hooks — the statement `Seam`, `ManualClock`, and `Audit` (every row
//!   as the core's `LockTable`) — as tokio's `test-util` does for its clock.
#![forbid(unsafe_code)]

mod acquire;
mod admin;
mod contract;
mod error;
mod fence;
mod line;
mod lock_wait;
mod options;
mod read;
mod release;
mod renew;
mod row;
mod seam;
mod setup;
mod store;
mod write;

pub use error::Error;
pub use leasehold_contract::{
    Acquire, Clock, ClockError, ErrorKind, Evict, Fenced, Holder, Lease, LockStore, Lost, Release,
    Renew, StoreError, StoreId, SystemClock,
};
pub use leasehold_core::{
    DecideError, FencingToken, LostReason, NameError, Owner, RequestId, ResourceName, Timestamp,
    TtlError,
};
pub use options::{Durability, Options};
pub use store::SqliteStore;

#[cfg(feature = "test-util")]
pub use leasehold_contract::{Audit, ManualClock};
#[cfg(feature = "test-util")]
pub use leasehold_core::{LeaseRecord, LockTable};
#[cfg(feature = "test-util")]
pub use seam::{Direct, Seam, Statement};

/// The `CREATE` statements of the current schema, in the order they run (feature `test-util`):
/// for checks that documentation and tools show the schema the code creates.
#[cfg(feature = "test-util")]
#[must_use]
pub fn schema_sql() -> Vec<&'static str> {
    setup::schema::created().to_vec()
}
