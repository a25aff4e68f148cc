//! [`ErrorKind`] and [`StoreError`]: what code generic over stores needs to know about an error.

use core::fmt;

use leasehold_core::DecideError;

/// The kind of a store's error, as far as code generic over stores must tell them apart. Every
/// kind means the operation changed nothing, except where a store's own error says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input the core refuses: a bad name, a zero or unstorable ttl, an expiry past what a store
    /// can keep, or fencing tokens exhausted.
    InvalidInput,
    /// A lease granted by another store (another database, another schema).
    ForeignLease,
    /// The store stayed busy (locked, or its row kept changing) past the store's limit; retrying
    /// later is safe.
    Busy,
    /// The store could not be reached, or the connection broke; the operation may or may not
    /// have been applied if the failure came after the request was sent (retry an acquire with
    /// its request id).
    Unavailable,
    /// The store's clock or the random source failed.
    Environment,
    /// The store refused its setup: a foreign or newer schema, a setting that breaks its
    /// promises, an unsupported server.
    Setup,
    /// Anything else the storage reported.
    Storage,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidInput => "invalid input",
            Self::ForeignLease => "a lease of another store",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Environment => "clock or random source",
            Self::Setup => "setup refused",
            Self::Storage => "storage",
        })
    }
}

/// A store's error type: a typed error that also says its [`ErrorKind`].
pub trait StoreError: std::error::Error + Send + Sync + 'static {
    /// What kind of error this is.
    fn kind(&self) -> ErrorKind;

    /// The core's refusal this error carries, if it is one ([`ErrorKind::InvalidInput`] for a
    /// clock reading, an expiry or a token the core refuses): every store must refuse exactly
    /// what the core refuses, and a conformance test compares the two.
    fn decide_error(&self) -> Option<DecideError> {
        None
    }
}
