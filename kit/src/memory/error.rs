//! [`MemoryError`]: what a [`MemoryStore`](super::MemoryStore) fails with.

use core::fmt;

use leasehold_contract::{ClockError, ErrorKind, StoreError};
use leasehold_core::{DecideError, NameError, TtlError};

/// What a memory store fails with: bad input, a refused request, a lease of another store, the
/// clock, or a busy store (only with [`Flaw::AlwaysBusy`](super::Flaw::AlwaysBusy)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryError {
    /// A bad name.
    InvalidName(NameError),
    /// A bad ttl.
    InvalidTtl(TtlError),
    /// A request the core refuses.
    Rejected(DecideError),
    /// A lease of another store.
    ForeignLease,
    /// The store is busy (only with [`Flaw::AlwaysBusy`](super::Flaw::AlwaysBusy)).
    Busy,
    /// The clock failed.
    Clock(ClockError),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "invalid name: {e}"),
            Self::InvalidTtl(e) => write!(f, "invalid ttl: {e}"),
            Self::Rejected(e) => write!(f, "request refused: {e}"),
            Self::ForeignLease => f.write_str("a lease of another store"),
            Self::Busy => f.write_str("the store is busy"),
            Self::Clock(e) => write!(f, "clock: {e}"),
        }
    }
}

impl std::error::Error for MemoryError {}

impl StoreError for MemoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidName(_) | Self::InvalidTtl(_) | Self::Rejected(_) => {
                ErrorKind::InvalidInput
            }
            Self::ForeignLease => ErrorKind::ForeignLease,
            Self::Busy => ErrorKind::Busy,
            Self::Clock(_) => ErrorKind::Environment,
        }
    }

    fn decide_error(&self) -> Option<DecideError> {
        match self {
            Self::Rejected(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<NameError> for MemoryError {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

impl From<TtlError> for MemoryError {
    fn from(e: TtlError) -> Self {
        Self::InvalidTtl(e)
    }
}

impl From<DecideError> for MemoryError {
    fn from(e: DecideError) -> Self {
        Self::Rejected(e)
    }
}

impl From<ClockError> for MemoryError {
    fn from(e: ClockError) -> Self {
        Self::Clock(e)
    }
}
