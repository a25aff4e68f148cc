//! [`SqliteStore::with_fence`]: the caller's writes, committed only while its lease is current.

use rusqlite::Transaction;

use crate::error::Error;
use crate::outcome::{Fenced, Lease, Lost};
use crate::row;
use crate::seam::{Seam, Statement};
use crate::sql;
use crate::store::SqliteStore;

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
    /// not call this store (its connection is in use) and must not end the transaction itself.
    ///
    /// # Errors
    ///
    /// `f`'s error, or an [`Error`] (busy, storage) converted into `E`.
    pub fn with_fence<T, E: From<Error>>(
        &self,
        lease: &Lease,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<Fenced<T>, E> {
        let mut f = Some(f);
        let run = self.run_waiting(Statement::FencedTransaction, |conn| {
            // Only `BEGIN IMMEDIATE` can be busy (then nothing ran, and the store retries);
            // once it holds the write lock, every outcome is final.
            let tx = sql::begin_immediate(conn)?;
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
        let (resource, token) = (lease.resource(), lease.token());
        let now = match self.now() {
            Ok(now) => now,
            Err(e) => return FenceRun::Failed(e),
        };
        let state = sql::read_lock(&tx, resource.as_str()).map_err(Error::from);
        // The fence is the core's decision: the lease may be used iff it is the valid lease
        // now, exactly when a renew with its token would succeed.
        match state
            .and_then(row::state_of)
            .map(|state| Self::lost(&state, resource, token, now))
        {
            Ok(None) => {}
            Ok(Some(lost)) => return FenceRun::Lost(lost),
            Err(e) => return FenceRun::Failed(e),
        }
        let ran = f(&tx);
        if ran.is_ok()
            && let Err(e) = tx.commit()
        {
            return FenceRun::Failed(Error::from(e));
        }
        FenceRun::Ran(ran)
    }
}
