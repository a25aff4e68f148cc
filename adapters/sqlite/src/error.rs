//! [`Error`]: misuse and storage failures. Contention is never an error; it is an outcome.

use std::fmt;
use std::path::PathBuf;

use leasehold_core::{DecideError, NameError, TtlError};

/// Why a store operation failed. A failed operation changed nothing, except where a variant says
/// otherwise.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An owner or resource name the core refuses (empty, too long, control character).
    InvalidName(NameError),
    /// A TTL the core refuses (zero, or too long for 64-bit milliseconds).
    InvalidTtl(TtlError),
    /// A request the core refuses: clock out of range, expiry overflow or tokens exhausted.
    Rejected(DecideError),
    /// The file exists but is not an SQLite database (its bytes were left as they were).
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The database holds a leasehold schema newer than this build understands.
    SchemaTooNew {
        /// The schema version found in `leasehold_meta`.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// A `leasehold_*` table or trigger exists but has another shape than this build's schema.
    SchemaMismatch {
        /// The table or trigger that differs.
        object: &'static str,
        /// Its stored definition, or `None` when it is missing while other leasehold objects exist.
        found: Option<String>,
    },
    /// The database (or its directory, which WAL mode must write to) cannot be written.
    ReadOnly,
    /// The file could not be opened or created (a missing directory, no permission).
    CannotOpen {
        /// The file that was opened.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database lock was not obtained within the busy timeout, or the row kept changing
    /// under an operation for too many rounds; nothing changed. Retrying later is safe.
    Busy,
    /// The linked SQLite library is older than the features the schema needs.
    SqliteTooOld {
        /// The linked library's version, e.g. `3.31.1`.
        found: String,
        /// The oldest version that works.
        required: &'static str,
    },
    /// The clock could not give a usable reading.
    Clock(ClockError),
    /// The operating system's random number source failed (request ids are random).
    Random(getrandom::Error),
    /// A stored row breaks the schema's rules (it was edited by hand); nothing was changed.
    CorruptRow {
        /// The row's resource name, as stored.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Any other SQLite failure.
    Sqlite(rusqlite::Error),
}

/// Why a [`Clock`](crate::Clock) gave no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockError {
    /// The system clock reads a time before the Unix epoch.
    BeforeEpoch,
    /// The system clock reads a time too far in the future for 64-bit milliseconds.
    OutOfRange,
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BeforeEpoch => "the system clock reads a time before the Unix epoch",
            Self::OutOfRange => "the system clock reads a time past 64-bit milliseconds",
        })
    }
}

impl std::error::Error for ClockError {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "invalid name: {e}"),
            Self::InvalidTtl(e) => write!(f, "invalid ttl: {e}"),
            Self::Rejected(e) => write!(f, "request refused: {e}"),
            Self::NotADatabase { path } => {
                write!(f, "{} is not an SQLite database", path.display())
            }
            Self::SchemaTooNew { found, supported } => write!(
                f,
                "leasehold schema version {found} is newer than this build's {supported}"
            ),
            Self::SchemaMismatch { object, found } => match found {
                Some(sql) => write!(f, "{object} has an unexpected definition: {sql}"),
                None => write!(f, "{object} is missing from a leasehold schema"),
            },
            Self::ReadOnly => f.write_str("the lock database cannot be written"),
            Self::CannotOpen { path, .. } => write!(f, "cannot open {}", path.display()),
            Self::Busy => f.write_str("the database stayed locked past the busy timeout"),
            Self::SqliteTooOld { found, required } => {
                write!(f, "SQLite {found} is too old; leasehold needs {required}")
            }
            Self::Clock(e) => write!(f, "clock: {e}"),
            Self::Random(e) => write!(f, "random source: {e}"),
            Self::CorruptRow { resource, reason } => {
                write!(f, "the row of {resource:?} is corrupt: {reason}")
            }
            Self::Sqlite(e) => write!(f, "sqlite: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::InvalidTtl(e) => Some(e),
            Self::Rejected(e) => Some(e),
            Self::Clock(e) => Some(e),
            Self::Random(e) => Some(e),
            Self::Sqlite(e) | Self::CannotOpen { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

impl From<TtlError> for Error {
    fn from(e: TtlError) -> Self {
        Self::InvalidTtl(e)
    }
}

impl From<DecideError> for Error {
    fn from(e: DecideError) -> Self {
        Self::Rejected(e)
    }
}

impl From<ClockError> for Error {
    fn from(e: ClockError) -> Self {
        Self::Clock(e)
    }
}

impl From<rusqlite::Error> for Error {
    /// Classifies the SQLite failures a caller handles differently: busy, read-only; the rest stay
    /// [`Error::Sqlite`].
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy,
            Some(ErrorCode::ReadOnly) => Self::ReadOnly,
            _ => Self::Sqlite(e),
        }
    }
}
