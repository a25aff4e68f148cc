//! [`Protocol`]: which lock protocol or holder the checker follows.

use core::fmt;

/// A protocol: the lock's or the holder's, shipped or with a planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// The shipped protocol: one conditional write per request (the core's transition), the
    /// store's clock, token-checked renew and release, a protected resource that refuses tokens
    /// older than the newest it has accepted.
    Atomic,
    /// **Planted bug** (the seed report): read the row, decide in the client, then write
    /// unconditionally as a second step.
    CheckThenAct,
    /// **Planted bug**: release frees the resource by name, whatever lease it holds now.
    TokenlessRelease,
    /// **Planted bug**: atomic writes, but `now` is the client's clock, which may run ahead of the
    /// store's by up to `skew` ticks.
    ClientClock,
    /// **Planted bug**: atomic lock, but the protected resource accepts any token.
    UnfencedResource,
    /// The shipped holder: each client holds its lease with the core's
    /// [`Keeper`](leasehold_core::Keeper), renewing when it says, counting its deadline from send
    /// instants on its own drifting clock, with a drift margin that covers the drift.
    Keeper,
    /// **Planted bug**: the keeper is told a reply's arrival instant as its request's send instant
    /// (the deadline counts from the reply).
    DeadlineFromReply,
    /// **Planted bug**: the keeper has no drift margin.
    NoDriftMargin,
    /// **Planted bug**: a renewal that failed is reported to the keeper as renewed.
    FailedRenewAsSuccess,
    /// **Planted bug**: the holder renews on its own fixed period of one TTL, not when the keeper
    /// says (the core refuses `renew_after ≥ ttl`, so the driver bypasses the keeper's timing).
    RenewEveryTtl,
}

impl Protocol {
    /// Every protocol: the lock's, then the holder's, each family's shipped one first.
    pub const ALL: [Self; 10] = [
        Self::Atomic,
        Self::CheckThenAct,
        Self::TokenlessRelease,
        Self::ClientClock,
        Self::UnfencedResource,
        Self::Keeper,
        Self::DeadlineFromReply,
        Self::NoDriftMargin,
        Self::FailedRenewAsSuccess,
        Self::RenewEveryTtl,
    ];

    /// The lock protocols, checked by [`LeaseModel`](crate::LeaseModel).
    pub const LOCK: [Self; 5] = [
        Self::Atomic,
        Self::CheckThenAct,
        Self::TokenlessRelease,
        Self::ClientClock,
        Self::UnfencedResource,
    ];

    /// The holder protocols, checked by [`HolderModel`](crate::HolderModel).
    pub const HOLDER: [Self; 5] = [
        Self::Keeper,
        Self::DeadlineFromReply,
        Self::NoDriftMargin,
        Self::FailedRenewAsSuccess,
        Self::RenewEveryTtl,
    ];

    /// Whether this is a holder protocol (about the holder's view of its lease) rather than a lock
    /// protocol (about the store's).
    #[must_use]
    pub const fn is_holder(self) -> bool {
        matches!(
            self,
            Self::Keeper
                | Self::DeadlineFromReply
                | Self::NoDriftMargin
                | Self::FailedRenewAsSuccess
                | Self::RenewEveryTtl
        )
    }

    /// The protocol's name in reports and on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Atomic => "atomic",
            Self::CheckThenAct => "check-then-act",
            Self::TokenlessRelease => "tokenless-release",
            Self::ClientClock => "client-clock",
            Self::UnfencedResource => "unfenced-resource",
            Self::Keeper => "keeper",
            Self::DeadlineFromReply => "deadline-from-reply",
            Self::NoDriftMargin => "no-drift-margin",
            Self::FailedRenewAsSuccess => "failed-renew-as-success",
            Self::RenewEveryTtl => "renew-every-ttl",
        }
    }

    /// The protocol called `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
