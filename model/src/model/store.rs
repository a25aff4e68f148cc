//! The store's steps: every request is decided by the core, and what the core writes is stored,
//! with the ghost history the properties read.

use leasehold_core::{Decision, FencingToken, LockState, Outcome, Request, Timestamp};

use super::LeaseModel;
use crate::state::{Resource, Row, RowStatus, State, flag};

/// Decides `request` on `lock` at `now` (the store's clock, in ticks) with the core.
pub(crate) fn decide_on(lock: &LockState<u8>, request: &Request<u8>, now: u8) -> Decision<u8> {
    lock.decide(request, Timestamp::from_millis(now.into()))
        .expect("the configuration bounds keep every request valid")
}

/// Writes `row` as `slot`'s stored row at `clock`, noting in the ghost history the facts about a
/// new grant that the `tracked` flags ask for.
pub(crate) fn write_row(slot: &mut Resource, row: Row, clock: u8, tracked: u8) {
    let previous = slot.row;
    let new_grant = row.status == RowStatus::Active && row.token != previous.token;
    if new_grant {
        let ghost = &mut slot.ghost;
        let mut flags = flag::GRANTED;
        if row.token <= ghost.granted_max {
            flags |= flag::TOKEN_NOT_INCREASED;
        }
        if previous.status == RowStatus::Active && !previous.is_valid_at(clock) {
            flags |= flag::GRANTED_AFTER_EXPIRY;
        }
        if matches!(
            previous.status,
            RowStatus::Released | RowStatus::ReleasedAfterExpiry
        ) {
            flags |= flag::GRANTED_AFTER_RELEASE;
        }
        ghost.flags |= flags & tracked;
        if tracked & flag::TOKEN_NOT_INCREASED != 0 {
            ghost.granted_max = ghost.granted_max.max(row.token);
        }
    }
    slot.row = row;
}

/// A core time the configuration bounds keep under 256 ticks.
pub(crate) fn narrow_time(time: Timestamp) -> u8 {
    u8::try_from(time.as_millis()).expect("the configuration bounds keep times small")
}

/// The core's token for a token the model holds.
pub(crate) fn core_token(token: u8) -> FencingToken {
    FencingToken::new(token.into()).expect("a held token is at least 1")
}

impl LeaseModel {
    /// Decides `request` on `resource` at `now` with the core, and stores what it writes.
    pub(super) fn decide(
        &self,
        state: &mut State,
        resource: u8,
        request: &Request<u8>,
        now: u8,
    ) -> Outcome<u8> {
        let decision = decide_on(&state.resource(resource).row.to_core(), request, now);
        if let Some(record) = &decision.write {
            self.store(state, resource, Row::from_record(record));
        }
        decision.outcome
    }

    /// Writes `row` for `resource`, abstracted unless the model keeps exact rows.
    pub(super) fn store(&self, state: &mut State, resource: u8, row: Row) {
        let row = if self.abstraction {
            row.abstracted(self.config.faults.lost_replies)
        } else {
            row
        };
        let clock = state.clock;
        write_row(state.resource_mut(resource), row, clock, self.tracked);
    }
}
