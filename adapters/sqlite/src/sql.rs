//! Every SQL statement of the store, and nothing else. Each function here is one statement; the
//! store runs each through its [`Seam`](crate::Seam) (see `SqliteStore::run`).
//!
//! Each state-changing function is **one** write statement in autocommit mode, so SQLite runs it
//! as one write transaction: the `WHERE` that decides and the write that acts see the same row
//! under the same write lock, and no other connection can commit in between. That is the whole
//! fix for the check-then-act race this project exists for. `docs/sqlite.md` gives the argument
//! statement by statement.
//!
//! Times and tokens are bound as parameters (integer milliseconds on the store's clock, read by
//! the caller once per statement); no statement reads SQLite's own clock.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, named_params};

/// The columns of a stored row, in the order [`RawRow::from_row`] reads them.
macro_rules! columns {
    () => {
        "resource, owner, token, request_id, acquired_at, expires_at, status"
    };
}

/// The meta table. Its shape never changes between schema versions, so that any build can read
/// the version of any database.
pub(crate) const CREATE_META: &str =
    "CREATE TABLE leasehold_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT";

/// One row per resource: its last lease, valid or not. `STRICT` makes SQLite refuse a value of
/// another type, e.g. the REAL that `token + 1` becomes past `i64::MAX`.
pub(crate) const CREATE_LOCKS: &str = "CREATE TABLE leasehold_locks (
  resource    TEXT    PRIMARY KEY,
  owner       TEXT    NOT NULL,
  token       INTEGER NOT NULL CHECK (token > 0),
  request_id  BLOB    NOT NULL CHECK (length(request_id) = 16),
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  status      INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3)
) STRICT, WITHOUT ROWID";

/// Any delete — a prune, or an administrator's by hand — raises the high-water mark in the same
/// statement, so no token can be issued twice for a resource whose row was deleted.
pub(crate) const CREATE_HIGH_WATER_TRIGGER: &str =
    "CREATE TRIGGER leasehold_locks_keep_high_water \
AFTER DELETE ON leasehold_locks BEGIN
  UPDATE leasehold_meta SET value = MAX(value, OLD.token) WHERE key = 'pruned_high_water';
END";

const INSERT_META: &str = "INSERT INTO leasehold_meta (key, value) \
VALUES ('schema_version', :version), ('pruned_high_water', 0)";

/// The leasehold objects and how they were created, as SQLite keeps them.
const SCHEMA_OBJECTS: &str = "SELECT name, sql FROM sqlite_schema WHERE name IN \
('leasehold_meta', 'leasehold_locks', 'leasehold_locks_keep_high_water') ORDER BY name";

const SCHEMA_VERSION: &str = "SELECT value FROM leasehold_meta WHERE key = 'schema_version'";

const PRUNED_HIGH_WATER: &str = "SELECT value FROM leasehold_meta WHERE key = 'pruned_high_water'";

/// Grant if the resource is free. A vacant resource gets the token after the pruned high-water
/// mark; a recorded one gets its last token + 1, but only where the `WHERE` finds it free
/// (ended, or expired at `now`). When the lease is valid the `DO UPDATE` does nothing, writes
/// nothing and returns no row.
pub(crate) const ACQUIRE: &str = "INSERT INTO leasehold_locks (resource, owner, token, request_id, \
acquired_at, expires_at, status) VALUES (:resource, :owner, \
(SELECT value FROM leasehold_meta WHERE key = 'pruned_high_water') + 1, \
:request_id, :now, :expires_at, 0) \
ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner, token = leasehold_locks.token + 1, \
request_id = excluded.request_id, acquired_at = excluded.acquired_at, \
expires_at = excluded.expires_at, status = 0 \
WHERE leasehold_locks.status <> 0 OR leasehold_locks.expires_at <= excluded.acquired_at \
RETURNING token, acquired_at, expires_at";

/// Extend the lease with this token if it is valid at `now`; never shorten it.
pub(crate) const RENEW: &str = concat!(
    "UPDATE leasehold_locks SET expires_at = MAX(expires_at, :expires_at) \
WHERE resource = :resource AND token = :token AND status = 0 AND expires_at > :now RETURNING ",
    columns!()
);

/// End the lease with this token if it is active: `Released` (1) while valid, with the release
/// instant as its end; `ReleasedAfterExpiry` (2) once expired, keeping its expiry.
pub(crate) const RELEASE: &str = "UPDATE leasehold_locks \
SET status = CASE WHEN expires_at > :now THEN 1 ELSE 2 END, expires_at = MIN(expires_at, :now) \
WHERE resource = :resource AND token = :token AND status = 0 RETURNING status";

/// End whatever lease is valid at `now`. The expiry is kept, so `RETURNING` reports the evicted
/// holder's real expiry.
pub(crate) const EVICT: &str = concat!(
    "UPDATE leasehold_locks SET status = 3 \
WHERE resource = :resource AND status = 0 AND expires_at > :now RETURNING ",
    columns!()
);

/// Delete rows over for more than `idle` ms: `now - expires_at > idle`, written as
/// `expires_at < now - idle` so that nothing overflows (`0 <= idle, now <= i64::MAX`).
pub(crate) const PRUNE: &str = "DELETE FROM leasehold_locks \
WHERE NOT (status = 0 AND expires_at > :now) AND expires_at < :now - :idle";

pub(crate) const READ_LOCK: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leasehold_locks WHERE resource = :resource"
);

pub(crate) const LIST_LOCKS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leasehold_locks WHERE status = 0 AND expires_at > :now ORDER BY resource"
);

const READ_RECORDS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leasehold_locks ORDER BY resource"
);

/// A stored row as SQLite returns it, before the store checks it against the core's types.
#[derive(Debug)]
pub(crate) struct RawRow {
    pub(crate) resource: String,
    pub(crate) owner: String,
    pub(crate) token: i64,
    pub(crate) request_id: Vec<u8>,
    pub(crate) acquired_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) status: i64,
}

impl RawRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            resource: row.get(0)?,
            owner: row.get(1)?,
            token: row.get(2)?,
            request_id: row.get(3)?,
            acquired_at: row.get(4)?,
            expires_at: row.get(5)?,
            status: row.get(6)?,
        })
    }
}

/// What a successful acquire returns: `(token, acquired_at, expires_at)`.
pub(crate) type RawGrant = (i64, i64, i64);

/// The parameters of [`acquire`], already checked by the core.
pub(crate) struct AcquireParams<'a> {
    pub(crate) resource: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) request_id: [u8; 16],
    pub(crate) now: u64,
    pub(crate) expires_at: u64,
}

/// Runs a write with `RETURNING` to completion and maps its row, if any.
///
/// A write statement commits (in autocommit mode) when it finishes; stepping it to `SQLITE_DONE`
/// is what lets SQLite run its WAL hook after the commit, and that hook is where the automatic
/// checkpoint happens. Reading the one row and resetting the statement, as `query_row` does,
/// commits all the same but skips the hook: the WAL then grows without end (every commit adds a
/// frame, none is ever checkpointed), and fsyncs slow down as the file grows. A regression test
/// (`tests/sqlite/checkpoints.rs`) keeps the WAL bounded.
fn write_returning<T>(
    conn: &Connection,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let first = rows.next()?.map(map).transpose()?;
    // One row at most (the key is the resource); step on to SQLITE_DONE all the same.
    while rows.next()?.is_some() {}
    Ok(first)
}

pub(crate) fn acquire(
    conn: &Connection,
    p: &AcquireParams<'_>,
) -> rusqlite::Result<Option<RawGrant>> {
    let params = named_params! {
        ":resource": p.resource, ":owner": p.owner, ":request_id": p.request_id,
        ":now": p.now, ":expires_at": p.expires_at,
    };
    write_returning(conn, ACQUIRE, params, |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

pub(crate) fn renew(
    conn: &Connection,
    resource: &str,
    token: u64,
    now: u64,
    expires_at: u64,
) -> rusqlite::Result<Option<RawRow>> {
    let params = named_params! {
        ":resource": resource, ":token": token, ":now": now, ":expires_at": expires_at,
    };
    write_returning(conn, RENEW, params, RawRow::from_row)
}

pub(crate) fn release(
    conn: &Connection,
    resource: &str,
    token: u64,
    now: u64,
) -> rusqlite::Result<Option<i64>> {
    let params = named_params! { ":resource": resource, ":token": token, ":now": now };
    write_returning(conn, RELEASE, params, |row| row.get(0))
}

pub(crate) fn evict(
    conn: &Connection,
    resource: &str,
    now: u64,
) -> rusqlite::Result<Option<RawRow>> {
    let params = named_params! { ":resource": resource, ":now": now };
    write_returning(conn, EVICT, params, RawRow::from_row)
}

pub(crate) fn prune(conn: &Connection, now: u64, idle_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(PRUNE)?
        .execute(named_params! { ":now": now, ":idle": idle_ms })
}

pub(crate) fn read_lock(conn: &Connection, resource: &str) -> rusqlite::Result<Option<RawRow>> {
    conn.prepare_cached(READ_LOCK)?
        .query_row(named_params! { ":resource": resource }, RawRow::from_row)
        .optional()
}

pub(crate) fn list_locks(conn: &Connection, now: u64) -> rusqlite::Result<Vec<RawRow>> {
    let mut statement = conn.prepare_cached(LIST_LOCKS)?;
    let rows = statement.query_map(named_params! { ":now": now }, RawRow::from_row)?;
    rows.collect()
}

pub(crate) fn read_records(conn: &Connection) -> rusqlite::Result<Vec<RawRow>> {
    let mut statement = conn.prepare_cached(READ_RECORDS)?;
    let rows = statement.query_map([], RawRow::from_row)?;
    rows.collect()
}

pub(crate) fn pruned_high_water(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(PRUNED_HIGH_WATER, [], |row| row.get(0))
}

/// `BEGIN IMMEDIATE`: takes the write lock now rather than at the first write, so nothing can
/// commit between what the transaction reads and what it writes.
pub(crate) fn begin_immediate(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// The leasehold objects in the database: `(name, sql)`, ordered by name.
pub(crate) fn schema_objects(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement = conn.prepare(SCHEMA_OBJECTS)?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// The schema version stored in `leasehold_meta`, if the row is there.
pub(crate) fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(SCHEMA_VERSION, [], |row| row.get(0))
        .optional()
}

/// Creates the schema. Runs inside the caller's `BEGIN IMMEDIATE` transaction.
pub(crate) fn create_schema(tx: &Transaction<'_>, version: i64) -> rusqlite::Result<()> {
    tx.execute(CREATE_META, [])?;
    tx.execute(CREATE_LOCKS, [])?;
    tx.execute(CREATE_HIGH_WATER_TRIGGER, [])?;
    tx.execute(INSERT_META, named_params! { ":version": version })?;
    Ok(())
}

/// Sets WAL mode and the `synchronous` level. Returns the journal mode now in force.
pub(crate) fn set_durability(conn: &Connection, synchronous: &str) -> rusqlite::Result<String> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    Ok(mode)
}
