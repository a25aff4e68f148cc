//! Administration: [`AsyncPgStore::evict`] and [`AsyncPgStore::prune`].

use std::time::Duration;

use leasehold_contract::Evict;
use leasehold_core::ResourceName;
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::row;
use crate::seam::Statement;
use crate::sql::{clock, columns, notify, status_code};
use crate::store::AsyncPgStore;

/// The core's evict: end whatever lease is valid at `now`. The expiry is kept, so `RETURNING`
/// reports the evicted holder's real expiry. The lease it ended is free: the statement sends the
/// wake-up hint (the last column, `void`) unless `$3` is false
/// ([`Options::notify`](crate::Options::notify)).
///
/// `$1` resource, `$2` now, `$3` whether to notify.
pub(crate) const EVICT: &str = concat!(
    "WITH done AS (UPDATE {schema}.leasehold_locks AS l SET status = ",
    status_code!(Evicted),
    " WHERE l.resource = $1 AND l.status = ",
    status_code!(Active),
    " AND l.expires_at > ",
    clock!("$2"),
    " RETURNING ",
    columns!(),
    ", l.tableoid) SELECT ",
    columns!(),
    ", CASE WHEN $3 THEN ",
    notify!(),
    " END FROM done AS l"
);

/// The core's prune (`LockTable::prune`) at one clock reading: delete the rows over for more
/// than `idle` ms, i.e. `now - expires_at > idle`, written as `expires_at < now - idle` so that
/// nothing overflows (`0 <= idle, now <= i64::MAX`). The schema's trigger raises the high-water
/// mark in the same statement; the count comes back as one row.
///
/// `$1` idle in ms, `$2` now.
pub(crate) const PRUNE: &str = concat!(
    "WITH gone AS (DELETE FROM {schema}.leasehold_locks AS l USING (SELECT ",
    clock!("$2"),
    " AS n) c WHERE NOT (l.status = ",
    status_code!(Active),
    " AND l.expires_at > c.n) AND l.expires_at < c.n - $1 RETURNING 1) \
SELECT pg_catalog.count(*) FROM gone"
);

impl AsyncPgStore {
    /// Administrative: ends whatever lease on `resource` is valid, whoever holds it. The evicted
    /// holder finds out at its next renew, release or fenced write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] (nothing written); server and connection errors.
    pub async fn evict(&self, resource: &str) -> Result<Evict, Error> {
        let resource = ResourceName::new(resource)?;
        let now = self.clock_param()?;
        let name = resource.as_str();
        let notify = self.notifies();
        let params = [
            (&name as _, Type::TEXT),
            (&now as _, Type::INT8),
            (&notify as _, Type::BOOL),
        ];
        let rows = self.run(Statement::Evict, &params).await;
        self.wake(resource.as_str());
        let evicted = match rows?.first() {
            Some(found) => row::read(found, 0)?,
            None => None,
        };
        Ok(match evicted {
            Some(raw) => Evict::Evicted(raw.into_holder()?),
            None => Evict::NotHeld,
        })
    }

    /// Deletes the rows of leases over for **more than** `idle_for` (truncated to whole
    /// milliseconds), and returns how many. Token history survives: the deleted rows' largest
    /// token is kept as the high-water mark, and any later grant is above it.
    ///
    /// # Errors
    ///
    /// Server and connection errors only.
    pub async fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        // No row has been over for more than i64::MAX ms, so clamping changes no answer.
        let idle = i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock_param()?;
        let params = [(&idle as _, Type::INT8), (&now as _, Type::INT8)];
        let rows = self.run(Statement::Prune, &params).await?;
        let count: i64 = rows
            .first()
            .ok_or_else(|| row::corrupt("prune", "no count"))?
            .try_get(0)
            .map_err(Error::Postgres)?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}
