//! Renew: [`AsyncPgStore::renew`] for the holder of a [`Lease`], and
//! [`AsyncPgStore::renew_by_token`] for a process that holds only its token.

use std::time::{Duration, Instant};

use leasehold_contract::rounds::{self, MAX_ROUNDS};
use leasehold_contract::{Lease, Lost, Renew};
use leasehold_core::{FencingToken, ResourceName, Ttl, lease_expiry};
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::row::{self, RawRow, Record};
use crate::seam::Statement;
use crate::sql::{clock, columns, max, status_code};
use crate::store::AsyncPgStore;

/// The core's renew of a valid lease: extend the lease with this token if it is valid at `now`;
/// never shorten it. The check reads the clock once (a sub-select evaluated per row, so again
/// when PostgreSQL re-checks a row that changed while the statement waited for its lock); the
/// new expiry counts from a second reading, no earlier, in the same row's update. `now + ttl` is
/// guarded as in acquire.
///
/// `$1` resource, `$2` token, `$3` ttl in ms, `$4` now.
pub(crate) const RENEW: &str = concat!(
    "UPDATE {schema}.leasehold_locks AS l \
SET expires_at = GREATEST(l.expires_at, LEAST(",
    clock!("$4"),
    ", ",
    max!(),
    " - $3) + $3) \
WHERE l.resource = $1 AND l.token = $2 AND l.status = ",
    status_code!(Active),
    " AND (SELECT l.expires_at > c.n AND c.n <= ",
    max!(),
    " - $3 FROM (SELECT ",
    clock!("$4"),
    " AS n) c) RETURNING ",
    columns!()
);

async fn renew(
    store: &AsyncPgStore,
    resource: &ResourceName,
    token: FencingToken,
    ttl: i64,
) -> Result<Option<RawRow>, Error> {
    let now = store.clock_param()?;
    let (name, token) = (resource.as_str(), row::bigint(token.get()));
    let params = [
        (&name as _, Type::TEXT),
        (&token as _, Type::INT8),
        (&ttl as _, Type::INT8),
        (&now as _, Type::INT8),
    ];
    let rows = store.run(Statement::Renew, &params).await?;
    rows.first().map_or(Ok(None), |found| row::read(found, 0))
}

impl AsyncPgStore {
    /// Extends `lease` to at least `now + ttl` if it is still valid; never shortens it. The
    /// renewed lease's deadline counts from this request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written),
    /// [`Error::ForeignLease`]; server and connection errors.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        self.check_own(lease)?;
        let sent = Instant::now();
        Ok(
            match self.renew_row(lease.resource(), lease.token(), ttl).await? {
                Ok(record) => {
                    Renew::Renewed(lease.renewed(row::holder(record.0, &record.1), sent, ttl))
                }
                Err(lost) => Renew::Lost(lost),
            },
        )
    }

    /// [`AsyncPgStore::renew`] for a process that holds only the resource name and the token (a
    /// supervisor, an admin tool, a command run under the lease). The returned lease's deadline
    /// counts from this request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written);
    /// server and connection errors.
    pub async fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        let resource = ResourceName::new(resource)?;
        let sent = Instant::now();
        Ok(match self.renew_row(&resource, token, ttl).await? {
            Ok(record) => Renew::Renewed(row::lease(record, self.store_id(), sent, ttl)),
            Err(lost) => Renew::Lost(lost),
        })
    }

    /// The renewed row, or why the lease is lost.
    async fn renew_row(
        &self,
        resource: &ResourceName,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Result<Record, Lost>, Error> {
        let ttl = Ttl::from_duration(ttl)?;
        let ttl_ms = self.storable_ttl(ttl).await?;
        for _ in 0..MAX_ROUNDS {
            if let Some(renewed) = renew(self, resource, token, ttl_ms).await? {
                return Ok(Ok(renewed.into_record()?));
            }
            let (state, now) = self.read_state(resource).await?;
            // The core refuses an expiry it cannot store before it looks at the lease.
            lease_expiry(now, ttl)?;
            if let Some(lost) = rounds::refused_renew(&state, resource, token, now) {
                return Ok(Err(lost));
            }
        }
        Err(Error::Contended { rounds: MAX_ROUNDS })
    }
}
