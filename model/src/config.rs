//! What to check: the protocol, the properties and the bounds of the state space.

use core::fmt;

mod property;
mod protocol;

pub use property::{Expectation, PropertyKind, PropertySet};
pub use protocol::Protocol;

/// The largest number of clients a configuration may have.
pub const MAX_CLIENTS: u8 = 6;
/// The largest number of resources a configuration may have.
pub const MAX_RESOURCES: u8 = 3;
/// The largest number of acquire attempts per client.
pub const MAX_ATTEMPTS: u8 = 15;
/// The largest number of clients of the holder protocols ([`Protocol::is_holder`]).
pub const MAX_HOLDERS: u8 = 3;
/// How many steps a holder's clock counts per tick of the store's clock when it keeps the store's
/// rate: a drifting clock counts `SUB_TICKS ± drift` (see [`Faults::drift`]).
pub const SUB_TICKS: u8 = 4;

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
    /// Holder protocols: how many ticks a reply may take to reach its client (each reply takes
    /// any number from 0 to this).
    pub delay: u8,
    /// Holder protocols: how far a holder's clock may drift, in steps per tick: at each tick it
    /// counts anything from `SUB_TICKS − drift` to `SUB_TICKS + drift` steps, so its rate is
    /// within `1 ± drift / SUB_TICKS` of the store's.
    pub drift: u8,
    /// Holder protocols: a renewal may fail, either before the store sees it or by losing its
    /// reply; either way its client is told it failed.
    pub renew_failures: bool,
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
    /// A holder protocol was asked for more than [`MAX_HOLDERS`] clients or more than one
    /// resource (resources are independent, so one says everything).
    HolderBounds,
    /// `drift` is not below [`SUB_TICKS`]: a clock would stand still.
    Drift(u8),
    /// The holder's keeper, configured from the model's TTL and drift, is refused by the core.
    Keeper(leasehold_core::KeeperConfigError),
    /// The protocol belongs to the other model: lock protocols to
    /// [`LeaseModel`](crate::LeaseModel), holder protocols to [`HolderModel`](crate::HolderModel).
    OtherModel(Protocol),
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
            Self::HolderBounds => write!(
                f,
                "holder protocols take 1..={MAX_HOLDERS} clients and 1 resource \
                 (--protocol lock selects the lock protocols alone)"
            ),
            Self::Drift(drift) => write!(f, "drift must be below {SUB_TICKS}, not {drift}"),
            Self::Keeper(e) => write!(f, "the keeper refuses its configuration: {e}"),
            Self::OtherModel(protocol) => {
                write!(f, "protocol {protocol} is checked by the other model")
            }
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
        if self.protocol.is_holder() {
            self.validate_holder()?;
        }
        Ok(())
    }

    /// The bounds of the holder protocols: few clients, one resource, and local clocks (which
    /// reach `horizon × (SUB_TICKS + drift)` steps) that fit in 8 bits.
    fn validate_holder(&self) -> Result<(), ConfigError> {
        if self.clients > MAX_HOLDERS || self.resources != 1 {
            return Err(ConfigError::HolderBounds);
        }
        let drift = self.faults.drift;
        if drift >= SUB_TICKS {
            return Err(ConfigError::Drift(drift));
        }
        let local = u16::from(self.horizon) * u16::from(SUB_TICKS + drift);
        if local > 250 {
            return Err(ConfigError::TooLarge("horizon × (4 + drift)"));
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
            Protocol::Keeper => None,
            Protocol::DeadlineFromReply => (self.faults.delay > 0 && self.faults.renew_failures)
                .then_some(PropertyKind::ActsOnlyWhileValid),
            Protocol::NoDriftMargin => (self.faults.drift > 0 && self.faults.renew_failures)
                .then_some(PropertyKind::ActsOnlyWhileValid),
            Protocol::FailedRenewAsSuccess => self
                .faults
                .renew_failures
                .then_some(PropertyKind::ActsOnlyWhileValid),
            Protocol::RenewEveryTtl => Some(PropertyKind::AnsweredRenewalsKeepLease),
        };
        expected.filter(|p| self.properties.contains(*p))
    }

    /// Whether `property` can be checked meaningfully under this configuration (for example,
    /// properties about the protected resource need writes).
    #[must_use]
    pub fn applies(&self, property: PropertyKind) -> bool {
        let regrant = self.clients >= 2 || self.attempts >= 2;
        if self.protocol.is_holder() {
            return match property {
                PropertyKind::ActsOnlyWhileValid
                | PropertyKind::AnsweredRenewalsKeepLease
                | PropertyKind::Granted => true,
                // Without failures a holder's lease never expires, except renew-every-ttl's.
                PropertyKind::GrantedAfterExpiry => regrant && self.faults.renew_failures,
                // renew-every-ttl's period is longer than its keeper trusts the lease: by
                // construction it never renews.
                PropertyKind::Renewed => self.protocol != Protocol::RenewEveryTtl,
                _ => false,
            };
        }
        match property {
            PropertyKind::ActsOnlyWhileValid
            | PropertyKind::AnsweredRenewalsKeepLease
            | PropertyKind::Renewed => false,
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
