//! [`BenchError`]: why a benchmark run failed.

use std::fmt;

/// Why a benchmark, a worker or the report could not be completed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BenchError {
    /// A raw SQLite call of the floor, the transactional contender or the setup failed.
    Sqlite(rusqlite::Error),
    /// `SqliteStore` (or the check-then-act store built on it) failed.
    Store(leasehold_sqlite::Error),
    /// `PgStore` failed.
    PgStore(leasehold_postgres::Error),
    /// A raw PostgreSQL call of the floor, the advisory locks, the commit floor or the setup
    /// failed.
    Postgres(postgres::Error),
    /// Starting the throwaway PostgreSQL cluster failed.
    Cluster(leasehold_pg_harness::Error),
    /// A file, pipe or child process failed.
    Io(std::io::Error),
    /// A worker, a file or an argument said something the bench does not understand.
    Protocol(String),
}

impl BenchError {
    /// Whether the database lock stayed taken past the busy timeout: a contention figure the
    /// bench counts, not a reason to stop the run.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Store(e) => matches!(e, leasehold_sqlite::Error::Busy),
            Self::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol(message.into())
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "sqlite: {e}"),
            Self::Store(e) => write!(f, "store: {e}"),
            Self::PgStore(e) => write!(f, "PgStore: {e}"),
            Self::Postgres(e) => write!(f, "postgres: {e}"),
            Self::Cluster(e) => write!(f, "PostgreSQL cluster: {e}"),
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::Protocol(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sqlite(e) => Some(e),
            Self::Store(e) => Some(e),
            Self::PgStore(e) => Some(e),
            Self::Postgres(e) => Some(e),
            Self::Cluster(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Protocol(_) => None,
        }
    }
}

impl From<rusqlite::Error> for BenchError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<leasehold_sqlite::Error> for BenchError {
    fn from(e: leasehold_sqlite::Error) -> Self {
        Self::Store(e)
    }
}

impl From<leasehold_postgres::Error> for BenchError {
    fn from(e: leasehold_postgres::Error) -> Self {
        Self::PgStore(e)
    }
}

impl From<postgres::Error> for BenchError {
    fn from(e: postgres::Error) -> Self {
        Self::Postgres(e)
    }
}

impl From<leasehold_pg_harness::Error> for BenchError {
    fn from(e: leasehold_pg_harness::Error) -> Self {
        Self::Cluster(e)
    }
}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for BenchError {
    fn from(e: serde_json::Error) -> Self {
        Self::Protocol(format!("json: {e}"))
    }
}
