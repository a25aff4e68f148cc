//! Release: [`AsyncPgStore::release`] for the holder of a [`Lease`], and
//! [`AsyncPgStore::release_by_token`] for a process that holds only its token.

use std::borrow::Borrow;

use leasehold_contract::rounds::{self, MAX_ROUNDS};
use leasehold_contract::{Lease, Release};
use leasehold_core::{FencingToken, ResourceName, Status};
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::row;
use crate::seam::Statement;
use crate::sql::{clock, notify, status_code};
use crate::store::AsyncPgStore;

/// The core's release of an active lease: `Released` while it is valid, with the release
/// instant as its end; `ReleasedAfterExpiry` once it has expired, keeping its expiry. Both
/// columns come from one clock reading. A release that freed a valid lease sends the wake-up
/// hint in the same statement (the second column, `void`) unless `$4` is false
/// ([`Options::notify`](crate::Options::notify)); one after the expiry freed nothing.
///
/// `$1` resource, `$2` token, `$3` now, `$4` whether to notify.
pub(crate) const RELEASE: &str = concat!(
    "WITH done AS (UPDATE {schema}.leasehold_locks AS l \
SET (status, expires_at) = (SELECT CASE WHEN l.expires_at > c.n THEN ",
    status_code!(Released),
    " ELSE ",
    status_code!(ReleasedAfterExpiry),
    " END, LEAST(l.expires_at, c.n) FROM (SELECT ",
    clock!("$3"),
    " AS n) c) WHERE l.resource = $1 AND l.token = $2 AND l.status = ",
    status_code!(Active),
    " RETURNING l.status, l.resource, l.tableoid) \
SELECT l.status, CASE WHEN l.status = ",
    status_code!(Released),
    " AND $4 THEN ",
    notify!(),
    " END FROM done AS l"
);

async fn release(
    store: &AsyncPgStore,
    resource: &ResourceName,
    token: FencingToken,
) -> Result<Option<i16>, Error> {
    let now = store.clock_param()?;
    let (name, token) = (resource.as_str(), row::bigint(token.get()));
    let notify = store.notifies();
    let params = [
        (&name as _, Type::TEXT),
        (&token as _, Type::INT8),
        (&now as _, Type::INT8),
        (&notify as _, Type::BOOL),
    ];
    let rows = store.run(Statement::Release, &params).await?;
    rows.first()
        .map(|found| found.try_get(0).map_err(Error::Postgres))
        .transpose()
}

impl AsyncPgStore {
    /// Ends `lease`. A release retried after a lost reply gets the first answer again, as long as
    /// the lease is still the resource's last (no new grant, no prune since); after that it is
    /// `NotHolder`, and nothing changes either way.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignLease`]; server and connection errors.
    pub async fn release(&self, lease: impl Borrow<Lease>) -> Result<Release, Error> {
        let lease = lease.borrow();
        self.check_own(lease)?;
        self.release_token(lease.resource(), lease.token()).await
    }

    /// [`AsyncPgStore::release`] for a process that holds only the resource name and the token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; server and connection errors.
    pub async fn release_by_token(
        &self,
        resource: &str,
        token: FencingToken,
    ) -> Result<Release, Error> {
        self.release_token(&ResourceName::new(resource)?, token)
            .await
    }

    async fn release_token(
        &self,
        resource: &ResourceName,
        token: FencingToken,
    ) -> Result<Release, Error> {
        let released = self.release_row(resource, token).await;
        // Whatever the answer, the lease may be free now: this store's waiters try again.
        self.wake(resource.as_str());
        released
    }

    async fn release_row(
        &self,
        resource: &ResourceName,
        token: FencingToken,
    ) -> Result<Release, Error> {
        for _ in 0..MAX_ROUNDS {
            match release(self, resource, token).await?.map(row::status) {
                Some(Some(Status::Released)) => return Ok(Release::Released),
                Some(Some(Status::ReleasedAfterExpiry)) => return Ok(Release::Expired),
                Some(_) => return Err(row::corrupt(resource, "invalid status")),
                None => {}
            }
            let (state, now) = self.read_state(resource).await?;
            if let Some(answer) = rounds::refused_release(&state, resource, token, now)? {
                return Ok(answer);
            }
        }
        Err(Error::Contended { rounds: MAX_ROUNDS })
    }
}
