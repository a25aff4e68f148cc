//! How a write runs and how a refused write is explained: each state change is one statement;
//! when it changes nothing, one follow-up read lets the core say why (busy, lost, not holder).
//!
//! That read only reports: if it finds a state in which the write would have applied, the row
//! changed between the two statements, and the operation starts over with a fresh clock reading.
//! Starting over is lock-free, not wait-free: each extra round means another client's transition
//! committed in between (or, for acquire, that the blocking lease reached its expiry), so some
//! client always makes progress. The rounds are still bounded ([`MAX_ROUNDS`], then
//! [`Error::Contended`]): a write and a read that keep disagreeing about one row would otherwise
//! spin forever, whether because of extreme contention or a statement that disagrees with the
//! core. The rules for reading the follow-up read are the contract's
//! (`leasehold_contract::rounds`), shared by every store.

use leasehold_contract::rounds::MAX_ROUNDS;
use rusqlite::{Connection, Row};

use crate::error::Error;

/// The error when every round disagreed.
pub(crate) fn contended() -> Error {
    Error::Contended { rounds: MAX_ROUNDS }
}

/// Runs a write with `RETURNING` to completion and maps its row, if any.
///
/// A write statement commits (in autocommit mode) when it finishes; stepping it to `SQLITE_DONE`
/// is what lets SQLite run its WAL hook after the commit, and that hook is where the automatic
/// checkpoint happens. Reading the one row and resetting the statement, as `query_row` does,
/// commits all the same but skips the hook: the WAL then grows without end (every commit adds a
/// frame, none is ever checkpointed), and fsyncs slow down as the file grows. A regression test
/// (`tests/sqlite/checkpoints.rs`) keeps the WAL bounded.
pub(crate) fn write_returning<T>(
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
