//! A stored row as PostgreSQL returns it. The checks that turn it into the core's
//! [`LeaseRecord`] are every store's, in [`leasehold_contract::row`]; the schema's constraints
//! make most bad rows impossible, and what they cannot rule out (a hand-edited name) is reported
//! as [`Error::CorruptRow`], never a panic.
//!
//! [`LeaseRecord`]: leasehold_core::LeaseRecord

use leasehold_contract::row::{self as stored, CorruptRow};
pub(crate) use leasehold_contract::row::{
    Record, StoredRow as RawRow, bigint, holder, lease, time, token,
};
use leasehold_core::{LockState, Status, Timestamp};
use tokio_postgres::Row;

use crate::error::Error;

/// The status stored as `code` (a `smallint`), if it is one.
pub(crate) fn status(code: i16) -> Option<Status> {
    stored::status(code.into())
}

/// Reads the `columns!()` of `row` starting at column `from`; `None` when they are NULL (the
/// outer join of a read found no row).
pub(crate) fn read(row: &Row, from: usize) -> Result<Option<RawRow>, Error> {
    let Some(resource) = row
        .try_get::<_, Option<String>>(from)
        .map_err(Error::Postgres)?
    else {
        return Ok(None);
    };
    let get = |i| row.try_get::<_, i64>(from + i).map_err(Error::Postgres);
    Ok(Some(RawRow {
        resource,
        owner: row.try_get(from + 1).map_err(Error::Postgres)?,
        token: get(2)?,
        request_id: row.try_get(from + 3).map_err(Error::Postgres)?,
        acquired_at: get(4)?,
        expires_at: get(5)?,
        status: row
            .try_get::<_, i16>(from + 6)
            .map_err(Error::Postgres)?
            .into(),
    }))
}

/// The clock reading a statement returned in column `index`.
pub(crate) fn now(row: &Row, index: usize) -> Result<Timestamp, Error> {
    let value = row.try_get::<_, i64>(index).map_err(Error::Postgres)?;
    time(value).ok_or_else(|| corrupt("the clock", "negative time"))
}

/// The resource's state as the core sees it, given the read of its row.
pub(crate) fn state_of(row: Option<RawRow>) -> Result<LockState, Error> {
    Ok(stored::state_of(row)?)
}

/// A [`Error::CorruptRow`] about `resource`.
pub(crate) fn corrupt(resource: impl ToString, reason: &'static str) -> Error {
    CorruptRow::new(resource, reason).into()
}
