//! The planted bugs of [`MemoryStore`]: where a flawed store departs from the reference, each
//! marked **Planted bug** and named by its [`Flaw`].

use std::time::{Duration, Instant};

use leasehold_contract::Acquire;
use leasehold_contract::rounds::AcquireRequest;
use leasehold_contract::wait::Backoff;
use leasehold_core::{
    DecideError, FencingToken, LeaseRecord, LockState, LockTable, Request, RequestId, Status,
    Timestamp, Ttl, lease_expiry,
};

use super::{Flaw, MemoryError, MemoryStore, write};

impl MemoryStore {
    /// The state an acquire decides on: the real one, or the state a flaw makes it see.
    pub(super) fn flawed_state(&self, state: LockState, request: &AcquireRequest) -> LockState {
        match (self.flaw, state.record()) {
            // **Planted bug**: the holder's own lease is no obstacle to it.
            (Flaw::Reentrant, Some(record)) if record.owner == *request.owner() => {
                LockState::Vacant {
                    high_water: Some(record.token),
                }
            }
            // **Planted bug**: an active lease never runs out.
            (Flaw::NeverExpires, Some(record)) if record.status == Status::Active => {
                LockState::Recorded(LeaseRecord {
                    expires_at: Timestamp::MAX,
                    ..record.clone()
                })
            }
            _ => state,
        }
    }

    /// The state a renew with `token` decides on: with [`Flaw::RenewResurrects`], the
    /// resource's last lease is valid again if it has `token`, however it ended.
    pub(super) fn renew_state(
        &self,
        state: LockState,
        token: FencingToken,
        now: Timestamp,
    ) -> LockState {
        match (self.flaw, state.record()) {
            // **Planted bug**: an ended lease is re-armed by its token.
            (Flaw::RenewResurrects, Some(record))
                if record.token == token && !record.is_valid_at(now) =>
            {
                let just_after = Timestamp::from_millis(now.as_millis() + 1);
                LockState::Recorded(LeaseRecord {
                    status: Status::Active,
                    expires_at: record.expires_at.max(just_after),
                    ..record.clone()
                })
            }
            _ => state,
        }
    }

    /// The record a renew writes: the core's, or with [`Flaw::ShortensOnRenew`] one that ends
    /// at `now + ttl` whatever it had left.
    pub(super) fn renewed_record(
        &self,
        record: LeaseRecord,
        now: Timestamp,
        ttl: Ttl,
    ) -> Result<LeaseRecord, DecideError> {
        Ok(match self.flaw {
            // **Planted bug**: the expiry is overwritten, not extended.
            Flaw::ShortensOnRenew => LeaseRecord {
                expires_at: lease_expiry(now, ttl)?,
                ..record
            },
            _ => record,
        })
    }

    /// Prunes `table`; with [`Flaw::ResetsTokens`] the high-water mark of what was deleted is
    /// forgotten.
    pub(super) fn pruned(&self, table: &mut LockTable, now: Timestamp, idle_ms: u64) -> usize {
        let deleted = table.prune(now, idle_ms);
        if self.flaw == Flaw::ResetsTokens {
            // **Planted bug**: the table is rebuilt without its pruned high-water mark.
            let records: Vec<_> = table
                .records()
                .map(|(n, r)| (n.clone(), r.clone()))
                .collect();
            *table = LockTable::from_records(records, None);
        }
        deleted
    }

    /// Refreshes the copy reads answer from, for a store with [`Flaw::StaleReads`]: only its own
    /// operations bring it up to date.
    pub(super) fn refresh_cache(&self, table: &LockTable) {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stale) = cached.as_mut() {
            stale.clone_from(table);
        }
    }

    /// **Planted bug** ([`Flaw::CheckThenAct`]): decide on a copy, let others run, then write
    /// that decision unconditionally, numbering the token from the row as it is then.
    pub(super) fn check_then_act(
        &self,
        request: &AcquireRequest,
        core: &Request,
        now: Timestamp,
        sent: Instant,
    ) -> Result<Acquire, MemoryError> {
        let decision = self.with_table(|table| table.decide(request.resource(), core, now))?;
        let Some(record) = decision.write else {
            return Ok(self.answer(request, decision.outcome, now, sent));
        };
        std::thread::sleep(Duration::from_micros(300));
        let record = self.with_table(|table| {
            let above = table.state(request.resource()).high_water();
            let token = above
                .and_then(|t| FencingToken::after(t.get()))
                .unwrap_or(record.token);
            let record = LeaseRecord { token, ..record };
            write(table, request.resource(), record.clone());
            record
        });
        let grant = (record.token, record.acquired_at, record.expires_at);
        Ok(Acquire::Granted(request.granted(grant, self.db.id, sent)))
    }

    /// **Planted bug** ([`Flaw::NoTurns`]): try, back off as the contract's waiting does (4 to
    /// 50 ms), try again — but with no line and no wake-up.
    pub(super) fn poll_until(
        &self,
        request: &AcquireRequest,
        deadline: Option<Instant>,
    ) -> Result<Acquire, MemoryError> {
        let mut backoff = Backoff::new();
        loop {
            let answer = self.attempt(request)?;
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if matches!(answer, Acquire::Granted(_)) || left.is_some_and(|l| l.is_zero()) {
                return Ok(answer);
            }
            let pause = backoff.next_pause();
            std::thread::sleep(left.map_or(pause, |left| pause.min(left)));
        }
    }
}

/// The request with another id: what [`Flaw::NoReplay`] decides on.
pub(super) fn with_fresh_id(request: &AcquireRequest, id: RequestId) -> Request {
    Request::Acquire {
        owner: request.owner().clone(),
        request_id: id,
        ttl: request.ttl(),
    }
}
