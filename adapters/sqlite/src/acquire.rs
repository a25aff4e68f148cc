//! Acquire: [`SqliteStore::try_acquire`], its retry with a request id, and the waiting
//! [`SqliteStore::acquire_for`] / [`SqliteStore::acquire_until`].

use std::time::{Duration, Instant};

use leasehold_contract::rounds::{AcquireRequest, MAX_ROUNDS};
use leasehold_contract::wait::{self, Waiter};
use leasehold_contract::{Acquire, Holder, deadline_after};
use leasehold_core::{RequestId, Timestamp, lease_expiry};
use rusqlite::{Connection, named_params};

use crate::error::Error;
use crate::row::{self, status_code};
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;
use crate::write;

/// The core's acquire of a free resource, as one upsert: a vacant resource gets the token after
/// the high-water mark; a recorded one gets its last token + 1, but only where the `WHERE` finds
/// it free (ended, or expired at `now`). When the lease is valid the `DO UPDATE` writes nothing
/// and returns no row.
///
/// The `VALUES` token is computed even when the row exists, so it is capped below `i64::MAX`
/// rather than allowed to fail; the schema's token guard refuses the one insert the cap would
/// number wrongly (a vacant resource once the mark is at `i64::MAX`).
pub(crate) const ACQUIRE: &str = concat!(
    "INSERT INTO main.leasehold_locks AS l \
(resource, owner, token, request_id, acquired_at, expires_at, status) \
VALUES (:resource, :owner, \
(SELECT MIN(value, 9223372036854775806) + 1 FROM main.leasehold_meta \
WHERE key = 'pruned_high_water'), :request_id, :now, :expires_at, ",
    status_code!(Active),
    ") ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner, token = l.token + 1, \
request_id = excluded.request_id, acquired_at = excluded.acquired_at, \
expires_at = excluded.expires_at, status = ",
    status_code!(Active),
    " WHERE l.status <> ",
    status_code!(Active),
    " OR l.expires_at <= excluded.acquired_at \
RETURNING token, acquired_at, expires_at"
);

/// What a successful acquire returns: `(token, acquired_at, expires_at)`.
type RawGrant = (i64, i64, i64);

fn acquire(
    conn: &Connection,
    request: &AcquireRequest,
    now: Timestamp,
    expires_at: Timestamp,
) -> rusqlite::Result<Option<RawGrant>> {
    let params = named_params! {
        ":resource": request.resource().as_str(), ":owner": request.owner().as_str(),
        ":request_id": request.request_id().to_bytes(), ":now": now.as_millis(),
        ":expires_at": expires_at.as_millis(),
    };
    write::write_returning(conn, ACQUIRE, params, |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

impl<S: Seam> SqliteStore<S> {
    /// Takes the lease on `resource` for `owner` if nobody holds a valid one, for `ttl` (rounded
    /// up to whole milliseconds). Tries once; see [`SqliteStore::acquire_for`] to wait.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidTtl`] and [`Error::Rejected`] (nothing written);
    /// [`Error::Busy`], [`Error::Contended`] and other storage errors.
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        self.try_acquire_with_id(resource, owner, ttl, self.new_request_id())
    }

    /// [`SqliteStore::try_acquire`] with a caller-chosen request id: the retry path after a lost
    /// reply. While the lease an earlier attempt with the same id and owner produced is valid,
    /// this returns that same lease (same token) instead of `Busy`, and writes nothing.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::try_acquire`].
    pub fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        self.attempt(&AcquireRequest::new::<Error>(
            resource, owner, ttl, request_id,
        )?)
    }

    /// Like [`SqliteStore::try_acquire`], trying again while the resource is busy until `timeout`
    /// has passed; then returns the last `Busy`. See [`SqliteStore::acquire_until`].
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::acquire_until`].
    pub fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, deadline_after(timeout))
    }

    /// Like [`SqliteStore::try_acquire`], trying again while the resource is busy until
    /// `deadline`; then returns the last `Busy`. A database lock held past the busy timeout
    /// ([`Error::Busy`], [`Error::Contended`]) is waited out the same way, and returned if it is
    /// the last answer.
    ///
    /// The whole call uses one request id, so if an attempt's grant committed but the call went
    /// on trying, the next attempt gets that grant back rather than `Busy`.
    ///
    /// Waiters for one resource stand in one line, across every thread and process that opened
    /// the database: only the first tries, a [`release`](SqliteStore::release) or
    /// [`evict`](SqliteStore::evict) by any of them wakes it at once, and a caller that asks
    /// again (say, right after its own release) joins the back. The line lives in a directory
    /// beside the database, `<database>-lines/`; it orders attempts and never grants
    /// (`docs/sqlite.md`, "Waiting for a lease"). A waiter that nobody wakes tries again after a
    /// pause that grows from 4 ms to 50 ms with random jitter and never reaches past `deadline`
    /// nor past the holder's expiry, so a holder that crashed is replaced when its lease ends.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::try_acquire`]; the wait ends at the first error that is not busy.
    pub fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        self.acquire_waiting(resource, owner, ttl, Some(deadline))
    }

    fn acquire_waiting(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<Acquire, Error> {
        let request = AcquireRequest::new::<Error>(resource, owner, ttl, self.new_request_id())?;
        let resource = request.resource().as_str();
        // Nobody in line: try at once, without the cost of joining. Someone in line: join the
        // back, so that a caller that just released cannot take the lease back from under the
        // waiter its release woke.
        if !self.lines.waiting(resource) {
            let answer = self.attempt(&request);
            let past = deadline.is_some_and(|d| Instant::now() >= d);
            match answer {
                Ok(Acquire::Busy(_)) if !past => {}
                Err(e) if is_busy(&e) && !past => {}
                answer => return answer,
            }
        }
        let mut waiter = StoreWaiter {
            store: self,
            request: &request,
        };
        wait::acquire_until(&self.lines, resource, deadline, &mut waiter)
    }

    fn attempt(&self, request: &AcquireRequest) -> Result<Acquire, Error> {
        for _ in 0..MAX_ROUNDS {
            if let Some(outcome) = self.attempt_once(request)? {
                return Ok(outcome);
            }
        }
        Err(write::contended())
    }

    /// One acquire write, and when it was refused, one read for the report. `None`: the lease
    /// that blocked the write ended before the read, so no instant made `Busy` true.
    fn attempt_once(&self, request: &AcquireRequest) -> Result<Option<Acquire>, Error> {
        let sent = Instant::now();
        let (granted, now) = self.run_now(Statement::Acquire, |c, now| {
            // An expiry no store can keep is refused before anything is sent.
            match lease_expiry(now, request.ttl()) {
                Ok(expires_at) => acquire(c, request, now, expires_at).map(Ok),
                Err(e) => Ok(Err(e.into())),
            }
        })?;
        if let Some(grant) = granted {
            let grant = self.checked_grant(request, grant)?;
            return Ok(Some(Acquire::Granted(request.granted(
                grant,
                self.store_id(),
                sent,
            ))));
        }
        let state = self.read_state(request.resource())?;
        Ok(request.refused(&state, now, self.store_id(), sent)?)
    }

    /// The row a grant returned, checked against the core's types.
    fn checked_grant(
        &self,
        request: &AcquireRequest,
        (token, acquired_at, expires_at): RawGrant,
    ) -> Result<(leasehold_core::FencingToken, Timestamp, Timestamp), Error> {
        let corrupt = |reason| row::corrupt(request.resource(), reason);
        Ok((
            row::token(token).ok_or_else(|| corrupt("invalid token"))?,
            row::time(acquired_at).ok_or_else(|| corrupt("negative time"))?,
            row::time(expires_at).ok_or_else(|| corrupt("negative time"))?,
        ))
    }
}

/// Whether `error` is waited out like a `Busy` answer: the database stayed locked, or rounds kept
/// disagreeing; nothing changed.
fn is_busy(error: &Error) -> bool {
    matches!(error, Error::Busy | Error::Contended { .. })
}

/// [`Waiter`] for one waiting acquire of a store.
struct StoreWaiter<'a, S: Seam> {
    store: &'a SqliteStore<S>,
    request: &'a AcquireRequest,
}

impl<S: Seam> Waiter for StoreWaiter<'_, S> {
    type Error = Error;

    fn attempt(&mut self) -> Result<Acquire, Error> {
        self.store.attempt(self.request)
    }

    fn is_busy(&self, error: &Error) -> bool {
        is_busy(error)
    }

    fn until_expiry(&mut self, holder: &Holder) -> Result<Duration, Error> {
        let now = self.store.now()?;
        Ok(Duration::from_millis(holder.expires_at().millis_since(now)))
    }
}
