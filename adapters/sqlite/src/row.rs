//! A stored row as SQLite returns it. The checks that turn it into the core's [`LeaseRecord`]
//! are every store's, in [`leasehold_contract::row`]; the schema's `CHECK`s and `STRICT` types
//! make most bad rows impossible, and what they cannot rule out (a hand-edited name or a negative
//! time) is reported as [`Error::CorruptRow`], never a panic.
//!
//! [`LeaseRecord`]: leasehold_core::LeaseRecord

use leasehold_contract::row::{self as stored, CorruptRow};
pub(crate) use leasehold_contract::row::{
    Record, StoredRow as RawRow, holder, lease, status, time, token,
};
pub(crate) use leasehold_contract::status_code;
use leasehold_core::LockState;
use rusqlite::Row;

use crate::error::Error;

/// The columns of a stored row, in the order [`from_row`] reads them.
macro_rules! columns {
    () => {
        "resource, owner, token, request_id, acquired_at, expires_at, status"
    };
}
pub(crate) use columns;

/// Reads the [`columns!`] of `row`.
pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        resource: row.get(0)?,
        owner: row.get(1)?,
        token: row.get(2)?,
        request_id: row.get(3)?,
        acquired_at: row.get(4)?,
        expires_at: row.get(5)?,
        status: row.get(6)?,
    })
}

/// The resource's state as the core sees it, given the read of its row.
pub(crate) fn state_of(row: Option<RawRow>) -> Result<LockState, Error> {
    Ok(stored::state_of(row)?)
}

/// A [`Error::CorruptRow`] about `resource`.
pub(crate) fn corrupt(resource: impl ToString, reason: &'static str) -> Error {
    CorruptRow::new(resource, reason).into()
}
