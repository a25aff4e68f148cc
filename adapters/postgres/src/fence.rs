//! [`AsyncPgStore::with_fence`]: the caller's writes, committed only while its lease is current.

use leasehold_contract::wait::Backoff;
use leasehold_contract::{Fenced, Lease, Lost};
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

use crate::error::Error;
use crate::prepared::Cache;
use crate::row;
use crate::seam::Statement;
use crate::session::Session;
use crate::sql::{clock, columns};
use crate::sqlstate::Failure;
use crate::store::AsyncPgStore;

/// The fenced transaction's first statement: lock the resource's row with a no-op update and
/// read it, with the clock read after the lock. An update rather than `SELECT … FOR SHARE`: it
/// leaves a new row version, so a leasehold statement that waited for this transaction re-checks
/// its `WHERE` on the row as this transaction leaves it, with a fresh clock reading (PostgreSQL
/// re-evaluates a waiting update's condition only when the row it waited for was changed).
///
/// `$1` resource, `$2` now.
pub(crate) const FENCE_LOCK: &str = concat!(
    "UPDATE {schema}.leasehold_locks AS l SET token = l.token WHERE l.resource = $1 RETURNING ",
    clock!("$2"),
    ", ",
    columns!()
);

/// The check right before `COMMIT`, holding the row lock: the row and the clock again, and
/// whether this is still the transaction that took the lock (a transaction that wrote has an id;
/// one the closure ended and the server replaced with an implicit one has none).
///
/// `$1` resource, `$2` now.
pub(crate) const FENCE_CHECK: &str = concat!(
    "SELECT ",
    clock!("$2"),
    ", pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL, ",
    columns!(),
    " FROM (SELECT 1) one LEFT JOIN {schema}.leasehold_locks l ON l.resource = $1"
);

/// Marks the transaction right after the lease's row was locked: everything after it is the
/// caller's.
const SAVEPOINT: &str = "SAVEPOINT leasehold_fence";

/// Undoes the caller's writes, keeping the lock and the no-op update before them.
const UNDO: &str = "ROLLBACK TO SAVEPOINT leasehold_fence";

/// How a fenced transaction went, before the store turns it into the caller's answer.
enum Run<T, E> {
    /// The lease was not current: nothing of the closure's committed (it did not run, or its
    /// writes were undone).
    Lost(Lost),
    /// The closure ran and its writes committed.
    Committed(T),
    /// The closure failed: its writes were undone.
    Closure(E),
    /// A serialization failure before the closure ran: rolled back, try again.
    Again(tokio_postgres::Error),
    /// The store failed; `true` when the connection must be dropped.
    Failed(Error, bool),
}

impl AsyncPgStore {
    /// Runs `f` in one transaction that first checks, **inside that transaction**, that `lease`
    /// is still the valid lease of its resource, and checks again right before `COMMIT`; commits
    /// what `f` wrote only then.
    ///
    /// The first statement locks the lease's row, and the lock is held to the commit, so no
    /// grant to anyone else can be ordered between the first check and the commit: the caller's
    /// writes commit only if the lease was current when the row was locked **and** when the
    /// commit began. A holder that was paused past its expiry finds its late writes refused, not
    /// interleaved with the next holder's.
    ///
    /// - Lease current at both checks: `f`'s `Ok(v)` is committed and returned as
    ///   [`Fenced::Committed`].
    /// - Lease expired, released, evicted or superseded at the first check: `f` does not run,
    ///   nothing is written, and [`Fenced::Lost`] says why.
    /// - Lease expired while `f` ran: `f`'s writes are rolled back, and [`Fenced::Lost`] says so.
    /// - `f` returns `Err(e)` (or panics, or the future is dropped): everything it wrote is rolled
    ///   back and `e` returned.
    ///
    /// The transaction has the server's default isolation level. A serialization failure before
    /// `f` runs is retried; one in `f`'s statements or at `COMMIT` is `f`'s error or
    /// [`Error::SerializationFailure`]: retry the whole call. The connection is this store's
    /// (or a pooled one) for the whole transaction: `f` must not call this store, and must not
    /// end the transaction itself ([`Error::FenceEnded`]). Through a transaction pooler, `f`
    /// should use `query_typed`/`execute_typed` (unnamed statements) rather than `prepare`.
    ///
    /// # Errors
    ///
    /// `f`'s error, or an [`Error`] (foreign lease, connection, server) converted into `E`.
    pub async fn with_fence<T, E, F>(&self, lease: &Lease, f: F) -> Result<Fenced<T>, E>
    where
        E: From<Error>,
        F: AsyncFnOnce(&Transaction<'_>) -> Result<T, E>,
    {
        self.check_own(lease)?;
        let mut f = Some(f);
        let mut backoff = Backoff::new();
        let mut session = self.session().await?;
        for attempt in 1.. {
            let run = self.fence_once(&mut session, lease, &mut f).await;
            return match run {
                Run::Committed(value) => Ok(Fenced::Committed(value)),
                Run::Lost(lost) => Ok(Fenced::Lost(lost)),
                Run::Closure(e) => Err(e),
                Run::Again(source) if attempt >= self.serialization_retries() => {
                    Err(Error::SerializationFailure {
                        attempts: attempt,
                        source,
                    }
                    .into())
                }
                Run::Again(_) => {
                    tokio::time::sleep(backoff.next_pause()).await;
                    continue;
                }
                Run::Failed(e, drop_connection) => {
                    if drop_connection {
                        session.discard();
                    }
                    Err(e.into())
                }
            };
        }
        unreachable!("the attempts are counted by an unbounded range")
    }

    /// One fenced transaction: begin, lock and check, `f`, check, commit.
    async fn fence_once<T, E, F>(
        &self,
        session: &mut Session<'_>,
        lease: &Lease,
        f: &mut Option<F>,
    ) -> Run<T, E>
    where
        F: AsyncFnOnce(&Transaction<'_>) -> Result<T, E>,
    {
        let (client, cache) = self.connection(session);
        let begun = self.control(Statement::FenceControl, client.transaction());
        let tx = match begun.await {
            Ok(tx) => tx,
            Err(failure) => return failed(failure),
        };
        match self
            .fence_check(&tx, &cache, lease, Statement::FenceLock)
            .await
        {
            Ok(Check::Current) => {}
            Ok(Check::Lost(lost)) => return self.ended(tx, false, Run::Lost(lost)).await,
            Ok(Check::Ended) => unreachable!("the first statement of a transaction cannot end it"),
            Err(Failure::Retry(e)) => return Run::Again(e),
            Err(failure) => return failed(failure),
        }
        let marked = self.control(Statement::FenceControl, tx.batch_execute(SAVEPOINT));
        if let Err(failure) = marked.await {
            return failed(failure);
        }
        // Taken only here, once the lease was found current: a retry never needs it again.
        let f = f.take().expect("`f` runs at most once");
        let value = match f(&tx).await {
            Ok(value) => value,
            Err(e) => return self.ended(tx, true, Run::Closure(e)).await,
        };
        match self
            .fence_check(&tx, &cache, lease, Statement::FenceCheck)
            .await
        {
            Ok(Check::Current) => {}
            Ok(Check::Lost(lost)) => return self.ended(tx, true, Run::Lost(lost)).await,
            Ok(Check::Ended) => return Run::Failed(Error::FenceEnded, false),
            Err(failure) => return failed(failure),
        }
        match self.control(Statement::FenceControl, tx.commit()).await {
            Ok(()) => Run::Committed(value),
            Err(failure) => failed(failure),
        }
    }

    /// Ends a fenced transaction whose caller's writes must not commit: they are rolled back to
    /// the savepoint taken after the lock (`undo`), and the transaction — now only the no-op
    /// update of the lease's row — commits. Committing it, rather than rolling everything back,
    /// leaves a new version of the row, so that a leasehold statement that waited for the lock
    /// re-checks its condition with a fresh clock reading instead of applying the decision it
    /// took before the wait. A failure here only matters for the connection.
    async fn ended<T, E>(&self, tx: Transaction<'_>, undo: bool, run: Run<T, E>) -> Run<T, E> {
        if undo {
            let undone = self.control(Statement::FenceControl, tx.batch_execute(UNDO));
            if let Err(Failure::Lost(e)) = undone.await {
                return Run::Failed(e, true);
            }
        }
        match self.control(Statement::FenceControl, tx.commit()).await {
            Err(Failure::Lost(e)) => Run::Failed(e, true),
            _ => run,
        }
    }

    /// The fence's check at the first statement (`FenceLock`, which also locks the row) or before
    /// `COMMIT` (`FenceCheck`): the lease may be used iff it is the valid lease now, exactly when
    /// a renew with its token would succeed. `cache` is the connection's statement cache.
    async fn fence_check(
        &self,
        tx: &Transaction<'_>,
        cache: &Cache,
        lease: &Lease,
        statement: Statement,
    ) -> Result<Check, Failure> {
        let now = self.clock_param().map_err(Failure::Fail)?;
        let name = lease.resource().as_str();
        let params = [(&name as _, Type::TEXT), (&now as _, Type::INT8)];
        let sql = self.text(statement);
        let rows = self
            .run_in(tx.client(), cache, statement, sql, &params)
            .await?;
        let checked = (|| {
            let Some(found) = rows.first() else {
                // No row to lock: the resource is vacant, so the lease is not current.
                let state = row::state_of(None)?;
                return Ok(Check::from_loss(
                    state.loss(lease.token(), now_or_zero(now)),
                    lease,
                ));
            };
            let columns = if statement == Statement::FenceCheck {
                if !found.try_get::<_, bool>(1).map_err(Error::Postgres)? {
                    return Ok(Check::Ended);
                }
                2
            } else {
                1
            };
            let state = row::state_of(row::read(found, columns)?)?;
            Ok(Check::from_loss(
                state.loss(lease.token(), row::now(found, 0)?),
                lease,
            ))
        })();
        checked.map_err(Failure::Fail)
    }
}

/// What a fence check found.
enum Check {
    /// The lease is the valid lease now.
    Current,
    /// The lease is not current.
    Lost(Lost),
    /// The transaction is not the one the fence began: the closure ended it.
    Ended,
}

impl Check {
    fn from_loss(
        loss: Option<(leasehold_core::LostReason, Option<leasehold_core::Holder>)>,
        lease: &Lease,
    ) -> Self {
        match loss {
            None => Self::Current,
            Some(loss) => Self::Lost(Lost::from_core(lease.resource(), loss)),
        }
    }
}

/// A vacant resource's loss does not depend on the clock; any reading will do.
fn now_or_zero(now: Option<i64>) -> leasehold_core::Timestamp {
    now.and_then(row::time)
        .unwrap_or(leasehold_core::Timestamp::ZERO)
}

fn failed<T, E>(failure: Failure) -> Run<T, E> {
    match failure {
        Failure::Lost(e) => Run::Failed(e, true),
        Failure::Retry(source) => Run::Failed(
            Error::SerializationFailure {
                attempts: 1,
                source,
            },
            false,
        ),
        Failure::Fail(e) => Run::Failed(e, false),
    }
}
