//! Administration: [`SqliteStore::evict`] and [`SqliteStore::prune`].

use std::time::Duration;

use leasehold_contract::Evict;
use leasehold_core::{ResourceName, Timestamp};
use rusqlite::{Connection, named_params};

use crate::error::Error;
use crate::row::{self, RawRow, columns, status_code};
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;
use crate::write;

/// The core's evict: end whatever lease is valid at `now`. The expiry is kept, so `RETURNING`
/// reports the evicted holder's real expiry.
pub(crate) const EVICT: &str = concat!(
    "UPDATE main.leasehold_locks SET status = ",
    status_code!(Evicted),
    " WHERE resource = :resource AND status = ",
    status_code!(Active),
    " AND expires_at > :now RETURNING ",
    columns!()
);

fn evict(
    conn: &Connection,
    resource: &ResourceName,
    now: Timestamp,
) -> rusqlite::Result<Option<RawRow>> {
    let params = named_params! { ":resource": resource.as_str(), ":now": now.as_millis() };
    write::write_returning(conn, EVICT, params, row::from_row)
}

/// The core's prune (`LockTable::prune`): delete rows over for more than `idle` ms, i.e.
/// `now - expires_at > idle`, written as `expires_at < now - idle` so that nothing overflows
/// (`0 <= idle, now <= i64::MAX`). The schema's trigger raises the high-water mark in the same
/// statement.
pub(crate) const PRUNE: &str = concat!(
    "DELETE FROM main.leasehold_locks WHERE NOT (status = ",
    status_code!(Active),
    " AND expires_at > :now) AND expires_at < :now - :idle"
);

fn prune(conn: &Connection, now: Timestamp, idle_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(PRUNE)?
        .execute(named_params! { ":now": now.as_millis(), ":idle": idle_ms })
}

impl<S: Seam> SqliteStore<S> {
    /// Administrative: ends whatever lease on `resource` is valid, whoever holds it. The evicted
    /// holder finds out at its next renew, release or fenced write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] (nothing written); storage errors.
    pub fn evict(&self, resource: &str) -> Result<Evict, Error> {
        let resource = ResourceName::new(resource)?;
        let freed = Some(resource.as_str());
        let (evicted, _) = self.run_now_freeing(Statement::Evict, freed, |c, now| {
            evict(c, &resource, now).map(Ok)
        })?;
        Ok(match evicted {
            Some(row) => Evict::Evicted(row.into_holder()?),
            None => Evict::NotHeld,
        })
    }

    /// Deletes the rows of leases over for **more than** `idle_for` (truncated to whole
    /// milliseconds), and returns how many. Token history survives: the deleted rows' largest
    /// token is kept as the high-water mark, and any later grant is above it.
    ///
    /// # Errors
    ///
    /// Storage errors only.
    pub fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        // No row has been over for more than i64::MAX ms, so clamping changes no answer.
        let idle_ms = i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        let (pruned, _) =
            self.run_now(Statement::Prune, |c, now| prune(c, now, idle_ms).map(Ok))?;
        Ok(pruned)
    }
}
