//! Renew: [`SqliteStore::renew`] for the holder of a [`Lease`], and
//! [`SqliteStore::renew_by_token`] for a process that holds only its token.

use std::time::{Duration, Instant};

use leasehold_contract::rounds::{self, MAX_ROUNDS};
use leasehold_contract::{Lease, Lost, Renew};
use leasehold_core::{FencingToken, ResourceName, Timestamp, Ttl, lease_expiry};
use rusqlite::{Connection, named_params};

use crate::error::Error;
use crate::row::{self, RawRow, Record, columns, status_code};
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;
use crate::write;

/// The core's renew of a valid lease: extend the lease with this token if it is valid at `now`;
/// never shorten it.
pub(crate) const RENEW: &str = concat!(
    "UPDATE main.leasehold_locks SET expires_at = MAX(expires_at, :expires_at) \
WHERE resource = :resource AND token = :token AND status = ",
    status_code!(Active),
    " AND expires_at > :now RETURNING ",
    columns!()
);

fn renew(
    conn: &Connection,
    resource: &ResourceName,
    token: FencingToken,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<Option<RawRow>> {
    let params = named_params! {
        ":resource": resource.as_str(), ":token": token.get(), ":now": now.as_millis(),
        ":expires_at": expires_at.as_millis(),
    };
    write::write_returning(conn, RENEW, params, row::from_row)
}

impl<S: Seam> SqliteStore<S> {
    /// Extends `lease` to at least `now + ttl` if it is still valid; never shortens it. The
    /// renewed lease's deadline counts from this request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written), [`Error::ForeignLease`];
    /// storage errors.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        self.check_own(lease)?;
        let sent = Instant::now();
        Ok(
            match self.renew_row(lease.resource(), lease.token(), ttl)? {
                Ok(record) => {
                    Renew::Renewed(lease.renewed(row::holder(record.0, &record.1), sent, ttl))
                }
                Err(lost) => Renew::Lost(lost),
            },
        )
    }

    /// [`SqliteStore::renew`] for a process that holds only the resource name and the token (a
    /// supervisor, an admin tool, a command run under the lease). The returned lease's deadline
    /// counts from this request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written);
    /// storage errors.
    pub fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        let resource = ResourceName::new(resource)?;
        let sent = Instant::now();
        Ok(match self.renew_row(&resource, token, ttl)? {
            Ok(record) => Renew::Renewed(row::lease(record, self.store_id(), sent, ttl)),
            Err(lost) => Renew::Lost(lost),
        })
    }

    /// The renewed row, or why the lease is lost.
    fn renew_row(
        &self,
        resource: &ResourceName,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Result<Record, Lost>, Error> {
        let ttl = Ttl::from_duration(ttl)?;
        for _ in 0..MAX_ROUNDS {
            let (renewed, now) =
                self.run_now(Statement::Renew, |c, now| match lease_expiry(now, ttl) {
                    Ok(expires_at) => renew(c, resource, token, now, expires_at).map(Ok),
                    Err(e) => Ok(Err(e.into())),
                })?;
            if let Some(row) = renewed {
                return Ok(Ok(row.into_record()?));
            }
            let state = self.read_state(resource)?;
            if let Some(lost) = rounds::refused_renew(&state, resource, token, now) {
                return Ok(Err(lost));
            }
        }
        Err(write::contended())
    }
}
