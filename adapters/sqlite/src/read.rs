//! The reads: a resource's row (for [`SqliteStore::holder`] and for the follow-up read of a
//! refused write), every valid lease ([`SqliteStore::holders`]), and the whole state for audits.

use leasehold_contract::Holder;
use leasehold_core::{LockState, ResourceName};
use rusqlite::{Connection, OptionalExtension, named_params};

use crate::error::Error;
use crate::row::{self, RawRow, columns, status_code};
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;

/// One resource's row. It only reports; it never decides a write.
pub(crate) const READ_LOCK: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM main.leasehold_locks WHERE resource = :resource"
);

pub(crate) fn read_lock(conn: &Connection, resource: &str) -> rusqlite::Result<Option<RawRow>> {
    conn.prepare_cached(READ_LOCK)?
        .query_row(named_params! { ":resource": resource }, row::from_row)
        .optional()
}

/// Every lease valid at `:now`: `LeaseRecord::is_valid_at`, in SQL.
pub(crate) const LIST_LOCKS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM main.leasehold_locks WHERE status = ",
    status_code!(Active),
    " AND expires_at > :now"
);

fn list_locks(conn: &Connection, now: u64) -> rusqlite::Result<Vec<RawRow>> {
    let mut statement = conn.prepare_cached(LIST_LOCKS)?;
    let rows = statement.query_map(named_params! { ":now": now }, row::from_row)?;
    rows.collect()
}

impl<S: Seam> SqliteStore<S> {
    /// The holder of the lease on `resource` valid now, if any.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; storage errors.
    pub fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        let resource = ResourceName::new(resource)?;
        let (row, now) = self.run_now(Statement::ReadLock, |c, _| {
            read_lock(c, resource.as_str()).map(Ok)
        })?;
        let state = row::state_of(row)?;
        Ok(state
            .holder_at(now)
            .map(|h| Holder::from_core(&resource, h)))
    }

    /// Every lease valid now, ordered by resource name (bytewise, as Rust orders `str`, whatever
    /// the database's text encoding).
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn holders(&self) -> Result<Vec<Holder>, Error> {
        let (rows, _) = self.run_now(Statement::ListLocks, |c, now| {
            list_locks(c, now.as_millis()).map(Ok)
        })?;
        let mut holders = rows
            .into_iter()
            .map(RawRow::into_holder)
            .collect::<Result<Vec<_>, _>>()?;
        holders.sort_by(|a, b| a.resource().cmp(b.resource()));
        Ok(holders)
    }

    /// The state of `resource` as the core sees it: the follow-up read of a refused write.
    pub(crate) fn read_state(&self, resource: &ResourceName) -> Result<LockState, Error> {
        let row = self.run(Statement::ReadLock, |c| read_lock(c, resource.as_str()))?;
        row::state_of(row)
    }
}

#[cfg(feature = "test-util")]
mod audit {
    use leasehold_contract::Audit;
    use leasehold_core::LockTable;
    use rusqlite::Connection;

    use crate::error::Error;
    use crate::row::{self, RawRow, columns};
    use crate::seam::{Seam, Statement};
    use crate::store::SqliteStore;

    /// Every stored row, valid or not.
    const READ_RECORDS: &str = concat!("SELECT ", columns!(), " FROM main.leasehold_locks");

    /// The high-water mark of resources without a row.
    const PRUNED_HIGH_WATER: &str =
        "SELECT value FROM main.leasehold_meta WHERE key = 'pruned_high_water'";

    fn read_everything(conn: &mut Connection) -> rusqlite::Result<(Vec<RawRow>, i64)> {
        // One read transaction, so the rows and the mark are of the same moment.
        let tx = conn.transaction()?;
        let rows = {
            let mut statement = tx.prepare(READ_RECORDS)?;
            let rows = statement.query_map([], row::from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let high_water = tx.query_row(PRUNED_HIGH_WATER, [], |row| row.get(0))?;
        tx.commit()?;
        Ok((rows, high_water))
    }

    impl<S: Seam> Audit for SqliteStore<S> {
        type Error = Error;

        fn snapshot(&self) -> Result<LockTable, Error> {
            let (rows, high_water) = self.run(Statement::ReadRecords, read_everything)?;
            let records = rows
                .into_iter()
                .map(RawRow::into_record)
                .collect::<Result<Vec<_>, _>>()?;
            let high_water =
                match high_water {
                    0 => None,
                    value => Some(row::token(value).ok_or_else(|| {
                        row::corrupt("leasehold_meta", "invalid pruned_high_water")
                    })?),
                };
            Ok(LockTable::from_records(records, high_water))
        }
    }
}
