//! [`SqliteStore`]: opening, and the one function every statement runs through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use leasehold_contract::{Clock, Lease, RequestIds, StoreId};
use leasehold_core::{DecideError, RequestId, Timestamp, check_clock};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::Error;
use crate::line::Lines;
use crate::lock_wait::LockWait;
use crate::options::Options;
use crate::seam::{Direct, Seam, Statement};

/// The oldest SQLite that has everything the schema and statements use: `STRICT` tables (3.37;
/// `RETURNING` needs 3.35).
const MIN_SQLITE: i32 = 3_037_000;

/// SQLite's extended result code for a value of the wrong type in a `STRICT` column. The acquire
/// statement gets it when `token + 1` passes `i64::MAX` and SQLite makes the sum a REAL.
const SQLITE_CONSTRAINT_DATATYPE: i32 = 3091;
/// SQLite's extended result code for `RAISE(ABORT, …)` in a trigger: the acquire statement gets
/// it from the guard that refuses a new row's token at or below the high-water mark.
const SQLITE_CONSTRAINT_TRIGGER: i32 = 1811;

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
    store_id: StoreId,
    /// The lines of waiting acquires, shared with every process of the database where possible.
    pub(crate) lines: Lines,
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
    /// [`Error::NotADatabase`], [`Error::Corrupt`], [`Error::SchemaTooNew`],
    /// [`Error::SchemaMismatch`], [`Error::UnsafeSetting`], [`Error::ReadOnly`],
    /// [`Error::CannotOpen`], [`Error::Busy`], [`Error::SqliteTooOld`], [`Error::Random`] or
    /// [`Error::Sqlite`]. The file is left as it was, except that a database this build can use
    /// is switched to WAL mode first.
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
    /// [`Error::InTransaction`] when the connection is inside a transaction, and
    /// [`Error::UnsafeSetting`] when it has a setting that would break the store's promises
    /// (triggers disabled, `CHECK` constraints ignored, built-in functions replaced, `TEMP`
    /// objects named like leasehold's, no rollback journal); otherwise as [`SqliteStore::open`].
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
        let durability = Some(options.durability);
        Self::new(conn, options, path.to_path_buf(), durability)
    }

    /// Uses an application's own connection with `options`; see
    /// [`SqliteStore::from_connection`]. [`Options::durability`] is ignored.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::from_connection`].
    pub fn from_connection_with(conn: Connection, options: Options<S>) -> Result<Self, Error> {
        check_sqlite_version()?;
        let path = PathBuf::from(conn.path().unwrap_or_default());
        Self::new(conn, options, path, None)
    }

    fn new(
        conn: Connection,
        options: Options<S>,
        path: PathBuf,
        durability: Option<crate::Durability>,
    ) -> Result<Self, Error> {
        // No busy handler: a statement that cannot take the write lock fails at once, having done
        // nothing, and the store waits and retries with a fresh clock reading (see `lock_wait`).
        conn.busy_timeout(Duration::ZERO)?;
        crate::setup::connection::check_links(&path)?;
        let (shared_line, line_capacity) = (options.shared_line, options.line_capacity);
        // `open` sets `synchronous` from the durability; an application's connection keeps its
        // own (1 is NORMAL, 2 FULL, 3 EXTRA).
        let fsynced = match durability {
            Some(durability) => durability == crate::Durability::Full,
            None => conn
                .pragma_query_value(None, "synchronous", |row| row.get::<_, i64>(0))
                .map_or(true, |level| level >= 2),
        };
        let mut store = Self {
            conn: Mutex::new(conn),
            clock: options.clock,
            seam: options.seam,
            path,
            busy_timeout: options.busy_timeout,
            request_ids: RequestIds::new().map_err(Error::Random)?,
            // Set from the database below, before anyone can see the store.
            store_id: StoreId::from_u64(0),
            lines: Lines::new(None, line_capacity, fsynced),
        };
        store.store_id = store.prepare(durability)?;
        // The file exists now: its absolute path names the lines every process shares.
        if shared_line && !store.path.as_os_str().is_empty() {
            let database = std::fs::canonicalize(&store.path).ok();
            store.lines = Lines::new(database.as_deref(), line_capacity, fsynced);
        }
        Ok(store)
    }

    /// This database's identity, carried by every lease it grants (see
    /// [`StoreId`](leasehold_contract::StoreId)).
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        self.store_id
    }

    /// A fresh request id for an acquire attempt of this store: use it with
    /// [`try_acquire_with_id`](SqliteStore::try_acquire_with_id), and again only to retry that
    /// attempt after a lost reply.
    #[must_use]
    pub fn new_request_id(&self) -> RequestId {
        self.request_ids.next()
    }

    /// Refuses a lease another store granted.
    pub(crate) fn check_own(&self, lease: &Lease) -> Result<(), Error> {
        if lease.store_id() == self.store_id {
            return Ok(());
        }
        Err(Error::ForeignLease {
            lease: lease.store_id(),
            store: self.store_id,
        })
    }

    /// The store's clock reading, checked by the core.
    pub(crate) fn now(&self) -> Result<Timestamp, Error> {
        let now = self.clock.now()?;
        check_clock(now)?;
        Ok(now)
    }

    /// Runs one statement through the seam: with [`SqliteStore::run_now`], the only way this
    /// crate touches the database after opening it.
    pub(crate) fn run<T>(
        &self,
        statement: Statement,
        mut f: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        self.run_waiting(statement, None, |conn| f(conn).map(Ok))
    }

    /// Runs one statement at `now`: the clock is read once the store holds its connection,
    /// immediately before SQLite runs the statement, which never waits for a lock. When another
    /// connection holds the write lock the attempt does nothing; the store waits and tries again
    /// with a new reading. So a statement is judged, and its lease stamped, at the moment it runs.
    /// `f` may refuse the reading (an expiry past `Timestamp::MAX`) with an [`Error`] before it
    /// sends anything; that error is returned as it is.
    pub(crate) fn run_now<T>(
        &self,
        statement: Statement,
        f: impl FnMut(&mut Connection, Timestamp) -> rusqlite::Result<Result<T, Error>>,
    ) -> Result<(T, Timestamp), Error> {
        self.run_now_freeing(statement, None, f)
    }

    /// [`SqliteStore::run_now`] for a statement that may free `freed`'s lease (a release, an
    /// eviction): once it has run, the front waiter for that lease is woken.
    pub(crate) fn run_now_freeing<T>(
        &self,
        statement: Statement,
        freed: Option<&str>,
        mut f: impl FnMut(&mut Connection, Timestamp) -> rusqlite::Result<Result<T, Error>>,
    ) -> Result<(T, Timestamp), Error> {
        self.run_waiting(statement, freed, |conn| match self.now() {
            Ok(now) => Ok(f(conn, now)?.map(|t| (t, now))),
            Err(e) => Ok(Err(e)),
        })
    }

    /// One seam call per attempt; a busy database is waited out until the busy timeout, in the
    /// line for the write lock for a write. After a write, whoever waits is woken (see
    /// `line`): the line for the write lock, and `freed`'s line.
    pub(crate) fn run_waiting<T>(
        &self,
        statement: Statement,
        freed: Option<&str>,
        mut attempt: impl FnMut(&mut Connection) -> rusqlite::Result<Result<T, Error>>,
    ) -> Result<T, Error> {
        let writes = statement.writes();
        let mut wait = LockWait::new(self.busy_timeout);
        let mut place = if writes {
            self.lines.defer_write()
        } else {
            None
        };
        if let Some(place) = &mut place {
            place.wait_for_turn(wait.deadline());
        }
        let outcome = loop {
            if let Some(place) = &mut place {
                place.mark();
            }
            match self.seam.run(statement, || attempt(&mut self.lock())) {
                Ok(result) => break result,
                Err(e) if is_busy(&e) && writes && wait.pause_in_line(&self.lines, &mut place) => {}
                Err(e) if is_busy(&e) && !writes && wait.pause() => {}
                Err(e) => break Err(classify(&self.path, statement, e)),
            }
        };
        if let Some(mut place) = place {
            // Leaves without waking: the wake below, after the statement, is the hand-over.
            place.granted();
        }
        if writes {
            self.lines.after_write(freed);
        }
        outcome
    }

    /// A wait for the write lock with this store's busy timeout.
    pub(crate) fn lock_wait(&self) -> LockWait {
        LockWait::new(self.busy_timeout)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held (only possible inside a `with_fence` closure) unwound
        // through the fenced transaction, which then rolled back: the connection is back in
        // autocommit mode with nothing pending, so it is safe to keep using.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Seam> fmt::Debug for SqliteStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("store_id", &self.store_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The one mapping from an SQLite failure of `statement` to the store's [`Error`].
fn classify(path: &Path, statement: Statement, e: rusqlite::Error) -> Error {
    let extended = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        _ => None,
    };
    match (e.sqlite_error_code(), extended) {
        (Some(ErrorCode::NotADatabase), _) => Error::NotADatabase {
            path: path.to_path_buf(),
        },
        (_, Some(SQLITE_CONSTRAINT_DATATYPE | SQLITE_CONSTRAINT_TRIGGER))
            if statement == Statement::Acquire =>
        {
            Error::Rejected(DecideError::TokensExhausted)
        }
        _ => Error::from(e),
    }
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
