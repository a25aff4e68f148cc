//! [`Error`]: misuse and storage failures. Contention is never an error; it is an answer.

use std::fmt;
use std::path::PathBuf;

use leasehold_contract::row::CorruptRow;
use leasehold_contract::{ClockError, ErrorKind, StoreError, StoreId};
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
    /// The lease was granted by another store (another database file, or this path after the
    /// database was deleted and created again): renewing, releasing or fencing with it here would
    /// act on an unrelated lease that happens to have the same resource name and token.
    ForeignLease {
        /// The store that granted the lease.
        lease: StoreId,
        /// This store.
        store: StoreId,
    },
    /// The file exists but is not an SQLite database (its bytes were left as they were).
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
    },
    /// SQLite found the database file damaged (`SQLITE_CORRUPT`); nothing was written.
    Corrupt(rusqlite::Error),
    /// The disk or the file system is full (`SQLITE_FULL`); the statement was rolled back, and
    /// everything committed before it is intact.
    StorageFull(rusqlite::Error),
    /// The database holds a leasehold schema newer than this build understands.
    SchemaTooNew {
        /// The schema version found in `leasehold_meta`.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// A `leasehold_*` table, trigger or meta row exists but is not what this build's schema
    /// has: another program's objects, a hand edit, or a schema version this build never wrote.
    SchemaMismatch {
        /// The table, trigger or meta row that differs.
        object: &'static str,
        /// What was found, or `None` when it is missing while other leasehold objects exist.
        found: Option<String>,
    },
    /// The connection handed to the store is inside a transaction. Every statement of the store
    /// would run inside it, invisible to other connections and rolled back with it: a grant would
    /// be undone behind its holder's back and its token issued again.
    InTransaction,
    /// The connection or database has a setting under which the store cannot keep its promises
    /// (triggers disabled, `CHECK` constraints ignored, a built-in function replaced, a `TEMP`
    /// object shadowing or intercepting a leasehold table, no rollback journal, WAL refused).
    UnsafeSetting {
        /// The setting.
        setting: &'static str,
        /// What was found.
        found: String,
    },
    /// The database (or its directory, which WAL mode must write to) cannot be written, or the
    /// connection is `query_only`.
    ReadOnly,
    /// The file could not be opened or created (a missing directory, no permission).
    CannotOpen {
        /// The file that was opened.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another connection held the database lock past the busy timeout; nothing changed.
    /// Retrying later is safe.
    Busy,
    /// The resource's row changed under the operation for as many rounds as it may try (each
    /// round means another client's transition committed in between); nothing changed by this
    /// call. Retrying is safe.
    Contended {
        /// How many rounds were tried.
        rounds: usize,
    },
    /// A [`with_fence`](crate::SqliteStore::with_fence) closure ended the transaction itself
    /// (`COMMIT` or `ROLLBACK`); whatever it wrote before that is as it left it.
    FenceEnded,
    /// The linked SQLite library is older than the features the schema needs.
    SqliteTooOld {
        /// The linked library's version, e.g. `3.31.1`.
        found: String,
        /// The oldest version that works.
        required: &'static str,
    },
    /// The clock could not give a usable reading.
    Clock(ClockError),
    /// The operating system's random number source failed (read once per store, for its request
    /// ids, and once per database, for its store id).
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "invalid name: {e}"),
            Self::InvalidTtl(e) => write!(f, "invalid ttl: {e}"),
            Self::Rejected(e) => write!(f, "request refused: {e}"),
            Self::ForeignLease { lease, store } => write!(
                f,
                "the lease was granted by store {lease}, not by this store ({store})"
            ),
            Self::NotADatabase { path } => {
                write!(f, "{} is not an SQLite database", path.display())
            }
            Self::Corrupt(e) => write!(f, "the database file is damaged: {e}"),
            Self::StorageFull(e) => write!(f, "the disk is full: {e}"),
            Self::SchemaTooNew { found, supported } => write!(
                f,
                "leasehold schema version {found} is newer than this build's {supported}"
            ),
            Self::SchemaMismatch { object, found } => match found {
                Some(found) => write!(f, "{object} is not leasehold's: found {found}"),
                None => write!(f, "{object} is missing from a leasehold schema"),
            },
            Self::InTransaction => {
                f.write_str("the connection is inside a transaction; commit or roll it back first")
            }
            Self::UnsafeSetting { setting, found } => {
                write!(f, "unsafe setting for a lock store: {setting} ({found})")
            }
            Self::ReadOnly => f.write_str("the lock database cannot be written"),
            Self::CannotOpen { path, .. } => write!(f, "cannot open {}", path.display()),
            Self::Busy => f.write_str("the database stayed locked past the busy timeout"),
            Self::Contended { rounds } => write!(
                f,
                "the row changed under the operation in each of its {rounds} rounds"
            ),
            Self::FenceEnded => f.write_str("the fenced closure ended the transaction itself"),
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
            Self::Sqlite(e)
            | Self::Corrupt(e)
            | Self::StorageFull(e)
            | Self::CannotOpen { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl StoreError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidName(_) | Self::InvalidTtl(_) | Self::Rejected(_) => {
                ErrorKind::InvalidInput
            }
            Self::ForeignLease { .. } => ErrorKind::ForeignLease,
            Self::Busy | Self::Contended { .. } => ErrorKind::Busy,
            Self::Clock(_) | Self::Random(_) => ErrorKind::Environment,
            Self::NotADatabase { .. }
            | Self::SchemaTooNew { .. }
            | Self::SchemaMismatch { .. }
            | Self::InTransaction
            | Self::UnsafeSetting { .. }
            | Self::ReadOnly
            | Self::SqliteTooOld { .. }
            | Self::FenceEnded => ErrorKind::Setup,
            Self::CannotOpen { .. } => ErrorKind::Unavailable,
            Self::Corrupt(_) | Self::StorageFull(_) | Self::CorruptRow { .. } | Self::Sqlite(_) => {
                ErrorKind::Storage
            }
        }
    }

    fn decide_error(&self) -> Option<DecideError> {
        match self {
            Self::Rejected(e) => Some(*e),
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

impl From<CorruptRow> for Error {
    fn from(e: CorruptRow) -> Self {
        Self::CorruptRow {
            resource: e.resource,
            reason: e.reason,
        }
    }
}

impl From<ClockError> for Error {
    fn from(e: ClockError) -> Self {
        Self::Clock(e)
    }
}

impl From<rusqlite::Error> for Error {
    /// Classifies the SQLite failures a caller handles differently: busy, read-only, full,
    /// corrupt; the rest stay [`Error::Sqlite`].
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy,
            Some(ErrorCode::ReadOnly) => Self::ReadOnly,
            Some(ErrorCode::DiskFull) => Self::StorageFull(e),
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt(e),
            _ => Self::Sqlite(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use leasehold_contract::StoreError as _;

    use super::*;

    fn sqlite_error() -> rusqlite::Error {
        rusqlite::Error::InvalidQuery
    }

    /// Every variant says something of its own, naming what it carries.
    #[test]
    fn every_error_has_a_message_of_its_own() {
        let errors = [
            Error::InvalidName(NameError::Empty {
                kind: leasehold_core::NameKind::Resource,
            }),
            Error::InvalidTtl(TtlError::Zero),
            Error::Rejected(DecideError::TokensExhausted),
            Error::ForeignLease {
                lease: StoreId::from_u64(1),
                store: StoreId::from_u64(2),
            },
            Error::NotADatabase {
                path: PathBuf::from("/x/app.db"),
            },
            Error::Corrupt(sqlite_error()),
            Error::StorageFull(sqlite_error()),
            Error::SchemaTooNew {
                found: 9,
                supported: 2,
            },
            Error::InTransaction,
            Error::UnsafeSetting {
                setting: "triggers disabled",
                found: "off".into(),
            },
            Error::ReadOnly,
            Error::CannotOpen {
                path: PathBuf::from("/x/other.db"),
                source: sqlite_error(),
            },
            Error::Busy,
            Error::Contended { rounds: 64 },
            Error::FenceEnded,
            Error::Clock(ClockError::BeforeEpoch),
            Error::Random(getrandom::Error::UNSUPPORTED),
            Error::CorruptRow {
                resource: "plan/42".into(),
                reason: "invalid owner",
            },
            Error::Sqlite(sqlite_error()),
        ];
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let mut unique = texts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), texts.len(), "{texts:#?}");
        for (text, needle) in texts.iter().zip([
            "",
            "",
            "",
            "",
            "/x/app.db",
            "",
            "",
            "9",
            "transaction",
            "triggers disabled",
            "",
            "/x/other.db",
            "",
            "64",
            "",
            "",
            "random",
            "plan/42",
            "",
        ]) {
            assert!(!text.is_empty());
            assert!(text.contains(needle), "{text:?} does not name {needle:?}");
        }
    }

    /// The errors that wrap another give it as their source; the others have none.
    #[test]
    fn wrapped_errors_are_the_source() {
        let has_source = |e: Error| e.source().is_some();
        assert!(has_source(Error::InvalidName(NameError::Empty {
            kind: leasehold_core::NameKind::Resource
        })));
        assert!(has_source(Error::InvalidTtl(TtlError::Zero)));
        assert!(has_source(Error::Rejected(DecideError::TokensExhausted)));
        assert!(has_source(Error::Clock(ClockError::BeforeEpoch)));
        assert!(has_source(Error::Random(getrandom::Error::UNSUPPORTED)));
        for wrapped in [
            Error::Sqlite(sqlite_error()),
            Error::Corrupt(sqlite_error()),
            Error::StorageFull(sqlite_error()),
            Error::CannotOpen {
                path: PathBuf::new(),
                source: sqlite_error(),
            },
        ] {
            assert!(has_source(wrapped));
        }
        assert!(!has_source(Error::Busy));
        assert!(!has_source(Error::InTransaction));
    }

    #[test]
    fn only_a_rejection_carries_the_cores_decision_error() {
        assert_eq!(
            Error::Rejected(DecideError::TokensExhausted).decide_error(),
            Some(DecideError::TokensExhausted)
        );
        assert_eq!(Error::Busy.decide_error(), None);
    }
}
