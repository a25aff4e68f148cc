//! Lease-based locks that keep themselves: the one crate a leasehold user adds.
//!
//! - [`open`] a store by URL — an SQLite file (`"locks.db"`, `"sqlite:///var/lib/app/locks.db"`)
//!   or, with the `postgres` feature, a PostgreSQL database (`"postgres://…"`) — and get a
//!   [`Store`] with every
//!   method of the store contract ([`LockStore`]): acquire, renew, release, evict, prune, read.
//! - [`Store::hold`] a lease: acquire it, then a background thread (a tokio task for
//!   `AsyncStore`, feature `tokio`) drives the core's [`Keeper`] — renewing after a third of
//!   the ttl, retrying failures until the deadline — and the [`Guard`] tells you until when you
//!   may rely on the lease and when it is lost. Dropping the guard releases it.
//! - The `leasehold` command (feature `cli`, on by default) runs a command under a lease, like
//!   `flock(1)` with leases and fencing; see `docs/cli.md` in the repository.
//!
//! # Guarantees
//!
//! Those of the stores (`leasehold-contract`): at most one valid lease per resource on the
//! store's clock, fencing tokens that strictly increase per resource, contention as an answer
//! ([`Acquire::Busy`], [`Renew::Lost`]) rather than an error.
//!
//! A guard adds the holder's half, decided by [`Keeper`] and nothing else: its
//! [`deadline`](Guard::deadline) counts from the instant the last confirmed request was **sent**
//! (never from when its answer arrived), less a drift margin, so it falls before the store's
//! expiry; a refused renewal loses the lease at once, unanswered ones at the deadline. The
//! keeper's rules are model-checked with delayed replies and drifting clocks (`docs/keeper.md`);
//! this crate's tests show a guard noticing loss (evicted; stopped with `SIGSTOP` past its ttl;
//! a store that answers only errors: SQLite with its write lock held elsewhere, PostgreSQL behind
//! a blackholed connection) with its deadline before the store's expiry by the store's clock.
//!
//! # Assumptions
//!
//! The holder's monotonic clock runs no slower than the store's by more than the keeper's drift
//! margin (1,000 ppm by default), and the holder checks [`Guard::is_valid`] before it acts. A
//! holder paused between its check and its act cannot be protected by any keeper: pass
//! [`Guard::token`] to what the lease protects, which refuses older tokens (for SQLite data,
//! [`Store::as_sqlite`] gives the store's fenced writes).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let store = leasehold::open(&format!("sqlite://{}", dir.path().join("locks.db").display()))?;
//!
//! let ttl = Duration::from_secs(30);
//! let Some(guard) = store.hold("plan/42", "worker-a", ttl, Duration::from_secs(5))? else {
//!     panic!("nobody else holds plan/42");
//! };
//! // Someone else is told who holds it, and until when (on the store's clock).
//! let holder = store.holder("plan/42")?.expect("held");
//! assert_eq!(holder.token(), guard.token());
//!
//! // Work while the keeper says the lease holds, passing the token to what it protects.
//! assert!(guard.is_valid());
//! assert_eq!(guard.try_lost(), None);
//!
//! // Releasing (or dropping the guard) frees it at once.
//! assert_eq!(guard.release()?, leasehold::Release::Released);
//! assert!(store.holder("plan/42")?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `sqlite` (default): the SQLite store.
//! - `postgres`: the PostgreSQL store (`postgres://` URLs).
//! - `cli` (default): the `leasehold` command.
//! - `tokio`: `AsyncStore` and `AsyncGuard`, the async API.
//! - `test-util`: test hooks for the keeper's drivers (slow replies, a planted bug).
#![forbid(unsafe_code)]

// A build without a store could open nothing: say so once, instead of in a wall of unused code.
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("leasehold needs a store: enable its `sqlite` (default) or `postgres` feature");

#[cfg(feature = "tokio")]
mod asynchronous;
mod contract;
mod error;
mod guard;
mod store;
mod url;

#[cfg(feature = "tokio")]
pub use asynchronous::{AsyncGuard, AsyncStore};
pub use error::Error;
#[cfg(feature = "test-util")]
pub use guard::PlantedFlaw;
pub use guard::{Guard, GuardEvent, HoldOptions};
pub use store::{Options, Store, open, open_with};

pub use leasehold_contract::{
    Acquire, AsyncLockStore, Clock, ClockError, ErrorKind, Evict, Fenced, Holder, Lease, LockStore,
    Lost, Release, Renew, StoreError, StoreId, SystemClock,
};
pub use leasehold_core::{
    DriftMargin, FencingToken, Keeper, KeeperConfig, KeeperConfigError, LocalInstant, LossReason,
    LostReason, NameError, Owner, RequestId, ResourceName, Timestamp, Ttl, TtlError,
};
#[cfg(feature = "postgres")]
pub use leasehold_postgres::{AsyncPgStore, Listen, PgStore};
#[cfg(feature = "sqlite")]
pub use leasehold_sqlite::{Durability, SqliteStore};
