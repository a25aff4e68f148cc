//! The floors: [`Floor`] runs `SqliteStore`'s own acquire and release statements on a raw
//! connection, and [`FsyncFloor`] runs the smallest write transaction there is, once per acquire
//! and once per release.

use std::path::Path;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use leasehold_sqlite::Statement;
use rusqlite::{Connection, named_params};

use crate::error::BenchError;
use crate::locker::{Durability, Locker, TTL};
use crate::pragmas::{now_millis, open_raw};

/// SQLite code 1 in the release statement's `RETURNING status`: released while valid.
const RELEASED: i64 = 1;

/// The raw-SQL floor: the store's statements, prepared and cached, and nothing else — no input
/// checks, no core, no random request id, no follow-up read when an acquire is refused.
#[derive(Debug)]
pub struct Floor {
    conn: Mutex<Connection>,
    next_request: AtomicU64,
}

/// A lease the floor granted.
#[derive(Debug)]
pub struct FloorGrant {
    resource: String,
    token: i64,
}

impl Floor {
    /// Opens a raw connection to `path` with the store's settings for `durability`.
    ///
    /// # Errors
    ///
    /// SQLite's.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        Ok(Self {
            conn: Mutex::new(open_raw(path, durability)?),
            next_request: AtomicU64::new(0),
        })
    }

    /// A request id unique among this process's floors: the pid, then a counter.
    fn request_id(&self) -> [u8; 16] {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let id = (u128::from(process::id()) << 64) | u128::from(n);
        id.to_be_bytes()
    }
}

impl Locker for Floor {
    type Grant = FloorGrant;

    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<FloorGrant>, BenchError> {
        let now = now_millis();
        let expires_at = now + millis(TTL);
        let params = named_params! {
            ":resource": resource, ":owner": owner, ":request_id": self.request_id(),
            ":now": now, ":expires_at": expires_at,
        };
        let conn = lock(&self.conn);
        let granted: Option<(i64, i64, i64)> =
            to_completion(&conn, Statement::Acquire, params, |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        Ok(granted.map(|(token, _, _)| FloorGrant {
            resource: resource.to_owned(),
            token,
        }))
    }

    fn release(&self, grant: &FloorGrant) -> Result<(), BenchError> {
        let params = named_params! {
            ":resource": grant.resource, ":token": grant.token, ":now": now_millis(),
        };
        let status: Option<i64> =
            to_completion(&lock(&self.conn), Statement::Release, params, |row| {
                row.get(0)
            })?;
        match status {
            Some(RELEASED) => Ok(()),
            other => Err(BenchError::protocol(format!(
                "floor release of {} ended with status {other:?}",
                grant.resource
            ))),
        }
    }
}

/// One durable commit per operation and nothing else: an `UPDATE` of one integer in a one-row
/// table of its own, as its own write transaction.
#[derive(Debug)]
pub struct FsyncFloor {
    conn: Mutex<Connection>,
}

const CREATE_COUNTER: &str = "CREATE TABLE IF NOT EXISTS bench_commits (n INTEGER NOT NULL); \
INSERT INTO bench_commits SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM bench_commits)";
const BUMP_COUNTER: &str = "UPDATE bench_commits SET n = n + 1";

impl FsyncFloor {
    /// Opens a raw connection to `path` with the store's settings for `durability`, and creates
    /// its counter table there.
    ///
    /// # Errors
    ///
    /// SQLite's.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        let conn = open_raw(path, durability)?;
        conn.execute_batch(CREATE_COUNTER)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn commit(&self) -> Result<(), BenchError> {
        lock(&self.conn).prepare_cached(BUMP_COUNTER)?.execute([])?;
        Ok(())
    }
}

impl Locker for FsyncFloor {
    type Grant = ();
    const EXCLUSIVE: bool = false;

    fn try_acquire(&self, _resource: &str, _owner: &str) -> Result<Option<()>, BenchError> {
        self.commit().map(Some)
    }

    fn release(&self, (): &()) -> Result<(), BenchError> {
        self.commit()
    }
}

pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // Every use of the connection is one statement or one whole transaction under the guard;
    // a panic in between left nothing half-done that a later statement could trip on.
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs one of the store's statements as the store does: its `RETURNING` row, then on to
/// `SQLITE_DONE`, which is when SQLite runs its automatic checkpoint (see `sql.rs` of the adapter).
fn to_completion<T>(
    conn: &Connection,
    statement: Statement,
    params: &[(&str, &dyn rusqlite::ToSql)],
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut prepared = conn.prepare_cached(statement_sql(statement))?;
    let mut rows = prepared.query(params)?;
    let first = rows.next()?.map(map).transpose()?;
    while rows.next()?.is_some() {}
    Ok(first)
}

fn statement_sql(statement: Statement) -> &'static str {
    statement
        .sql()
        .expect("acquire and release are single statements (Statement::sql documents it)")
}
