//! What a request leads to. Every contention case is an outcome, not an error.

use crate::name::Owner;
use crate::time::Timestamp;
use crate::token::FencingToken;

/// The holder of a lease, as reported to someone else (for example in
/// [`AcquireOutcome::Busy`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder<O = Owner> {
    /// Who holds the lease.
    pub owner: O,
    /// The lease's fencing token.
    pub token: FencingToken,
    /// When the lease was granted, on the store's clock.
    pub acquired_at: Timestamp,
    /// When the lease ends, on the store's clock, unless it is renewed, released or evicted.
    pub expires_at: Timestamp,
}

/// Whether a grant is new or the answer to a retried request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// A new lease with a new token.
    New,
    /// The lease an earlier attempt with the same request id and owner already produced, still
    /// valid: same token, same expiry. Nothing is written.
    Replayed,
}

/// A lease granted to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The lease's fencing token.
    pub token: FencingToken,
    /// When the lease was granted, on the store's clock.
    pub acquired_at: Timestamp,
    /// When the lease ends, on the store's clock.
    pub expires_at: Timestamp,
    /// New, or replayed for a retried request.
    pub kind: GrantKind,
}

/// The answer to [`Request::Acquire`](crate::Request::Acquire).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AcquireOutcome<O = Owner> {
    /// The caller holds the lease.
    Granted(Grant),
    /// Someone holds a valid lease (possibly the caller, under another request id: acquire is
    /// not re-entrant).
    Busy(Holder<O>),
}

/// Why a renew found no lease to extend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LostReason {
    /// The token's lease reached its expiry before the renew.
    Expired,
    /// The token's lease was released.
    Released,
    /// The token's lease was evicted.
    Evicted,
    /// The token is not the resource's latest: a later lease was granted, the record was
    /// pruned, or the token was never issued.
    NotCurrent,
}

/// The answer to [`Request::Renew`](crate::Request::Renew).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RenewOutcome<O = Owner> {
    /// The lease now ends at `expires_at` (never earlier than before the renew).
    Renewed {
        /// The lease's new expiry.
        expires_at: Timestamp,
    },
    /// The token's lease is over; nothing changed.
    Lost {
        /// How it ended.
        reason: LostReason,
        /// Who holds the resource now, if anyone.
        current: Option<Holder<O>>,
    },
}

/// The answer to [`Request::Release`](crate::Request::Release).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseOutcome<O = Owner> {
    /// The lease was valid until this release (or an earlier one with the same token) ended it.
    Released,
    /// The lease had expired before its holder released it: the holder may have worked without
    /// protection. The record is marked released; the token history is kept.
    Expired,
    /// The token's lease is not the resource's latest, or it was evicted: nothing changed. This is
    /// the "lost release" case, where a stale holder would otherwise free a new holder's lock.
    NotHolder {
        /// Who holds the resource now, if anyone.
        current: Option<Holder<O>>,
    },
}

/// The answer to [`Request::Evict`](crate::Request::Evict).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EvictOutcome<O = Owner> {
    /// The valid lease of this holder was ended.
    Evicted(Holder<O>),
    /// No lease was valid; nothing changed.
    NotHeld,
}

/// The answer to any [`Request`](crate::Request); the variant matches the request's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome<O = Owner> {
    /// Answer to an acquire.
    Acquire(AcquireOutcome<O>),
    /// Answer to a renew.
    Renew(RenewOutcome<O>),
    /// Answer to a release.
    Release(ReleaseOutcome<O>),
    /// Answer to an evict.
    Evict(EvictOutcome<O>),
}
