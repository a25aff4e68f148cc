//! [`SqliteStore`]: opening, and the one function every statement runs through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leasehold_core::{DecideError, RequestId, Timestamp, check_clock};
use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags};

use crate::busy;
use crate::clock::Clock;
use crate::error::Error;
use crate::options::{Durability, Options};
use crate::schema::{self, Found};
use crate::seam::{Direct, Seam, Statement};
use crate::sql;
use crate::turns::Turns;

/// The oldest SQLite that has everything the schema and statements use: `STRICT` tables (3.37;
/// `RETURNING` needs 3.35).
const MIN_SQLITE: i32 = 3_037_000;

/// SQLite's extended result code for a value of the wrong type in a `STRICT` column. The acquire
/// statement gets it when `token + 1` passes `i64::MAX` and SQLite makes the sum a REAL.
const SQLITE_CONSTRAINT_DATATYPE: i32 = 3091;

/// A lock store in one SQLite database. See the [crate documentation](crate) for what it
/// guarantees.
///
/// One store holds one connection behind a mutex, so threads of one process that share a store
/// take turns without SQLite's sleeping busy handler; separate stores (in other threads or
/// processes) on the same file coordinate through SQLite's file locks.
pub struct SqliteStore<S: Seam = Direct> {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    seam: S,
    path: PathBuf,
    busy_timeout: Duration,
    request_ids: RequestIds,
    pub(crate) turns: Turns,
}

/// Request ids for this store's acquires: a random 64-bit prefix drawn once per store, then a
/// counter. Unique within the store, and across stores unless two draw the same prefix (one
/// chance in 2^64 per pair); one system call per store instead of one per acquire.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Result<Self, Error> {
        Ok(Self {
            prefix: getrandom::u64().map_err(Error::Random)?,
            next: AtomicU64::new(0),
        })
    }

    fn next(&self) -> RequestId {
        let counter = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId::from_u128((u128::from(self.prefix) << 64) | u128::from(counter))
    }
}

// The store is shared between threads; this fails to compile if a field ever stops allowing it.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SqliteStore>();
};

impl SqliteStore {
    /// Opens (creating the file and schema if missing) the lock database at `path` with the
    /// default [`Options`]: durable grants, 5 s busy timeout, the system clock.
    ///
    /// # Errors
    ///
    /// [`Error::NotADatabase`], [`Error::SchemaTooNew`], [`Error::SchemaMismatch`],
    /// [`Error::ReadOnly`], [`Error::Busy`], [`Error::SqliteTooOld`], [`Error::Random`] (the
    /// operating system's random source, read once per store for its request ids) or
    /// [`Error::Sqlite`]; the file is left as it was in each case except the last.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, Options::new())
    }

    /// Uses an application's own connection, creating the `leasehold_*` tables if missing.
    ///
    /// The application's tables, its `PRAGMA user_version`, its journal mode and its
    /// `synchronous` setting are left alone: durability is then whatever the application chose.
    /// The connection's busy handler is removed: the store waits for the write lock itself (up to
    /// [`Options::busy_timeout`], 5 s by default), so that every statement reads the clock when
    /// it runs. Only the store uses the connection afterwards (and `with_fence` closures, inside
    /// a transaction that already holds the write lock).
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub fn from_connection(conn: Connection) -> Result<Self, Error> {
        Self::from_connection_with(conn, Options::new())
    }
}

impl<S: Seam> SqliteStore<S> {
    /// Opens the lock database at `path` with `options`; see [`SqliteStore::open`].
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: Options<S>) -> Result<Self, Error> {
        check_sqlite_version()?;
        let path = path.as_ref();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        let durability = options.durability;
        let store = Self::new(conn, options, path.to_path_buf())?;
        store.prepare(Some(durability))?;
        Ok(store)
    }

    /// Uses an application's own connection with `options`; see
    /// [`SqliteStore::from_connection`]. [`Options::durability`] is ignored.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub fn from_connection_with(conn: Connection, options: Options<S>) -> Result<Self, Error> {
        check_sqlite_version()?;
        let path = PathBuf::from(conn.path().unwrap_or_default());
        let store = Self::new(conn, options, path)?;
        store.prepare(None)?;
        Ok(store)
    }

    fn new(conn: Connection, options: Options<S>, path: PathBuf) -> Result<Self, Error> {
        // No busy handler: a statement that cannot take the write lock fails at once, having done
        // nothing, and the store waits and retries with a fresh clock reading (see `busy`).
        conn.busy_timeout(Duration::ZERO)?;
        Ok(Self {
            conn: Mutex::new(conn),
            clock: options.clock,
            seam: options.seam,
            path,
            busy_timeout: options.busy_timeout,
            request_ids: RequestIds::new()?,
            turns: Turns::default(),
        })
    }

    /// Checks the database and creates the schema if needed, reading before anything is written
    /// so that a database this build must refuse is left untouched.
    fn prepare(&self, durability: Option<Durability>) -> Result<(), Error> {
        if self.run(Statement::Schema, |c| c.is_readonly(MAIN_DB))? {
            return Err(Error::ReadOnly);
        }
        let found = schema::check(&self.run(Statement::Schema, |c| schema::inspect(c))?)?;
        if let Some(durability) = durability {
            let synchronous = match durability {
                Durability::Full => "FULL",
                Durability::Relaxed => "NORMAL",
            };
            self.run(Statement::Schema, |c| sql::set_durability(c, synchronous))?;
        }
        if found == Found::Absent {
            schema::check(&self.run(Statement::Schema, schema::create)?)?;
        }
        Ok(())
    }

    /// A request id for a new acquire attempt of this store.
    pub(crate) fn next_request_id(&self) -> RequestId {
        self.request_ids.next()
    }

    /// The store's clock reading for one statement, checked by the core.
    pub(crate) fn now(&self) -> Result<Timestamp, Error> {
        let now = self.clock.now()?;
        check_clock(now)?;
        Ok(now)
    }

    /// Runs one statement through the seam: with [`SqliteStore::run_now`], the only way this
    /// crate touches the database.
    pub(crate) fn run<T>(
        &self,
        statement: Statement,
        mut f: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        self.run_waiting(statement, |conn| f(conn).map(Ok))
    }

    /// Runs one statement at `now`: the clock is read once the store holds its connection,
    /// immediately before SQLite runs the statement, which never waits for a lock. When another
    /// connection holds the write lock the attempt does nothing; the store waits and tries again
    /// with a new reading. So a statement is judged, and its lease stamped, at the moment it runs.
    /// `f` may refuse the reading (an expiry past `Timestamp::MAX`) with an [`Error`], which is
    /// returned as it is.
    pub(crate) fn run_now<T>(
        &self,
        statement: Statement,
        mut f: impl FnMut(&mut Connection, Timestamp) -> rusqlite::Result<Result<T, Error>>,
    ) -> Result<(T, Timestamp), Error> {
        self.run_waiting(statement, |conn| match self.now() {
            Ok(now) => Ok(f(conn, now)?.map(|t| (t, now))),
            Err(e) => Ok(Err(e)),
        })
    }

    /// One seam call per attempt; a busy database is waited out until the busy timeout.
    pub(crate) fn run_waiting<T>(
        &self,
        statement: Statement,
        mut attempt: impl FnMut(&mut Connection) -> rusqlite::Result<Result<T, Error>>,
    ) -> Result<T, Error> {
        let mut wait = busy::Wait::new(self.busy_timeout);
        loop {
            match self.seam.run(statement, || attempt(&mut self.lock())) {
                Ok(result) => return result,
                Err(e) if is_busy(&e) && wait.pause() => {}
                Err(e) => return Err(self.error(statement, e)),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while the lock was held (only possible inside a `with_fence` closure) unwound
        // through a `rusqlite::Transaction`, whose drop rolled it back: the connection is back in
        // autocommit mode with nothing pending, so it is safe to keep using.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, statement: Statement, e: rusqlite::Error) -> Error {
        let extended = match &e {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
            _ => None,
        };
        match (e.sqlite_error_code(), extended) {
            (Some(ErrorCode::NotADatabase), _) => Error::NotADatabase {
                path: self.path.clone(),
            },
            (_, Some(SQLITE_CONSTRAINT_DATATYPE)) if statement == Statement::Acquire => {
                Error::Rejected(DecideError::TokensExhausted)
            }
            _ => Error::from(e),
        }
    }
}

impl<S: Seam> fmt::Debug for SqliteStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

fn check_sqlite_version() -> Result<(), Error> {
    let version = rusqlite::version_number();
    if version >= MIN_SQLITE {
        return Ok(());
    }
    Err(Error::SqliteTooOld {
        found: format!(
            "{}.{}.{}",
            version / 1_000_000,
            version / 1_000 % 1_000,
            version % 1_000
        ),
        required: "3.37.0",
    })
}

/// Classifies a failure to open the file at all. SQLite says only "cannot open"; when the file's
/// directory has no write permission at all, that is why (the file cannot be created).
fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotADatabase {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::CannotOpen) if directory_is_read_only(path) => Error::ReadOnly,
        Some(ErrorCode::CannotOpen) => Error::CannotOpen {
            path: path.to_path_buf(),
            source: e,
        },
        _ => Error::from(e),
    }
}

fn directory_is_read_only(path: &Path) -> bool {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::metadata(directory).is_ok_and(|m| m.permissions().readonly())
}

#[cfg(test)]
mod tests {
    use super::RequestIds;

    #[test]
    fn request_ids_never_repeat_within_a_store_and_differ_between_stores() {
        let first = RequestIds::new().expect("random source");
        let second = RequestIds::new().expect("random source");
        let ids: Vec<_> = (0..1_000).map(|_| first.next()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "a store repeated a request id");
        assert_ne!(
            first.prefix, second.prefix,
            "two stores drew the same prefix"
        );
        assert!(
            !ids.contains(&second.next()),
            "two stores issued the same id"
        );
    }
}
