//! Release: [`SqliteStore::release`] for the holder of a [`Lease`], and
//! [`SqliteStore::release_by_token`] for a process that holds only its token.

use std::borrow::Borrow;

use leasehold_contract::rounds::{self, MAX_ROUNDS};
use leasehold_contract::{Lease, Release};
use leasehold_core::{FencingToken, ResourceName, Timestamp};
use rusqlite::{Connection, named_params};

use crate::error::Error;
use crate::row::{self, status_code};
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;
use crate::write;

/// The core's release of an active lease: `Released` while it is valid, with the release instant
/// as its end; `ReleasedAfterExpiry` once it has expired, keeping its expiry.
pub(crate) const RELEASE: &str = concat!(
    "UPDATE main.leasehold_locks SET status = CASE WHEN expires_at > :now THEN ",
    status_code!(Released),
    " ELSE ",
    status_code!(ReleasedAfterExpiry),
    " END, expires_at = MIN(expires_at, :now) \
WHERE resource = :resource AND token = :token AND status = ",
    status_code!(Active),
    " RETURNING status"
);

fn release(
    conn: &Connection,
    resource: &ResourceName,
    token: FencingToken,
    now: Timestamp,
) -> rusqlite::Result<Option<i64>> {
    let params = named_params! {
        ":resource": resource.as_str(), ":token": token.get(), ":now": now.as_millis(),
    };
    write::write_returning(conn, RELEASE, params, |row| row.get(0))
}

impl<S: Seam> SqliteStore<S> {
    /// Ends `lease`. A release retried after a lost reply gets the first answer again, as long as
    /// the lease is still the resource's last (no new grant, no prune since); after that it is
    /// `NotHolder`, and nothing changes either way.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignLease`]; storage errors.
    pub fn release(&self, lease: impl Borrow<Lease>) -> Result<Release, Error> {
        let lease = lease.borrow();
        self.check_own(lease)?;
        self.release_token(lease.resource(), lease.token())
    }

    /// [`SqliteStore::release`] for a process that holds only the resource name and the token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; storage errors.
    pub fn release_by_token(&self, resource: &str, token: FencingToken) -> Result<Release, Error> {
        self.release_token(&ResourceName::new(resource)?, token)
    }

    fn release_token(
        &self,
        resource: &ResourceName,
        token: FencingToken,
    ) -> Result<Release, Error> {
        // Whatever the answer, the lease may be free now: after each release statement the
        // front waiter, in whichever process, is woken (`run_now_freeing`).
        self.release_row(resource, token)
    }

    fn release_row(&self, resource: &ResourceName, token: FencingToken) -> Result<Release, Error> {
        for _ in 0..MAX_ROUNDS {
            let freed = Some(resource.as_str());
            let (status, now) = self.run_now_freeing(Statement::Release, freed, |c, now| {
                release(c, resource, token, now).map(Ok)
            })?;
            match status.map(row::status) {
                Some(Some(leasehold_core::Status::Released)) => return Ok(Release::Released),
                Some(Some(leasehold_core::Status::ReleasedAfterExpiry)) => {
                    return Ok(Release::Expired);
                }
                Some(_) => return Err(row::corrupt(resource, "invalid status")),
                None => {}
            }
            let state = self.read_state(resource)?;
            if let Some(answer) = rounds::refused_release(&state, resource, token, now)? {
                return Ok(answer);
            }
        }
        Err(write::contended())
    }
}
