//! [`PropertyKind`] and [`PropertySet`]: what the checker checks.

use core::fmt;

/// Whether a property must hold in every reachable state or be reachable in some.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expectation {
    /// A safety property: true in every reachable state.
    Always,
    /// A sanity property: true in at least one reachable state, so a model that can do nothing
    /// cannot pass.
    Sometimes,
}

/// A property the checker can check. Names are part of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PropertyKind {
    /// Per resource, at most one client holds a lease valid at the current clock.
    MutualExclusion,
    /// Each grant's token is greater than every earlier token for its resource.
    TokensIncrease,
    /// The protected resource never accepts a write whose token is older than one it accepted.
    WritesInTokenOrder,
    /// Sanity: a lease is granted.
    Granted,
    /// Sanity: a lease is granted on a resource whose previous lease had expired.
    GrantedAfterExpiry,
    /// Sanity: a lease is granted on a resource whose previous lease was released.
    GrantedAfterRelease,
    /// Sanity: the protected resource accepts writes carrying two different tokens.
    WritesFromTwoTokens,
    /// Sanity: an acquire whose reply was lost is retried and gets its own lease back.
    LostReplyRecovered,
    /// Holders: a holder acts (its keeper says its lease is valid) only while the store still
    /// counts its lease as valid. Checked without fencing.
    ActsOnlyWhileValid,
    /// Holders: a holder none of whose renewals failed still holds its lease by its keeper.
    AnsweredRenewalsKeepLease,
    /// Holders, sanity: a renewal extends a keeper's deadline.
    Renewed,
}

impl PropertyKind {
    /// Every property: the lock's safety properties, the holder's, then the sanity properties.
    pub const ALL: [Self; 11] = [
        Self::MutualExclusion,
        Self::TokensIncrease,
        Self::WritesInTokenOrder,
        Self::ActsOnlyWhileValid,
        Self::AnsweredRenewalsKeepLease,
        Self::Granted,
        Self::GrantedAfterExpiry,
        Self::GrantedAfterRelease,
        Self::WritesFromTwoTokens,
        Self::LostReplyRecovered,
        Self::Renewed,
    ];

    /// The property's name in reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::MutualExclusion => "mutual exclusion",
            Self::TokensIncrease => "tokens increase",
            Self::WritesInTokenOrder => "writes in token order",
            Self::Granted => "a lease is granted",
            Self::GrantedAfterExpiry => "granted again after expiry",
            Self::GrantedAfterRelease => "granted again after release",
            Self::WritesFromTwoTokens => "writes from two tokens",
            Self::LostReplyRecovered => "lost reply recovered",
            Self::ActsOnlyWhileValid => "holder acts only while valid",
            Self::AnsweredRenewalsKeepLease => "answered renewals keep the lease",
            Self::Renewed => "a lease is renewed",
        }
    }

    /// Safety or sanity.
    #[must_use]
    pub const fn expectation(self) -> Expectation {
        match self {
            Self::MutualExclusion
            | Self::TokensIncrease
            | Self::WritesInTokenOrder
            | Self::ActsOnlyWhileValid
            | Self::AnsweredRenewalsKeepLease => Expectation::Always,
            _ => Expectation::Sometimes,
        }
    }

    /// The property called `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// A bit for [`PropertySet`].
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for PropertyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of properties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PropertySet(u16);

impl PropertySet {
    /// The set holding only `property`.
    #[must_use]
    pub const fn only(property: PropertyKind) -> Self {
        Self(property.bit())
    }

    /// Whether `property` is in the set.
    #[must_use]
    pub const fn contains(self, property: PropertyKind) -> bool {
        self.0 & property.bit() != 0
    }

    /// The set with `property` added.
    #[must_use]
    pub const fn with(self, property: PropertyKind) -> Self {
        Self(self.0 | property.bit())
    }

    /// The members, in [`PropertyKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = PropertyKind> {
        PropertyKind::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

impl FromIterator<PropertyKind> for PropertySet {
    fn from_iter<I: IntoIterator<Item = PropertyKind>>(iter: I) -> Self {
        iter.into_iter().fold(Self::default(), Self::with)
    }
}
