//! The holders' steps: the driver that owns each holder's [`Keeper`], and the store's decisions
//! on its requests. The shipped driver does what the keeper says and tells it what happened; each
//! planted bug is one call to the keeper made wrongly, marked **planted bug**.

use leasehold_core::{
    AcquireOutcome, Answered, Keeper, KeeperAction, Outcome, RenewReply, Request, RequestId,
};

use super::HolderModel;
use super::action::{Fate, HolderAction};
use super::state::{Holder, HolderState, Pending, local_instant};
use crate::config::{Protocol, SUB_TICKS};
use crate::model::{core_token, decide_on, write_row};
use crate::state::{Row, flag};

impl HolderModel {
    /// Whether holder `client` must take a step before the clock may tick: a reply that has
    /// travelled the longest delay arrives, and a renewal that is due is sent (the driver wakes at
    /// the instant its keeper names).
    pub(super) fn must_act(&self, state: &HolderState, client: u8) -> bool {
        let holder = state.holder(client);
        let overdue = holder
            .pending
            .is_some_and(|p| p.age() >= self.config.faults.delay);
        overdue || self.renewal_due(holder) || gives_up(holder)
    }

    /// Whether the driver sends a renewal now.
    fn renewal_due(&self, holder: &Holder) -> bool {
        let Some((_, keeper)) = holder.lease else {
            return false;
        };
        let now = holder.now();
        let due = if self.config.protocol == Protocol::RenewEveryTtl {
            // Planted bug: the driver renews on its own period of one TTL after the last
            // confirmed send, not when the keeper says (and stops once the keeper says lost).
            let period = u64::from(self.config.ttl) * u64::from(SUB_TICKS);
            let since = now.saturating_duration_since(keeper.confirmed_at());
            keeper.is_valid(now) && since >= local_instant_span(period)
        } else {
            // `poll` latches a loss; the state keeps the keeper as the driver's answers left it.
            let mut polled = keeper;
            polled.poll(now) == KeeperAction::Renew
        };
        assert!(
            !due || holder.pending.is_none(),
            "a renewal is due with a reply in flight: the model's retry interval must outlast a \
             round trip"
        );
        due
    }

    /// The steps holder `client` may take.
    pub(super) fn holder_actions(
        &self,
        state: &HolderState,
        client: u8,
        actions: &mut Vec<HolderAction>,
    ) {
        let holder = state.holder(client);
        if holder.pending.is_some() {
            actions.push(HolderAction::Reply { client });
        } else if gives_up(holder) {
            actions.push(HolderAction::GiveUp { client });
        } else if holder.lease.is_none() && holder.attempts < self.config.attempts {
            actions.push(HolderAction::Acquire { client });
        } else if self.renewal_due(holder) {
            actions.push(HolderAction::Renew {
                client,
                fate: Fate::Answered,
            });
            if self.config.faults.renew_failures {
                for fate in [Fate::Dropped, Fate::ReplyLost] {
                    actions.push(HolderAction::Renew { client, fate });
                }
            }
        }
    }

    /// The store decides `request` at its clock, and writes what the core says.
    fn decide(&self, state: &mut HolderState, request: &Request<u8>) -> Outcome<u8> {
        let decision = decide_on(&state.resource.row.to_core(), request, state.clock);
        if let Some(record) = &decision.write {
            let row = Row::from_record(record);
            // No acquire is retried with its request id in this model.
            let row = if self.abstraction {
                row.abstracted(false)
            } else {
                row
            };
            write_row(&mut state.resource, row, state.clock, self.tracked);
        }
        decision.outcome
    }

    pub(super) fn acquire(&self, state: &mut HolderState, client: u8) {
        let attempt = state.holder(client).attempts;
        let request = Request::Acquire {
            owner: client,
            request_id: RequestId::from_u128(crate::state::request_id(client, attempt).into()),
            ttl: self.ttl,
        };
        let outcome = self.decide(state, &request);
        let granted = match outcome {
            Outcome::Acquire(AcquireOutcome::Granted(grant)) => Some(
                u8::try_from(grant.token.get())
                    .expect("the configuration bounds keep tokens small"),
            ),
            _ => None,
        };
        let holder = state.holder_mut(client);
        holder.attempts += 1;
        holder.pending = Some(Pending::Acquire {
            sent_at: holder.clock,
            granted,
            age: 0,
        });
    }

    pub(super) fn renew(&self, state: &mut HolderState, client: u8, fate: Fate) {
        let holder = *state.holder(client);
        let Some((token, mut keeper)) = holder.lease else {
            return;
        };
        let ticket = keeper.renew_sent(holder.now());
        let reply = if fate == Fate::Dropped {
            RenewReply::Failed
        } else {
            let request = Request::Renew {
                token: core_token(token),
                ttl: self.ttl,
            };
            match self.decide(state, &request) {
                Outcome::Renew(outcome) if fate == Fate::Answered => RenewReply::from(&outcome),
                _ => RenewReply::Failed,
            }
        };
        let holder = state.holder_mut(client);
        holder.lease = Some((token, keeper));
        holder.pending = Some(Pending::Renew {
            ticket,
            reply,
            age: 0,
        });
        holder.renewal_failed |= self.track_failures && fate != Fate::Answered;
    }

    pub(super) fn reply(&self, state: &mut HolderState, client: u8) {
        let holder = state.holder_mut(client);
        let now = holder.now();
        match holder.pending.take() {
            Some(Pending::Acquire {
                sent_at,
                granted: Some(token),
                ..
            }) => {
                let start = if self.config.protocol == Protocol::DeadlineFromReply {
                    // Planted bug: the keeper starts from the reply's arrival.
                    now
                } else {
                    local_instant(sent_at)
                };
                let keeper = Keeper::new(&self.keeper, start)
                    .expect("HolderModel::new checked the keeper's configuration");
                holder.lease = Some((token, keeper));
            }
            Some(Pending::Renew { ticket, reply, .. }) => {
                let Some((token, mut keeper)) = holder.lease else {
                    return;
                };
                let answered = match self.config.protocol {
                    Protocol::DeadlineFromReply => {
                        // Planted bug: the answer is credited to a renewal "sent" on arrival.
                        let stamped = keeper.renew_sent(now);
                        keeper.renew_answered(stamped, reply, now)
                    }
                    Protocol::FailedRenewAsSuccess if reply == RenewReply::Failed => {
                        // Planted bug: a failed renewal is reported as renewed.
                        keeper.renew_answered(ticket, RenewReply::Renewed, now)
                    }
                    _ => keeper.renew_answered(ticket, reply, now),
                };
                holder.lease = Some((token, keeper));
                if matches!(answered, Answered::Extended { .. }) {
                    state.resource.ghost.flags |= flag::RENEWED & self.tracked;
                }
            }
            // Busy: the holder gives up this attempt.
            Some(Pending::Acquire { granted: None, .. }) => holder.forget(),
            None => {}
        }
    }
}

/// Whether the driver gives its lease up: its keeper says it is lost, and no reply is due.
fn gives_up(holder: &Holder) -> bool {
    let Some((_, keeper)) = holder.lease else {
        return false;
    };
    let mut polled = keeper;
    holder.pending.is_none() && matches!(polled.poll(holder.now()), KeeperAction::Lost(_))
}

/// A span of `steps` steps of a holder's clock.
fn local_instant_span(steps: u64) -> core::time::Duration {
    core::time::Duration::from_nanos(steps * local_instant(1).as_nanos())
}
