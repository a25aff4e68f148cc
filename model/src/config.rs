//! What to check: the protocol, the properties and the bounds of the state space.

use core::fmt;

/// The largest number of clients a configuration may have.
pub const MAX_CLIENTS: u8 = 6;
/// The largest number of resources a configuration may have.
pub const MAX_RESOURCES: u8 = 3;
/// The largest number of acquire attempts per client.
pub const MAX_ATTEMPTS: u8 = 15;

/// A lock protocol: the shipped one, or one with a planted bug.
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
}

impl Protocol {
    /// Every protocol, the shipped one first.
    pub const ALL: [Self; 5] = [
        Self::Atomic,
        Self::CheckThenAct,
        Self::TokenlessRelease,
        Self::ClientClock,
        Self::UnfencedResource,
    ];

    /// The protocol's name in reports and on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Atomic => "atomic",
            Self::CheckThenAct => "check-then-act",
            Self::TokenlessRelease => "tokenless-release",
            Self::ClientClock => "client-clock",
            Self::UnfencedResource => "unfenced-resource",
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
}

impl PropertyKind {
    /// Every property, safety first.
    pub const ALL: [Self; 8] = [
        Self::MutualExclusion,
        Self::TokensIncrease,
        Self::WritesInTokenOrder,
        Self::Granted,
        Self::GrantedAfterExpiry,
        Self::GrantedAfterRelease,
        Self::WritesFromTwoTokens,
        Self::LostReplyRecovered,
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
        }
    }

    /// Safety or sanity.
    #[must_use]
    pub const fn expectation(self) -> Expectation {
        match self {
            Self::MutualExclusion | Self::TokensIncrease | Self::WritesInTokenOrder => {
                Expectation::Always
            }
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

/// Faults the checker may inject; each is a nondeterministic choice it explores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Faults {
    /// A holder may crash: it forgets everything and its lease is left to expire.
    pub crash: bool,
    /// A holder may pause after checking its lease, and write to the protected resource later,
    /// whatever the clock says by then.
    pub pause: bool,
    /// An acquire may commit while its reply is lost; the client retries with the same request
    /// id.
    pub lost_replies: bool,
    /// How many ticks a client's clock may run ahead of the store's (only the `client-clock`
    /// protocol reads the client's clock).
    pub skew: u8,
}

/// The bounds and switches of one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Which protocol the clients and the store follow.
    pub protocol: Protocol,
    /// How many clients, `1..=MAX_CLIENTS`.
    pub clients: u8,
    /// How many resources, `1..=MAX_RESOURCES`.
    pub resources: u8,
    /// How many ticks a lease lasts.
    pub ttl: u8,
    /// The last tick the clock reaches.
    pub horizon: u8,
    /// How many acquire attempts each client makes.
    pub attempts: u8,
    /// Whether holders renew.
    pub renew: bool,
    /// Whether holders write to the protected resource.
    pub writes: bool,
    /// The faults explored.
    pub faults: Faults,
    /// The properties checked.
    pub properties: PropertySet,
}

/// A configuration the checker refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `clients` is zero or above [`MAX_CLIENTS`].
    Clients(u8),
    /// `resources` is zero or above [`MAX_RESOURCES`].
    Resources(u8),
    /// `ttl` is zero.
    ZeroTtl,
    /// `horizon` is below `ttl`: no lease could ever expire.
    HorizonBelowTtl {
        /// The horizon asked for.
        horizon: u8,
        /// The TTL asked for.
        ttl: u8,
    },
    /// `attempts` is zero.
    ZeroAttempts,
    /// Times or tokens would not fit the model's 8-bit fields.
    TooLarge(&'static str),
    /// No property is selected.
    NoProperties,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Clients(n) => write!(f, "clients must be 1..={MAX_CLIENTS}, not {n}"),
            Self::Resources(n) => write!(f, "resources must be 1..={MAX_RESOURCES}, not {n}"),
            Self::ZeroTtl => f.write_str("ttl must be at least 1 tick"),
            Self::HorizonBelowTtl { horizon, ttl } => write!(
                f,
                "horizon ({horizon}) must be at least ttl ({ttl}), or no lease can expire"
            ),
            Self::ZeroAttempts => f.write_str("attempts must be at least 1"),
            Self::TooLarge(what) => write!(f, "{what} too large for the model's 8-bit fields"),
            Self::NoProperties => f.write_str("no property to check"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks the bounds.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(ConfigError::Clients(self.clients));
        }
        if !(1..=MAX_RESOURCES).contains(&self.resources) {
            return Err(ConfigError::Resources(self.resources));
        }
        if self.ttl == 0 {
            return Err(ConfigError::ZeroTtl);
        }
        if self.horizon < self.ttl {
            return Err(ConfigError::HorizonBelowTtl {
                horizon: self.horizon,
                ttl: self.ttl,
            });
        }
        if self.attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        // Expiries reach horizon + skew + ttl; tokens reach clients × attempts, request ids
        // 16 × clients (see `state::request_id`).
        let latest = u16::from(self.horizon) + u16::from(self.faults.skew) + u16::from(self.ttl);
        if latest > 250 {
            return Err(ConfigError::TooLarge("horizon + skew + ttl"));
        }
        if self.attempts > MAX_ATTEMPTS {
            return Err(ConfigError::TooLarge("attempts"));
        }
        if self.properties == PropertySet::default() {
            return Err(ConfigError::NoProperties);
        }
        Ok(())
    }

    /// The safety property this configuration's planted bug is expected to violate, or `None`
    /// for the shipped protocol or a configuration that does not exercise the bug.
    #[must_use]
    pub fn expected_violation(&self) -> Option<PropertyKind> {
        let several = self.clients >= 2;
        let expected = match self.protocol {
            Protocol::Atomic => None,
            Protocol::CheckThenAct => several.then_some(PropertyKind::MutualExclusion),
            Protocol::TokenlessRelease => (several && (self.clients >= 3 || self.attempts >= 2))
                .then_some(PropertyKind::MutualExclusion),
            Protocol::ClientClock => {
                (several && self.faults.skew > 0).then_some(PropertyKind::MutualExclusion)
            }
            Protocol::UnfencedResource => (several && self.writes && self.faults.pause)
                .then_some(PropertyKind::WritesInTokenOrder),
        };
        expected.filter(|p| self.properties.contains(*p))
    }

    /// Whether `property` can be checked meaningfully under this configuration (for example,
    /// properties about the protected resource need writes).
    #[must_use]
    pub fn applies(&self, property: PropertyKind) -> bool {
        let regrant = self.clients >= 2 || self.attempts >= 2;
        match property {
            PropertyKind::WritesInTokenOrder => self.writes,
            PropertyKind::WritesFromTwoTokens => self.writes && regrant,
            PropertyKind::GrantedAfterExpiry | PropertyKind::GrantedAfterRelease => regrant,
            // check-then-act's read decides nothing at the store, so it has no reply to lose.
            PropertyKind::LostReplyRecovered => {
                self.faults.lost_replies && self.protocol != Protocol::CheckThenAct
            }
            _ => true,
        }
    }

    /// The properties of this configuration that apply to it.
    pub fn checked_properties(&self) -> impl Iterator<Item = PropertyKind> + '_ {
        self.properties.iter().filter(|p| self.applies(*p))
    }
}
