//! The same connection settings for every contender: what `SqliteStore::open_with` sets (WAL,
//! the durability's `synchronous`, a 5 s busy timeout, no SQLite-level mutex), applied to the raw
//! connections of the floor and the transactional contender, and — through SQLite's
//! auto-extension hook — to the connection `CheckThenActStore` opens privately.

use std::ffi::{c_char, c_int};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::auto_extension::{
    cancel_auto_extension, init_auto_extension, register_auto_extension,
};
use rusqlite::{Connection, OpenFlags, ffi};

use crate::contender::Durability;
use crate::error::BenchError;

/// `leasehold_sqlite::Options::new`'s busy timeout.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a raw connection with the store's settings.
pub(crate) fn open_raw(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", durability.synchronous())?;
    Ok(conn)
}

/// `now` as every contender computes it: the store's `SystemClock`, whole milliseconds since the
/// Unix epoch.
pub(crate) fn now_millis() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `open` with every connection SQLite opens meanwhile set to `durability`'s
/// `synchronous`. `CheckThenActStore` opens its connection with no way to set pragmas; without
/// this it would run `synchronous=FULL` (SQLite's default) in relaxed mode too, and its figures
/// would compare nothing.
pub(crate) fn with_synchronous<T>(
    durability: Durability,
    open: impl FnOnce() -> T,
) -> Result<T, BenchError> {
    let hook = match durability {
        Durability::Full => set_synchronous::<true>,
        Durability::Relaxed => set_synchronous::<false>,
    };
    // SAFETY: the hook opens no database, closes none and leaves the auto-extension list alone:
    // it runs one PRAGMA on the connection being opened (see `synchronous_hook`).
    #[allow(unsafe_code)]
    unsafe {
        register_auto_extension(hook)?;
    }
    let opened = open();
    cancel_auto_extension(hook);
    Ok(opened)
}

/// The auto-extension entry point SQLite calls for each connection it opens.
#[allow(unsafe_code)]
unsafe extern "C" fn set_synchronous<const FULL: bool>(
    db: *mut ffi::sqlite3,
    error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let hook = if FULL {
        synchronous_hook::<true>
    } else {
        synchronous_hook::<false>
    };
    // SAFETY: SQLite passes the handle of the connection it is opening and a valid error slot;
    // `synchronous_hook` neither opens nor closes a database.
    unsafe { init_auto_extension(db, error, hook) }
}

fn synchronous_hook<const FULL: bool>(conn: Connection) -> rusqlite::Result<()> {
    let level = if FULL { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA synchronous", [], |row| row.get(0))
            .expect("a pragma read")
    }

    #[test]
    fn connections_opened_under_the_hook_get_its_level_and_later_ones_do_not() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("hook.db");
        let relaxed = with_synchronous(Durability::Relaxed, || Connection::open(&path))
            .expect("hook registered")
            .expect("opened");
        assert_eq!(synchronous(&relaxed), 1, "NORMAL under the hook");
        let full = with_synchronous(Durability::Full, || Connection::open(&path))
            .expect("hook registered")
            .expect("opened");
        assert_eq!(synchronous(&full), 2, "FULL under the hook");
        let plain = Connection::open(&path).expect("opened");
        let raw = open_raw(&path, Durability::Relaxed).expect("opened");
        assert_eq!((synchronous(&plain), synchronous(&raw)), (2, 1));
    }
}
