//! [`SqliteStore::with_fence`]: the caller's writes, committed only while its lease is current.

use rusqlite::{Connection, DropBehavior, Transaction, TransactionBehavior};

use leasehold_contract::{Fenced, Lease, Lost};

use crate::error::Error;
use crate::lock_wait::LockWait;
use crate::read::read_lock;
use crate::row;
use crate::seam::{Seam, Statement};
use crate::store::{SqliteStore, is_busy};

/// `BEGIN IMMEDIATE`: takes the write lock now rather than at the first write, so nothing can
/// commit between what the transaction reads and what it writes.
pub(crate) fn begin_immediate(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// How a fenced transaction ended, carried out of the seam call.
enum FenceRun<T, E> {
    /// The lease was not current: the transaction was rolled back before the closure ran.
    Lost(Lost),
    /// The check could not be made (a corrupt row, the clock), or the commit failed: rolled back.
    Failed(Error),
    /// The closure ran; its `Ok` was committed, its `Err` rolled back.
    Ran(Result<T, E>),
}

impl<S: Seam> SqliteStore<S> {
    /// Runs `f` in one write transaction that first checks, **inside that transaction**, that
    /// `lease` is still the valid lease of its resource; commits what `f` wrote only then.
    ///
    /// The transaction starts with `BEGIN IMMEDIATE`, which takes SQLite's write lock before the
    /// check and keeps it to the commit, so no grant to anyone else can be ordered between the
    /// check and the writes. Fencing is therefore real for data in the same database, even for a
    /// holder that was paused past its expiry: its late writes are refused, not interleaved with
    /// the next holder's.
    ///
    /// - Lease current: `f` runs; `Ok(v)` is committed and returned as [`Fenced::Committed`].
    /// - Lease expired, released, evicted or superseded: nothing runs, nothing is written, and
    ///   [`Fenced::Lost`] says why.
    /// - `f` returns `Err(e)` (or panics): everything it wrote is rolled back and `e` returned.
    ///
    /// `now` is read once the transaction holds the write lock, right before the check. `f` must
    /// not call this store (its connection is in use) and must not end the transaction itself
    /// ([`Error::FenceEnded`]). In a rollback-journal database the `COMMIT` itself can be busy
    /// while readers finish; it is retried until the busy timeout, holding the write lock (so
    /// still no grant can come in between), then rolled back with [`Error::Busy`].
    ///
    /// # Errors
    ///
    /// `f`'s error, or an [`Error`] (foreign lease, busy, storage) converted into `E`.
    pub fn with_fence<T, E: From<Error>>(
        &self,
        lease: &Lease,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<Fenced<T>, E> {
        self.check_own(lease)?;
        let mut f = Some(f);
        let run = self.run_waiting(Statement::FencedTransaction, None, |conn| {
            // Only `BEGIN IMMEDIATE` can be busy here (then nothing ran, and the store retries);
            // once it holds the write lock, a busy `COMMIT` is waited out inside.
            let tx = begin_immediate(conn)?;
            let f = f
                .take()
                .expect("`f` is taken only once the write lock is held");
            Ok(Ok(self.fence_in(tx, lease, f)))
        })?;
        match run {
            FenceRun::Ran(ran) => ran.map(Fenced::Committed),
            FenceRun::Lost(lost) => Ok(Fenced::Lost(lost)),
            FenceRun::Failed(e) => Err(e.into()),
        }
    }

    /// The fenced transaction, holding the write lock: the check at `now` (read now, under the
    /// lock), then `f`, then the commit.
    fn fence_in<T, E>(
        &self,
        tx: Transaction<'_>,
        lease: &Lease,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> FenceRun<T, E> {
        match self.fence_check(&tx, lease) {
            Ok(None) => {}
            Ok(Some(lost)) => return FenceRun::Lost(lost),
            Err(e) => return FenceRun::Failed(e),
        }
        let ran = f(&tx);
        if tx.is_autocommit() {
            // The closure ran COMMIT or ROLLBACK itself: there is nothing left to end.
            let mut tx = tx;
            tx.set_drop_behavior(DropBehavior::Ignore);
            return FenceRun::Failed(Error::FenceEnded);
        }
        if ran.is_err() {
            return FenceRun::Ran(ran);
        }
        match commit_waiting(tx, self.lock_wait()) {
            Ok(()) => FenceRun::Ran(ran),
            Err(e) => FenceRun::Failed(e),
        }
    }

    /// The fence is the core's decision: the lease may be used iff it is the valid lease now,
    /// exactly when a renew with its token would succeed.
    fn fence_check(&self, tx: &Transaction<'_>, lease: &Lease) -> Result<Option<Lost>, Error> {
        let now = self.now()?;
        let state = row::state_of(read_lock(tx, lease.resource().as_str())?)?;
        Ok(state
            .loss(lease.token(), now)
            .map(|loss| Lost::from_core(lease.resource(), loss)))
    }
}

/// `COMMIT`, retried while it is busy (readers of a rollback-journal database keep the writer
/// from committing until they finish; the transaction stays open meanwhile), then `ROLLBACK`.
fn commit_waiting(tx: Transaction<'_>, mut wait: LockWait) -> Result<(), Error> {
    let mut tx = tx;
    tx.set_drop_behavior(DropBehavior::Rollback);
    loop {
        match tx.execute_batch("COMMIT") {
            Ok(()) => {
                tx.set_drop_behavior(DropBehavior::Ignore);
                return Ok(());
            }
            Err(e) if is_busy(&e) && wait.pause() => {}
            // Dropping `tx` rolls back what is still open.
            Err(e) => return Err(Error::from(e)),
        }
    }
}
