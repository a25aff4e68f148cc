//! [`Error`]: misuse, a store this build lacks, and the stores' own errors. Contention is never
//! an error; it is an answer.

use core::fmt;

use leasehold_contract::{ErrorKind, StoreError, StoreId};
use leasehold_core::{DecideError, KeeperConfigError, TtlError};

/// Why opening a store, a store operation or holding a lease failed. A failed operation changed
/// nothing, except where the store's own error says otherwise.
///
/// [`kind`](StoreError::kind) tells the cases code must tell apart; the store's error stays
/// reachable as the variant's value and as [`source`](std::error::Error::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The string given to [`open`](crate::open) is not a store location; nothing was touched.
    InvalidUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL's scheme names no store leasehold has (`sqlite:`, `postgres://` and
    /// `postgresql://` are the ones it knows); nothing was touched.
    UnknownScheme {
        /// The scheme, without `://`.
        scheme: String,
    },
    /// The URL names a store this build was compiled without; enable the feature.
    StoreNotBuilt {
        /// The store, e.g. `"PostgreSQL"`.
        store: &'static str,
        /// The cargo feature of the `leasehold` crate that adds it.
        feature: &'static str,
    },
    /// A ttl the core refuses: zero, or too long for 64-bit milliseconds.
    InvalidTtl(TtlError),
    /// A keeper configuration that cannot hold a lease (a margin or renewal period not below the
    /// ttl); nothing was acquired.
    KeeperConfig(KeeperConfigError),
    /// [`Store::keep`](crate::Store::keep) was given a lease another store granted; nothing was
    /// kept or released.
    ForeignLease {
        /// The store that granted the lease.
        lease_store: StoreId,
        /// The store asked to keep it.
        store: StoreId,
    },
    /// The thread that keeps a guard's lease could not be started; the lease was released (best
    /// effort).
    KeeperThread(std::io::Error),
    /// An error of the SQLite store.
    #[cfg(feature = "sqlite")]
    Sqlite(leasehold_sqlite::Error),
    /// An error of the PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(leasehold_postgres::Error),
    /// The tokio runtime shut down before a store call it ran finished (feature `tokio`); the
    /// call may or may not have been applied.
    #[cfg(feature = "tokio")]
    RuntimeShutdown,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, reason } => write!(f, "invalid store URL {url:?}: {reason}"),
            Self::UnknownScheme { scheme } => write!(
                f,
                "unknown store scheme {scheme:?}: leasehold opens sqlite: URLs, file paths and \
                 postgres:// URLs"
            ),
            Self::StoreNotBuilt { store, feature } => write!(
                f,
                "this build has no {store} store: enable the `{feature}` feature of leasehold"
            ),
            Self::InvalidTtl(e) => write!(f, "invalid ttl: {e}"),
            Self::KeeperConfig(e) => write!(f, "keeper configuration: {e}"),
            Self::ForeignLease { lease_store, store } => write!(
                f,
                "a lease of another store: granted by store {lease_store}, not by store {store}"
            ),
            Self::KeeperThread(e) => write!(f, "cannot start the keeper's thread: {e}"),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "postgres")]
            Self::Postgres(e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "tokio")]
            Self::RuntimeShutdown => f.write_str("the tokio runtime shut down during a store call"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidTtl(e) => Some(e),
            Self::KeeperConfig(e) => Some(e),
            Self::KeeperThread(e) => Some(e),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(e) => Some(e),
            #[cfg(feature = "postgres")]
            Self::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl StoreError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUrl { .. }
            | Self::UnknownScheme { .. }
            | Self::InvalidTtl(_)
            | Self::KeeperConfig(_) => ErrorKind::InvalidInput,
            Self::StoreNotBuilt { .. } => ErrorKind::Setup,
            Self::ForeignLease { .. } => ErrorKind::ForeignLease,
            Self::KeeperThread(_) => ErrorKind::Environment,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(e) => e.kind(),
            #[cfg(feature = "postgres")]
            Self::Postgres(e) => e.kind(),
            #[cfg(feature = "tokio")]
            Self::RuntimeShutdown => ErrorKind::Unavailable,
        }
    }

    fn decide_error(&self) -> Option<DecideError> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(e) => e.decide_error(),
            #[cfg(feature = "postgres")]
            Self::Postgres(e) => e.decide_error(),
            _ => None,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<leasehold_sqlite::Error> for Error {
    fn from(e: leasehold_sqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

#[cfg(feature = "postgres")]
impl From<leasehold_postgres::Error> for Error {
    fn from(e: leasehold_postgres::Error) -> Self {
        Self::Postgres(e)
    }
}

impl From<TtlError> for Error {
    fn from(e: TtlError) -> Self {
        Self::InvalidTtl(e)
    }
}

impl From<KeeperConfigError> for Error {
    fn from(e: KeeperConfigError) -> Self {
        Self::KeeperConfig(e)
    }
}
