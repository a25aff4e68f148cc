//! Acquire: [`AsyncPgStore::try_acquire`], its retry with a request id, and the waiting
//! [`AsyncPgStore::acquire_for`] / [`AsyncPgStore::acquire_until`].

use std::time::{Duration, Instant};

use leasehold_contract::rounds::{AcquireRequest, MAX_ROUNDS};
use leasehold_contract::{Acquire, Holder, deadline_after};
use leasehold_core::{FencingToken, RequestId, Timestamp};
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::row;
use crate::seam::Statement;
use crate::sql::{clock, max, status_code};
use crate::store::AsyncPgStore;

/// The core's acquire of a free resource, as one upsert. A vacant resource gets the token after
/// the high-water mark; a recorded one its last token + 1, but only where the `DO UPDATE … WHERE`
/// finds it free (ended, or expired at `now`). When the lease is valid, nothing is written and
/// no row is returned.
///
/// PostgreSQL evaluates the `DO UPDATE`'s `WHERE` and `SET` after it has locked the conflicting
/// row, on the row's newest version, so the clock there is read after any wait for that lock:
/// `WHERE` first, then `SET` from one reading no earlier (an expired lease stays expired). The
/// insert's `SELECT` is computed before the conflict is found: its token comes from a read of the
/// mark that a concurrent prune can overtake (the schema's token guard catches that, and the
/// statement is retried), and is capped below `i64::MAX` so that it never fails for a resource
/// that has a row (the guard refuses the one insert the cap numbers wrongly). `now + ttl` is
/// guarded so that it never overflows: a request it would overflow writes nothing, and the
/// follow-up read reports the core's refusal.
///
/// A lease that the statement's snapshot shows valid at the first reading makes the `SELECT`
/// give no row (`NOT EXISTS`), so the statement neither conflicts nor locks the row: a refused
/// acquire writes nothing at all, and its transaction commits without a WAL flush. (Without it,
/// `ON CONFLICT DO UPDATE` locks the conflicting row before it evaluates its `WHERE`, keeps the
/// lock when the `WHERE` refuses, and the lock's record costs a flush at commit.) The check only
/// ever refuses: a lease it does not see as valid still goes through the locked re-check below.
///
/// `$1` resource, `$2` owner, `$3` request id, `$4` ttl in ms, `$5` now (NULL: the server's
/// clock).
pub(crate) const ACQUIRE: &str = concat!(
    "INSERT INTO {schema}.leasehold_locks AS l \
(resource, owner, token, request_id, acquired_at, expires_at, status) \
SELECT $1, $2, (SELECT LEAST(m.value, ",
    max!(),
    " - 1) + 1 FROM {schema}.leasehold_meta m WHERE m.key = 'pruned_high_water'), \
$3, c.n, c.n + $4, ",
    status_code!(Active),
    " FROM (SELECT ",
    clock!("$5"),
    " AS n) c WHERE c.n <= ",
    max!(),
    " - $4 AND NOT EXISTS (SELECT 1 FROM {schema}.leasehold_locks v WHERE v.resource = $1 \
AND v.status = ",
    status_code!(Active),
    " AND v.expires_at > c.n) \
ON CONFLICT (resource) DO UPDATE \
SET (owner, token, request_id, acquired_at, expires_at, status) = \
(SELECT $2, l.token + 1, $3, c.n, LEAST(c.n, ",
    max!(),
    " - $4) + $4, ",
    status_code!(Active),
    " FROM (SELECT ",
    clock!("$5"),
    " AS n) c) \
WHERE (l.status <> ",
    status_code!(Active),
    " OR l.expires_at <= ",
    clock!("$5"),
    ") AND ",
    clock!("$5"),
    " <= ",
    max!(),
    " - $4 \
RETURNING l.token, l.acquired_at, l.expires_at"
);

/// What a successful acquire returns.
type Grant = (FencingToken, Timestamp, Timestamp);

/// The acquire statement; `Some` when it wrote a grant.
async fn acquire(
    store: &AsyncPgStore,
    request: &AcquireRequest,
    ttl: i64,
) -> Result<Option<Grant>, Error> {
    let now = store.clock_param()?;
    let (resource, owner) = (request.resource().as_str(), request.owner().as_str());
    let request_id = request.request_id().to_bytes();
    let params = [
        (&resource as _, Type::TEXT),
        (&owner as _, Type::TEXT),
        (&request_id.as_slice() as _, Type::BYTEA),
        (&ttl as _, Type::INT8),
        (&now as _, Type::INT8),
    ];
    let rows = store.run(Statement::Acquire, &params).await?;
    let Some(granted) = rows.first() else {
        return Ok(None);
    };
    let corrupt = |reason| row::corrupt(request.resource(), reason);
    let (token, acquired_at, expires_at): (i64, i64, i64) = (
        granted.try_get(0).map_err(Error::Postgres)?,
        granted.try_get(1).map_err(Error::Postgres)?,
        granted.try_get(2).map_err(Error::Postgres)?,
    );
    Ok(Some((
        row::token(token).ok_or_else(|| corrupt("invalid token"))?,
        row::time(acquired_at).ok_or_else(|| corrupt("negative time"))?,
        row::time(expires_at).ok_or_else(|| corrupt("negative time"))?,
    )))
}

/// The store's clock reading of a `Busy` answer and when it arrived: how long the holder has left.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    now: Timestamp,
    at: Instant,
}

impl Reading {
    /// How long until `holder`'s lease expires, by this reading and the time since.
    pub(crate) fn until_expiry(self, holder: &Holder) -> Duration {
        let left = Duration::from_millis(holder.expires_at().millis_since(self.now));
        left.saturating_sub(self.at.elapsed())
    }
}

impl AsyncPgStore {
    /// Takes the lease on `resource` for `owner` if nobody holds a valid one, for `ttl` (rounded
    /// up to whole milliseconds). Tries once; see [`AsyncPgStore::acquire_for`] to wait.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written);
    /// [`Error::Busy`], [`Error::SerializationFailure`], [`Error::Contended`], connection errors
    /// ([`Error::Disconnected`]: retry with
    /// [`try_acquire_with_id`](AsyncPgStore::try_acquire_with_id)) and other server errors.
    pub async fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        self.try_acquire_with_id(resource, owner, ttl, self.new_request_id())
            .await
    }

    /// [`AsyncPgStore::try_acquire`] with a caller-chosen request id: the retry path after a lost
    /// reply. While the lease an earlier attempt with the same id and owner produced is valid,
    /// this returns that same lease (same token) instead of `Busy`, and writes nothing.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::try_acquire`].
    pub async fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new::<Error>(resource, owner, ttl, request_id)?;
        self.attempt(&request, &mut None).await
    }

    /// Like [`AsyncPgStore::try_acquire`], trying again while the resource is busy until
    /// `timeout` has passed; then returns the last `Busy`. See
    /// [`AsyncPgStore::acquire_until`].
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::acquire_until`].
    pub async fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, deadline_after(timeout))
            .await
    }

    /// Like [`AsyncPgStore::try_acquire`], trying again while the resource is busy until
    /// `deadline`; then returns the last `Busy`. A server that stayed busy
    /// ([`Error::Busy`], [`Error::SerializationFailure`], [`Error::Contended`]) and a connection
    /// that broke mid-attempt ([`Error::Disconnected`], [`Error::TimedOut`]) are waited out the
    /// same way, and returned if they are the last answer; any other error ends the wait.
    ///
    /// The whole call uses one request id, so if an attempt's grant committed but its reply was
    /// lost, the next attempt gets that grant back rather than `Busy`. Pauses grow from 4 ms to
    /// 50 ms with random jitter and never reach past `deadline` nor past the holder's expiry.
    /// Tasks waiting through this store for the same resource take turns in arrival order, and a
    /// [`release`](AsyncPgStore::release) or [`evict`](AsyncPgStore::evict) through this store
    /// wakes the first at once. Dropping the future abandons the wait and writes nothing more.
    ///
    /// # Errors
    ///
    /// As [`AsyncPgStore::try_acquire`].
    pub async fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, Some(deadline))
            .await
    }

    async fn acquire_waiting(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new::<Error>(resource, owner, ttl, self.new_request_id())?;
        crate::wait::acquire_until(self, &request, deadline).await
    }

    /// One acquire: a write, and when it was refused, one read for the report, in rounds. The
    /// `Busy` answer's clock reading is left in `reading`.
    pub(crate) async fn attempt(
        &self,
        request: &AcquireRequest,
        reading: &mut Option<Reading>,
    ) -> Result<Acquire, Error> {
        let ttl = self.storable_ttl(request.ttl()).await?;
        for _ in 0..MAX_ROUNDS {
            let sent = Instant::now();
            if let Some(grant) = acquire(self, request, ttl).await? {
                return Ok(Acquire::Granted(request.granted(
                    grant,
                    self.store_id(),
                    sent,
                )));
            }
            let (state, read_now) = self.read_state(request.resource()).await?;
            *reading = Some(Reading {
                now: read_now,
                at: Instant::now(),
            });
            if let Some(answer) = request.refused(&state, read_now, self.store_id(), sent)? {
                return Ok(answer);
            }
        }
        Err(Error::Contended { rounds: MAX_ROUNDS })
    }
}

/// Whether a failed attempt is waited out like a `Busy` answer: the server stayed busy, or the
/// connection broke (the next attempt connects again, and its request id recovers a grant
/// whose reply was lost).
pub(crate) fn is_busy(error: &Error) -> bool {
    matches!(
        error,
        Error::Busy(_)
            | Error::SerializationFailure { .. }
            | Error::Contended { .. }
            | Error::Disconnected { .. }
            | Error::TimedOut { .. }
    )
}
