//! What the store answers: [`Lease`], [`Holder`], [`Lost`] and one outcome enum per operation.
//! Contention is always one of these, never an [`Error`](crate::Error).

use leasehold_core::{FencingToken, LostReason, Owner, RequestId, ResourceName, Timestamp};

/// A lease the caller holds (or held): what it needs to renew, release and fence with.
///
/// All times are on the store's clock, in milliseconds since its epoch (the Unix epoch for
/// [`SystemClock`](crate::SystemClock)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    resource: ResourceName,
    owner: Owner,
    token: FencingToken,
    request_id: RequestId,
    acquired_at: Timestamp,
    expires_at: Timestamp,
}

impl Lease {
    /// Rebuilds a lease from its parts, e.g. after keeping them across a restart.
    ///
    /// The store checks a lease by `resource` and `token` only, so a lease built from wrong parts
    /// can do no more than its token allows: a stale or never-issued token is refused.
    #[must_use]
    pub fn from_parts(
        resource: ResourceName,
        owner: Owner,
        token: FencingToken,
        request_id: RequestId,
        acquired_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            resource,
            owner,
            token,
            request_id,
            acquired_at,
            expires_at,
        }
    }

    /// The locked resource.
    #[must_use]
    pub fn resource(&self) -> &ResourceName {
        &self.resource
    }

    /// Who holds the lease.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The fencing token: pass it to whatever the lease protects, which refuses older tokens.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The id of the acquire request that produced the lease.
    #[must_use]
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// When the lease was granted.
    #[must_use]
    pub fn acquired_at(&self) -> Timestamp {
        self.acquired_at
    }

    /// When the lease ends unless renewed. Stop relying on it some margin before this instant.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The lease seen as its holder.
    #[must_use]
    pub fn holder(&self) -> Holder {
        Holder {
            resource: self.resource.clone(),
            owner: self.owner.clone(),
            token: self.token,
            acquired_at: self.acquired_at,
            expires_at: self.expires_at,
        }
    }
}

/// Someone's valid lease, as reported to others (for example in [`Acquire::Busy`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    pub(crate) resource: ResourceName,
    pub(crate) owner: Owner,
    pub(crate) token: FencingToken,
    pub(crate) acquired_at: Timestamp,
    pub(crate) expires_at: Timestamp,
}

impl Holder {
    /// The locked resource.
    #[must_use]
    pub fn resource(&self) -> &ResourceName {
        &self.resource
    }

    /// Who holds the lease.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The lease's fencing token.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// When the lease was granted, on the store's clock.
    #[must_use]
    pub fn acquired_at(&self) -> Timestamp {
        self.acquired_at
    }

    /// When the lease ends unless renewed, released or evicted, on the store's clock.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

/// Why a lease can no longer be used, and who holds the resource instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lost {
    pub(crate) reason: LostReason,
    pub(crate) current: Option<Holder>,
}

impl Lost {
    /// How the lease ended.
    #[must_use]
    pub fn reason(&self) -> LostReason {
        self.reason
    }

    /// Who holds the resource now, if anyone.
    #[must_use]
    pub fn current(&self) -> Option<&Holder> {
        self.current.as_ref()
    }
}

/// The answer to an acquire.
#[must_use = "a granted lease must be released or left to expire; a busy one was not granted"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Acquire {
    /// The caller holds the lease: newly granted, or the same lease again for a retried request
    /// id.
    Granted(Lease),
    /// Someone holds a valid lease (possibly the caller, under another request id: acquire is not
    /// re-entrant). Nothing was written.
    Busy(Holder),
}

/// The answer to a renew.
#[must_use = "a lost lease no longer protects anything"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Renew {
    /// The lease now lasts until the returned lease's `expires_at` (never earlier than before).
    Renewed(Lease),
    /// The lease is over; nothing changed.
    Lost(Lost),
}

/// The answer to a release.
#[must_use = "`Expired` means the holder worked unprotected for a while"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Release {
    /// The lease was valid until this release (or an earlier one with the same token) ended it.
    Released,
    /// The lease had expired before it was released: the holder may have worked unprotected.
    Expired,
    /// The lease is not the resource's latest, or it was evicted; nothing changed. Carries the
    /// current holder, if any.
    NotHolder(Option<Holder>),
}

/// The answer to an evict.
#[must_use = "tells whether anyone's lease was ended"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Evict {
    /// This holder's valid lease was ended.
    Evicted(Holder),
    /// No lease was valid; nothing changed.
    NotHeld,
}

/// The answer to [`SqliteStore::with_fence`](crate::SqliteStore::with_fence).
#[must_use = "`Lost` means the closure did not run"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fenced<T> {
    /// The lease was valid and current; the closure ran and its writes committed.
    Committed(T),
    /// The lease was not valid; the closure did not run and nothing was written.
    Lost(Lost),
}
