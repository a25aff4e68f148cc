//! Typed errors for input the core refuses. Contention is never an error: a busy lock or a lost
//! lease is an [`Outcome`](crate::Outcome).

use core::fmt;
use std::time::Duration;

use crate::time::{Timestamp, Ttl};

/// Which kind of name an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// The name of a lock holder ([`Owner`](crate::Owner)).
    Owner,
    /// The name of a locked resource ([`ResourceName`](crate::ResourceName)).
    Resource,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Owner => "owner",
            Self::Resource => "resource",
        })
    }
}

/// A name that is not a valid owner or resource name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is the empty string.
    Empty {
        /// Owner or resource.
        kind: NameKind,
    },
    /// The name is longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes of UTF-8.
    TooLong {
        /// Owner or resource.
        kind: NameKind,
        /// The name's length in bytes.
        len: usize,
    },
    /// The name contains a control character (such as NUL, a newline or DEL), which would make
    /// logs, error messages and SQL dumps ambiguous.
    ControlCharacter {
        /// Owner or resource.
        kind: NameKind,
        /// Byte offset of the first control character.
        offset: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { kind } => write!(f, "{kind} name is empty"),
            Self::TooLong { kind, len } => write!(
                f,
                "{kind} name is {len} bytes long; the limit is {} bytes",
                crate::MAX_NAME_LEN
            ),
            Self::ControlCharacter { kind, offset } => {
                write!(f, "{kind} name has a control character at byte {offset}")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// A lease duration the core refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TtlError {
    /// The TTL is zero: the lease would be over the instant it was granted.
    Zero,
    /// The TTL does not fit in 64-bit milliseconds.
    TooLong,
}

impl fmt::Display for TtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Zero => "ttl is zero; a lease must last at least 1 ms",
            Self::TooLong => "ttl does not fit in 64-bit milliseconds",
        })
    }
}

impl std::error::Error for TtlError {}

/// A request that [`LockState::decide`](crate::LockState::decide) refuses. The state is never
/// changed by a refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecideError {
    /// `now` is past [`Timestamp::MAX`]: the store's clock reads a value no store can keep.
    ClockOutOfRange {
        /// The clock reading.
        now: Timestamp,
    },
    /// `now + ttl` is past [`Timestamp::MAX`].
    ExpiryOverflow {
        /// The clock reading.
        now: Timestamp,
        /// The requested TTL.
        ttl: Ttl,
    },
    /// Every fencing token up to [`FencingToken::MAX`](crate::FencingToken::MAX) has been issued
    /// for this resource; issuing another would repeat one.
    TokensExhausted,
}

impl fmt::Display for DecideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClockOutOfRange { now } => {
                write!(
                    f,
                    "clock reading {now} is past the largest storable timestamp"
                )
            }
            Self::ExpiryOverflow { now, ttl } => write!(
                f,
                "expiry {now} + {ttl} is past the largest storable timestamp"
            ),
            Self::TokensExhausted => f.write_str("every fencing token has been issued"),
        }
    }
}

impl std::error::Error for DecideError {}

/// A [`KeeperConfig`](crate::KeeperConfig) that cannot hold a lease, refused by
/// [`KeeperConfig::validate`](crate::KeeperConfig::validate) and
/// [`Keeper::new`](crate::Keeper::new).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeeperConfigError {
    /// `renew_after` is zero: the keeper would renew without pause.
    ZeroRenewAfter,
    /// `retry_after` is zero: the keeper would retry a failing renewal without pause.
    ZeroRetryAfter,
    /// The drift margin is at least the TTL: nothing is left of the lease to rely on.
    MarginNotBelowTtl {
        /// The margin for this TTL.
        margin: Duration,
        /// The TTL.
        ttl: Ttl,
    },
    /// `renew_after` is at least the TTL: every renewal would be sent after the store's lease
    /// had already expired.
    RenewNotBelowTtl {
        /// The configured renewal delay.
        renew_after: Duration,
        /// The TTL.
        ttl: Ttl,
    },
    /// `renew_after` is below the TTL but not below `ttl − margin`: every renewal would be sent
    /// after the holder's own deadline, when it has already given the lease up.
    RenewNotBeforeDeadline {
        /// The configured renewal delay.
        renew_after: Duration,
        /// `ttl − margin`: how long after a confirmed send the holder relies on its lease.
        lifetime: Duration,
    },
}

impl fmt::Display for KeeperConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroRenewAfter => f.write_str("renew_after is zero"),
            Self::ZeroRetryAfter => f.write_str("retry_after is zero"),
            Self::MarginNotBelowTtl { margin, ttl } => write!(
                f,
                "drift margin {margin:?} is not below ttl {ttl}: nothing is left of the lease"
            ),
            Self::RenewNotBelowTtl { renew_after, ttl } => write!(
                f,
                "renew_after {renew_after:?} is not below ttl {ttl}: renewals would come after expiry"
            ),
            Self::RenewNotBeforeDeadline {
                renew_after,
                lifetime,
            } => write!(
                f,
                "renew_after {renew_after:?} is not below ttl - margin = {lifetime:?}: renewals would come after the holder's deadline"
            ),
        }
    }
}

impl std::error::Error for KeeperConfigError {}
