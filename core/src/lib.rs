//! The pure state machine of a lease-based lock: the specification every leasehold store is held
//! against.
//!
//! Given the stored state of one resource, a [`Request`] and `now` on the **store's clock**,
//! [`LockState::decide`] says what the answer is ([`Outcome`]) and which single record the store
//! must write atomically ([`Decision::write`]). This crate does no I/O, reads no clock and draws
//! no random numbers; it has no dependencies. Adapters translate each decision into one atomic
//! statement of their store; the model checker explores every interleaving of these decisions;
//! conformance tests check that both agree with this crate.
//!
//! # Guarantees
//!
//! For each resource, whatever the sequence of requests and however `now` moves:
//!
//! - **Mutual exclusion.** At most one lease is valid at any `now`. A lease is valid at `now` iff
//!   it is [`Status::Active`] and `now < expires_at`; at `now == expires_at` it has expired.
//! - **Fencing.** Every grant carries a [`FencingToken`] strictly greater than every token issued
//!   before it for that resource. Release, expiry, eviction and pruning never reset the sequence.
//! - **Token-checked changes.** Only the token of the valid lease renews or releases it; a stale
//!   token changes nothing and is told so ([`RenewOutcome::Lost`],
//!   [`ReleaseOutcome::NotHolder`]).
//! - **Idempotent acquire.** Retrying an acquire with the same [`RequestId`] and owner while its
//!   lease is valid returns the same grant ([`GrantKind::Replayed`]), not `Busy`.
//! - **Refused input changes nothing.** Invalid names ([`NameError`]), a zero TTL ([`TtlError`])
//!   and unstorable times ([`DecideError`]) are typed errors, decided the same way for every
//!   store. No input makes this crate panic.
//!
//! These hold under one assumption: every `now` passed for a resource comes from the one clock of
//! the store that keeps it. Mutual exclusion is about that clock; a holder must stop relying on a
//! lease before `expires_at` by its own reckoning, and pass its fencing token to whatever it
//! protects for the case where it cannot (see `docs/semantics.md` in the repository).
//!
//! # The holder's side
//!
//! [`Keeper`] is the second state machine: what a holder does with the store's answers, on its own
//! monotonic clock ([`LocalInstant`]). It says when to renew and retry, and until when the holder
//! may rely on its lease: the send instant of the last confirmed request plus `ttl − margin`,
//! never counted from a reply's arrival. If the holder's clock runs slower than the store's by a
//! rate of at most ρ and the [`DriftMargin`] is at least `ttl × ρ`, a holder that acts only while
//! [`Keeper::is_valid`] acts only while the store still counts its lease as valid; the model
//! checker checks this with bounded reply delays and drifting clocks (`docs/keeper.md`). It does
//! not cover a holder paused between its check and its act: that is what fencing is for.
//!
//! # Example
//!
//! ```
//! use leasehold_core::{
//!     AcquireOutcome, LockState, Outcome, Owner, Request, RequestId, Timestamp, Ttl,
//! };
//!
//! let ttl = Ttl::from_millis(30_000)?;
//! let acquire = |owner: &str, id: u128| -> Result<Request, Box<dyn std::error::Error>> {
//!     Ok(Request::Acquire { owner: Owner::new(owner)?, request_id: RequestId::from_u128(id), ttl })
//! };
//! let mut lock = LockState::default();
//!
//! // worker-a takes the lease at t = 0; it is valid until t = 30 000 ms.
//! let Outcome::Acquire(AcquireOutcome::Granted(first)) =
//!     lock.apply(&acquire("worker-a", 1)?, Timestamp::from_millis(0))?
//! else { unreachable!("a never-held lock is free") };
//! assert_eq!(first.expires_at, Timestamp::from_millis(30_000));
//!
//! // One millisecond before expiry, worker-b is told who holds it.
//! let busy = lock.apply(&acquire("worker-b", 2)?, Timestamp::from_millis(29_999))?;
//! let Outcome::Acquire(AcquireOutcome::Busy(holder)) = busy else { unreachable!() };
//! assert_eq!(holder.owner.as_str(), "worker-a");
//! assert_eq!(holder.token, first.token);
//!
//! // At the expiry instant the lease is over: worker-b gets it, with a larger fencing token.
//! let Outcome::Acquire(AcquireOutcome::Granted(second)) =
//!     lock.apply(&acquire("worker-b", 3)?, Timestamp::from_millis(30_000))?
//! else { unreachable!("an expired lease is free") };
//! assert!(second.token > first.token);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod keeper;
mod name;
mod outcome;
mod state;
mod table;
mod time;
mod token;
mod transition;

pub use error::{DecideError, KeeperConfigError, NameError, NameKind, TtlError};
pub use keeper::{
    Answered, DriftMargin, Keeper, KeeperAction, KeeperConfig, LocalInstant, LossReason,
    RenewReply, RenewTicket,
};
pub use name::{MAX_NAME_LEN, Owner, ResourceName};
pub use outcome::{
    AcquireOutcome, EvictOutcome, Grant, GrantKind, Holder, LostReason, Outcome, ReleaseOutcome,
    RenewOutcome,
};
pub use state::{LeaseRecord, LockState, Status};
pub use table::LockTable;
pub use time::{Timestamp, Ttl};
pub use token::{FencingToken, RequestId};
pub use transition::{Decision, Request, check_clock, lease_expiry};
