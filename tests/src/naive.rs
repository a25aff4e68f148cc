//! [`CheckThenActStore`]: **the planted bug**. It reproduces the seed report's `acquire()` on
//! leasehold's own schema: read the row, decide in Rust, then write as a second statement. Every
//! harness runs it as a negative control and must catch it. It lives in this unpublished crate
//! only.
//!
//! Its statements run through the same [`Seam`] as [`SqliteStore`]'s, so loom, shuttle and the
//! barrier tests schedule it exactly as they schedule the real store.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasehold_core::{
    FencingToken, LeaseRecord, Owner, RequestId, ResourceName, Status, Timestamp, Ttl, lease_expiry,
};
use leasehold_sqlite::{
    Acquire, Clock, Direct, Durability, Error, Holder, Lease, Options, Seam, SqliteStore,
    Statement, StoreId,
};
use rusqlite::{Connection, OptionalExtension, named_params};

/// The seed's read: the whole row, decided on in application code.
const SELECT_ROW: &str = "SELECT owner, token, request_id, acquired_at, expires_at, status \
FROM leasehold_locks WHERE resource = :resource";

/// The seed's write: "UPDATE or INSERT", with no condition on what the row holds now. The store
/// still numbers the token (`token + 1`), so what breaks is mutual exclusion, not token order.
const WRITE_ROW: &str = "INSERT INTO leasehold_locks (resource, owner, token, request_id, \
acquired_at, expires_at, status) VALUES (:resource, :owner, \
(SELECT value FROM leasehold_meta WHERE key = 'pruned_high_water') + 1, :request_id, :now, \
:expires_at, 0) ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner, \
token = leasehold_locks.token + 1, request_id = excluded.request_id, \
acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, status = 0 \
RETURNING token";

/// The "lost release" bug: frees the resource by name, whatever lease it holds now.
const RELEASE_BY_NAME: &str = "UPDATE leasehold_locks SET status = 1, expires_at = :now \
WHERE resource = :resource AND status = 0";

/// What the read step concluded, to be acted on by [`CheckThenActStore::write`].
#[derive(Clone, Debug)]
pub enum Decision {
    /// The row looked free: the client will write this lease.
    Free(Intent),
    /// The row looked held by this lease.
    Busy(Acquire),
}

/// A lease the client decided to write, with the times it computed at read time.
#[derive(Clone, Debug)]
pub struct Intent {
    resource: ResourceName,
    owner: Owner,
    request_id: RequestId,
    now: Timestamp,
    expires_at: Timestamp,
    ttl: Ttl,
}

/// The seed's check-then-act lock service on a leasehold database. **Racy by design.**
pub struct CheckThenActStore<S: Seam = Direct> {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    seam: S,
    next_request: Mutex<u128>,
    store_id: StoreId,
}

impl<S: Seam> CheckThenActStore<S> {
    /// Opens the database at `path` (creating leasehold's schema with [`SqliteStore`] first) with
    /// its own connection, reading `clock`, running statements through `seam`, and flushing
    /// commits as `durability` says (the `synchronous` setting a store would use).
    ///
    /// # Errors
    ///
    /// The store's open errors.
    pub fn open(
        path: &Path,
        clock: Arc<dyn Clock>,
        seam: S,
        durability: Durability,
    ) -> Result<Self, Error> {
        let options = Options::new()
            .shared_clock(Arc::clone(&clock))
            .durability(durability);
        let store_id = SqliteStore::open_with(path, options)?.store_id();
        let conn = Connection::open(path)?;
        // What an application of the seed's kind gets: SQLite's own busy handler.
        conn.busy_timeout(Duration::from_secs(5))?;
        let synchronous = match durability {
            Durability::Full => "FULL",
            _ => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        Ok(Self {
            conn: Mutex::new(conn),
            clock,
            seam,
            next_request: Mutex::new(1),
            store_id,
        })
    }

    fn run<T>(
        &self,
        statement: Statement,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let conn = || f(&self.conn.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(self.seam.run(statement, conn)?)
    }

    /// Step 1: reads the row and decides in Rust whether it is free (**the check**).
    ///
    /// # Errors
    ///
    /// Invalid input (the core's errors) or storage errors.
    pub fn read(&self, resource: &str, owner: &str, ttl: Duration) -> Result<Decision, Error> {
        let resource = ResourceName::new(resource)?;
        let owner = Owner::new(owner)?;
        let ttl = Ttl::from_duration(ttl)?;
        let now = self.clock.now()?;
        let row = self.run(Statement::ReadLock, |c| read_row(c, &resource))?;
        if let Some(record) = row.filter(|r| r.is_valid_at(now)) {
            let holder = Holder::from_core(&resource, record.holder());
            return Ok(Decision::Busy(Acquire::Busy(holder)));
        }
        let request_id = self.fresh_request_id();
        let expires_at = lease_expiry(now, ttl)?;
        Ok(Decision::Free(Intent {
            resource,
            owner,
            request_id,
            now,
            expires_at,
            ttl,
        }))
    }

    /// Step 2: writes the decided lease whatever the row holds now (**the act**).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn write(&self, decision: Decision) -> Result<Acquire, Error> {
        let sent = Instant::now();
        let intent = match decision {
            Decision::Busy(busy) => return Ok(busy),
            Decision::Free(intent) => intent,
        };
        let token = self.run(Statement::Acquire, |c| write_row(c, &intent))?;
        let token = FencingToken::new(token.unsigned_abs()).ok_or(Error::Rejected(
            leasehold_core::DecideError::TokensExhausted,
        ))?;
        let Intent {
            resource,
            owner,
            request_id,
            now,
            expires_at,
            ttl,
        } = intent;
        let holder = Holder::new(resource, owner, token, now, expires_at);
        let lease = Lease::new(holder, request_id, self.store_id, sent, ttl.as_duration());
        Ok(Acquire::Granted(lease))
    }

    /// The seed's acquire: [`read`](Self::read), then [`write`](Self::write).
    ///
    /// # Errors
    ///
    /// As the two steps.
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        let decision = self.read(resource, owner, ttl)?;
        self.write(decision)
    }

    /// The lost-release bug: frees `resource` by name, whatever lease holds it. Returns whether
    /// it freed one.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn release_by_name(&self, resource: &str) -> Result<bool, Error> {
        let resource = ResourceName::new(resource)?;
        let now = self.clock.now()?;
        let params = named_params! { ":resource": resource.as_str(), ":now": now.as_millis() };
        let changed = self.run(Statement::Release, |c| c.execute(RELEASE_BY_NAME, params))?;
        Ok(changed > 0)
    }

    fn fresh_request_id(&self) -> RequestId {
        let mut next = self
            .next_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *next += 1;
        // Distinct from any id the real store draws: those are random 128-bit values.
        RequestId::from_u128(*next)
    }
}

fn read_row(conn: &Connection, resource: &ResourceName) -> rusqlite::Result<Option<LeaseRecord>> {
    conn.prepare_cached(SELECT_ROW)?
        .query_row(named_params! { ":resource": resource.as_str() }, |row| {
            let owner: String = row.get(0)?;
            let token: i64 = row.get(1)?;
            let request_id: Vec<u8> = row.get(2)?;
            let time = |i: usize| {
                row.get::<_, i64>(i)
                    .map(|t| Timestamp::from_millis(t.unsigned_abs()))
            };
            Ok(LeaseRecord {
                owner: Owner::new(owner).map_err(|e| conversion(2, e))?,
                token: FencingToken::new(token.unsigned_abs())
                    .ok_or_else(|| conversion(1, "token"))?,
                request_id: RequestId::from_bytes(
                    request_id
                        .try_into()
                        .map_err(|_| conversion(2, "request id"))?,
                ),
                acquired_at: time(3)?,
                expires_at: time(4)?,
                status: status(row.get(5)?).ok_or_else(|| conversion(5, "status"))?,
            })
        })
        .optional()
}

fn conversion(column: usize, e: impl ToString) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        e.to_string().into(),
    )
}

fn status(code: i64) -> Option<Status> {
    Some(match code {
        0 => Status::Active,
        1 => Status::Released,
        2 => Status::ReleasedAfterExpiry,
        3 => Status::Evicted,
        _ => return None,
    })
}

fn write_row(conn: &Connection, intent: &Intent) -> rusqlite::Result<i64> {
    let params = named_params! {
        ":resource": intent.resource.as_str(),
        ":owner": intent.owner.as_str(),
        ":request_id": intent.request_id.to_bytes(),
        ":now": intent.now.as_millis(),
        ":expires_at": intent.expires_at.as_millis(),
    };
    // Stepped to SQLITE_DONE, as the real store's writes are, so that SQLite's automatic
    // checkpoints run for this store too (its cost is compared with the real one's).
    let mut statement = conn.prepare_cached(WRITE_ROW)?;
    let mut rows = statement.query(params)?;
    let token = rows
        .next()?
        .ok_or(rusqlite::Error::QueryReturnedNoRows)?
        .get(0)?;
    while rows.next()?.is_some() {}
    Ok(token)
}
