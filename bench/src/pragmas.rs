//! The same connection settings for every contender: what `SqliteStore::open_with` sets (WAL,
//! the durability's `synchronous`, no SQLite-level mutex), applied to the raw connections of the
//! floor and the transactional contender (with SQLite's own busy handler, as an application of
//! rusqlite gets). `CheckThenActStore::open` sets the same `synchronous` on its connection.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};

use crate::locker::Durability;

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
