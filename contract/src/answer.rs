//! What a store answers: one enum per operation, and [`Lost`]. Contention is always one of these,
//! never an error.

use leasehold_core::{LostReason, ReleaseOutcome, ResourceName};

use crate::lease::{Holder, Lease};

/// Why a lease can no longer be used, and who holds the resource instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lost {
    reason: LostReason,
    current: Option<Holder>,
}

impl Lost {
    /// A lost lease: how it ended and who holds the resource now. For store implementations.
    #[must_use]
    pub fn new(reason: LostReason, current: Option<Holder>) -> Self {
        Self { reason, current }
    }

    /// The core's `(reason, current holder)` for a lease on `resource`, as
    /// [`LockState::loss`](leasehold_core::LockState::loss) gives it.
    #[must_use]
    pub fn from_core(
        resource: &ResourceName,
        (reason, current): (LostReason, Option<leasehold_core::Holder>),
    ) -> Self {
        Self::new(reason, current.map(|h| Holder::from_core(resource, h)))
    }

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

impl Acquire {
    /// The granted lease, if any.
    #[must_use]
    pub fn granted(self) -> Option<Lease> {
        match self {
            Self::Granted(lease) => Some(lease),
            Self::Busy(_) => None,
        }
    }
}

/// The answer to a renew.
#[must_use = "a lost lease no longer protects anything"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Renew {
    /// The lease now lasts until the returned lease's `expires_at` (never earlier than before),
    /// and its deadline counts from this renewal.
    Renewed(Lease),
    /// The lease is over; nothing changed.
    Lost(Lost),
}

/// The answer to a release.
#[must_use = "`Expired` means the holder worked unprotected for a while"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Release {
    /// The lease was valid until this release ended it (or until an earlier release with the same
    /// token did, while that is still the resource's last lease).
    Released,
    /// The lease had expired before it was released: the holder may have worked unprotected.
    Expired,
    /// The lease is not the resource's latest, or it was evicted; nothing changed. Carries the
    /// current holder, if any.
    NotHolder(Option<Holder>),
}

impl Release {
    /// The store's answer for the core's release outcome on `resource`. For store
    /// implementations.
    pub fn from_core(resource: &ResourceName, outcome: ReleaseOutcome) -> Self {
        match outcome {
            ReleaseOutcome::Released => Self::Released,
            ReleaseOutcome::Expired => Self::Expired,
            ReleaseOutcome::NotHolder { current } => {
                Self::NotHolder(current.map(|h| Holder::from_core(resource, h)))
            }
        }
    }
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

/// The answer to a fenced write: the caller's writes, committed only while its lease is current.
#[must_use = "`Lost` means the caller's writes were not committed"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fenced<T> {
    /// The lease was valid and current; the caller's work ran and its writes committed.
    Committed(T),
    /// The lease was not valid: nothing the caller wrote was committed. Where the store checks
    /// before the caller's work (SQLite), the work did not run; where it also checks again before
    /// committing (PostgreSQL), work that ran while the lease ran out was rolled back.
    Lost(Lost),
}
