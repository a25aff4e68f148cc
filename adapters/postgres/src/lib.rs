//! Lease-based locks in PostgreSQL, for processes on many machines: every transition is one
//! atomic statement judged on the **server's** clock, checked equal to the [`leasehold_core`]
//! state machine by the same conformance kit as the SQLite store.
//!
//! The step that decides "free → mine" is one `INSERT … ON CONFLICT (resource) DO UPDATE … WHERE
//! <free> RETURNING …`: PostgreSQL locks the resource's row before it evaluates that `WHERE`, on
//! the row's newest version, with `clock_timestamp()` read then — so two clients racing for an
//! expired lease cannot both win, whatever the server's default isolation level. Renew, release,
//! evict and prune are single conditional statements too; `docs/postgres.md` argues each.
//!
//! # Guarantees
//!
//! Those of [`leasehold_contract`], for every store (any thread, process or machine) on the same
//! schema:
//!
//! - **Mutual exclusion** on the server's clock: at most one valid lease per resource.
//! - **Fencing tokens** strictly increase per resource and survive release, expiry, eviction,
//!   pruning, reconnection and server restarts (they are committed rows; a high-water mark
//!   outlives deleted ones). A new schema's tokens start above its creation instant in
//!   microseconds.
//! - **Contention is an answer** ([`Acquire::Busy`], [`Renew::Lost`], [`Release::NotHolder`]),
//!   never an [`Error`]; an error means nothing changed, except [`Error::Disconnected`] and
//!   [`Error::TimedOut`], after which an acquire retried with its request id
//!   ([`PgStore::try_acquire_with_id`]) gets its lease back if it was granted.
//! - **No session state**: no prepared statements, `SET`, advisory session locks or temporary
//!   objects, so it works through PgBouncer in transaction mode, and a lease outlives the
//!   connection that took it. A store built from a URL reconnects at its next operation. (The
//!   one `LISTEN`, below, is on a connection of its own.)
//! - **Waiters are woken by the server.** A release of a valid lease and an eviction notify the
//!   schema's channel in their own statement, delivered when they commit; each store that has a
//!   waiting caller listens on one more connection of its own and wakes its waiters for that
//!   resource at once ([`Listen`], on by default for stores made from a URL). It is only a hint:
//!   waiters also poll (4–50 ms, and at the holder's expiry), so a listener that is down, refused
//!   or behind a transaction pooler costs latency, never an error or a grant. The listener counts
//!   against `max_connections`.
//! - Serialization failures and deadlocks (`REPEATABLE READ`, `SERIALIZABLE`) are retried inside,
//!   with the same request id; they reach the caller only after [`Options::serialization_retries`]
//!   attempts, as [`Error::SerializationFailure`].
//!
//! # Assumptions
//!
//! - Time is the server's (`clock_timestamp()`, milliseconds since the Unix epoch); the client's
//!   clock is never read for a decision. A holder stops relying on its lease at
//!   [`Lease::deadline`] (its own monotonic clock: the request's send time plus the ttl, less the
//!   drift margin of 1,000 ppm + 1 ms) and passes its [`token`](Lease::token) to what it
//!   protects; for data in the same database, [`PgStore::with_fence`] checks the lease inside the
//!   writing transaction.
//! - A failover to an asynchronous standby can lose acknowledged grants, and with them tokens
//!   (tested: the same token is then issued to another holder); a synchronous standby
//!   (`synchronous_commit = on`) keeps them. See `docs/deployment.md` for the settings fencing
//!   needs.
//! - PostgreSQL 14 or later, a UTF-8 database, plain TCP or a unix socket (no TLS in this
//!   version), `pg_catalog` first in `search_path` (the default; every other name the statements
//!   use is schema-qualified).
//!
//! # Example
//!
//! This example runs in `cargo test`: against a fresh database on the server
//! `LEASEHOLD_POSTGRES_URL` names, or else on a throwaway cluster the test harness starts (the
//! hidden first lines).
//!
//! ```
//! # let db = leasehold_pg_harness::fresh_database()?;
//! # let url = db.url();
//! use std::time::Duration;
//! use leasehold_postgres::{Acquire, Fenced, PgStore, Release};
//!
//! // e.g. "postgres://app@db.internal/app"; creates the schema `leasehold` if it is missing.
//! let store = PgStore::connect(url)?;
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
//!     tx.batch_execute("CREATE TABLE IF NOT EXISTS work (step text)")?;
//!     tx.execute("INSERT INTO work VALUES ($1)", &[&"phase 1"])?;
//!     Ok::<_, leasehold_postgres::Error>(())
//! })?;
//! assert!(matches!(fenced, Fenced::Committed(())));
//!
//! assert_eq!(store.release(&lease)?, Release::Released);
//! assert!(store.holder("plan/42")?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`AsyncPgStore`] has the same methods as futures, for tokio services; both implement the
//! contract's traits ([`LockStore`], [`AsyncLockStore`]), so code generic over stores runs on
//! either, and switching from the SQLite store is a change of one line.
//!
//! # Features
//!
//! - `deadpool`: `AsyncPgStore::from_pool` / `PgStore::from_pool` for a `deadpool-postgres`
//!   pool the service already has.
//! - `test-util`: test hooks — a manual clock bound into the very statements production runs
//!   (`Options::clock`), the statement `Seam`, `Audit` (every row as the core's `LockTable`),
//!   and a fixed pause between a waiter's polls (`Options::poll_interval`) — as tokio's
//!   `test-util` does for its clock.
#![forbid(unsafe_code)]

mod acquire;
mod admin;
mod blocking;
mod contract;
mod error;
mod fence;
mod listen;
mod options;
mod prepared;
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
pub use options::{DEFAULT_SCHEMA, Listen, Options};
pub use store::AsyncPgStore;
pub use tokio_postgres;

#[cfg(feature = "test-util")]
pub use leasehold_contract::{Audit, Clock, ManualClock};
#[cfg(feature = "test-util")]
pub use leasehold_core::{LeaseRecord, LockTable};
#[cfg(not(feature = "test-util"))]
pub(crate) use seam::Statement;
#[cfg(feature = "test-util")]
pub use seam::{Seam, Statement, Verdict};
