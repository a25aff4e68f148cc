//! The reads: a resource's row with the clock (for [`AsyncPgStore::holder`] and for the
//! follow-up read of a refused write), every valid lease ([`AsyncPgStore::holders`]), the clock
//! alone, and the whole state for audits.

use leasehold_contract::Holder;
use leasehold_core::{LockState, ResourceName, Timestamp};
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::row;
use crate::seam::Statement;
use crate::sql::{clock, columns, status_code};
use crate::store::AsyncPgStore;

/// One resource's row, if any, and the clock reading it is judged at: always one row. It only
/// reports; it never decides a write. `$1` resource, `$2` now.
pub(crate) const READ_LOCK: &str = concat!(
    "SELECT c.n, ",
    columns!(),
    " FROM (SELECT ",
    clock!("$2"),
    " AS n) c LEFT JOIN {schema}.leasehold_locks l ON l.resource = $1"
);

/// Every lease valid at the reading: `LeaseRecord::is_valid_at`, in SQL. `$1` now.
pub(crate) const LIST_LOCKS: &str = concat!(
    "SELECT c.n, ",
    columns!(),
    " FROM (SELECT ",
    clock!("$1"),
    " AS n) c JOIN {schema}.leasehold_locks l ON l.status = ",
    status_code!(Active),
    " AND l.expires_at > c.n"
);

/// The clock alone. `$1` now.
pub(crate) const CLOCK: &str = concat!("SELECT ", clock!("$1"));

/// Every stored row and the high-water mark of resources without one, in one statement (one
/// snapshot): always at least one row, the mark in each.
pub(crate) const READ_RECORDS: &str = concat!(
    "SELECT m.value, ",
    columns!(),
    " FROM {schema}.leasehold_meta m LEFT JOIN {schema}.leasehold_locks l ON true \
WHERE m.key = 'pruned_high_water'"
);

impl AsyncPgStore {
    /// The holder of the lease on `resource` valid now, if any.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; server and connection errors.
    pub async fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        let resource = ResourceName::new(resource)?;
        let (state, now) = self.read_state(&resource).await?;
        Ok(state
            .holder_at(now)
            .map(|h| Holder::from_core(&resource, h)))
    }

    /// Every lease valid now, ordered by resource name (bytewise, as Rust orders `str`).
    ///
    /// # Errors
    ///
    /// Server and connection errors only.
    pub async fn holders(&self) -> Result<Vec<Holder>, Error> {
        let now = self.clock_param()?;
        let rows = self
            .run(Statement::ListLocks, &[(&now, Type::INT8)])
            .await?;
        let mut holders = Vec::with_capacity(rows.len());
        for found in &rows {
            if let Some(raw) = row::read(found, 1)? {
                holders.push(raw.into_holder()?);
            }
        }
        holders.sort_by(|a, b| a.resource().cmp(b.resource()));
        Ok(holders)
    }

    /// The state of `resource` as the core sees it, and the store's clock reading with it: the
    /// follow-up read of a refused write.
    pub(crate) async fn read_state(
        &self,
        resource: &ResourceName,
    ) -> Result<(LockState, Timestamp), Error> {
        let now = self.clock_param()?;
        let name = resource.as_str();
        let params = [(&name as _, Type::TEXT), (&now as _, Type::INT8)];
        let rows = self.run(Statement::ReadLock, &params).await?;
        let found = rows
            .first()
            .ok_or_else(|| row::corrupt(resource, "the read returned no row"))?;
        Ok((row::state_of(row::read(found, 1)?)?, row::now(found, 0)?))
    }
}

#[cfg(feature = "test-util")]
mod audit {
    use leasehold_contract::Audit;
    use leasehold_core::LockTable;

    use crate::error::Error;
    use crate::row;
    use crate::seam::Statement;
    use crate::store::AsyncPgStore;

    impl AsyncPgStore {
        /// Every stored row and the high-water mark, as the core's table (feature `test-util`;
        /// [`Audit::snapshot`] for the blocking store).
        ///
        /// # Errors
        ///
        /// Server and connection errors, or a row that breaks the schema's rules.
        pub async fn snapshot(&self) -> Result<LockTable, Error> {
            let rows = self.run(Statement::ReadRecords, &[]).await?;
            let mut high_water = None;
            let mut records = Vec::with_capacity(rows.len());
            for found in &rows {
                high_water = Some(found.try_get::<_, i64>(0).map_err(Error::Postgres)?);
                if let Some(raw) = row::read(found, 1)? {
                    records.push(raw.into_record()?);
                }
            }
            let mark =
                match high_water {
                    None => return Err(row::corrupt("leasehold_meta", "no pruned_high_water")),
                    Some(0) => None,
                    Some(value) => Some(row::token(value).ok_or_else(|| {
                        row::corrupt("leasehold_meta", "invalid pruned_high_water")
                    })?),
                };
            Ok(LockTable::from_records(records, mark))
        }
    }

    impl Audit for crate::PgStore {
        type Error = Error;

        fn snapshot(&self) -> Result<LockTable, Error> {
            self.block_on(self.inner().snapshot())
        }
    }
}
