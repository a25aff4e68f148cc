//! The clients' steps: which actions each client may take, and what each does. Every request a
//! client makes is decided by the store's step (`store.rs`), that is, by the core.

use leasehold_core::{
    AcquireOutcome, GrantKind, LockState, Outcome, RenewOutcome, Request, RequestId,
};

use super::{LeaseModel, core_token, decide_on, narrow_time};
use crate::action::{Action, Reply};
use crate::config::Protocol;
use crate::state::{Phase, Row, RowStatus, State, flag};

impl LeaseModel {
    /// The request id of `client`'s attempt number `attempt` (from 0): unique per attempt.
    fn request_id(client: u8, attempt: u8) -> RequestId {
        RequestId::from_u128(crate::state::request_id(client, attempt).into())
    }

    /// How far ahead of the store's clock a client's clock may read: only `client-clock`
    /// clients read their own.
    fn clock_offsets(&self) -> core::ops::RangeInclusive<u8> {
        let skew = if self.config.protocol == Protocol::ClientClock {
            self.config.faults.skew
        } else {
            0
        };
        0..=skew
    }

    /// The actions `client` may take in `state`.
    pub(super) fn client_actions(&self, state: &State, client: u8, actions: &mut Vec<Action>) {
        let me = state.client(client);
        let faults = self.config.faults;
        match me.phase {
            Phase::Idle if me.attempts < self.config.attempts => {
                self.acquire_actions(client, actions);
            }
            Phase::Idle => {}
            Phase::Deciding { .. } => actions.push(Action::Write { client }),
            Phase::Unsure { .. } => {
                actions.extend(
                    self.clock_offsets()
                        .map(|ahead| Action::Retry { client, ahead }),
                );
            }
            Phase::Holding { paused: true, .. } => actions.push(Action::Use { client }),
            Phase::Holding { expires_at, .. } => {
                let believes_valid = state.clock < expires_at;
                if self.config.writes && believes_valid {
                    actions.push(Action::Use { client });
                    if faults.pause {
                        actions.push(Action::Pause { client });
                    }
                }
                for ahead in self.clock_offsets() {
                    if self.config.renew {
                        actions.push(Action::Renew { client, ahead });
                    }
                    actions.push(Action::Release { client, ahead });
                }
            }
        }
        if faults.crash && me.phase != Phase::Idle {
            actions.push(Action::Crash { client });
        }
    }

    fn acquire_actions(&self, client: u8, actions: &mut Vec<Action>) {
        for resource in 0..self.config.resources {
            for ahead in self.clock_offsets() {
                if self.config.protocol == Protocol::CheckThenAct {
                    actions.push(Action::Read {
                        client,
                        resource,
                        ahead,
                    });
                    continue;
                }
                actions.push(Action::Acquire {
                    client,
                    resource,
                    ahead,
                    reply: Reply::Delivered,
                });
                if self.config.faults.lost_replies {
                    actions.push(Action::Acquire {
                        client,
                        resource,
                        ahead,
                        reply: Reply::Lost,
                    });
                }
            }
        }
    }

    /// An acquire attempt `client` has not made before (or is retrying, `attempt` back).
    fn acquire_request(&self, client: u8, attempt: u8) -> Request<u8> {
        Request::Acquire {
            owner: client,
            request_id: Self::request_id(client, attempt),
            ttl: self.ttl,
        }
    }

    pub(super) fn acquire(
        &self,
        state: &mut State,
        client: u8,
        resource: u8,
        ahead: u8,
        reply: Reply,
    ) -> bool {
        let request = self.acquire_request(client, state.client(client).attempts);
        let outcome = self.decide(state, resource, &request, state.clock + ahead);
        let me = state.client_mut(client);
        me.attempts += 1;
        me.phase = match reply {
            Reply::Lost => Phase::Unsure { resource },
            Reply::Delivered => holding_or_idle(resource, &outcome),
        };
        true
    }

    pub(super) fn retry(&self, state: &mut State, client: u8, ahead: u8) -> bool {
        let me = *state.client(client);
        let Phase::Unsure { resource } = me.phase else {
            return false;
        };
        let request = self.acquire_request(client, me.attempts - 1);
        let outcome = self.decide(state, resource, &request, state.clock + ahead);
        if let Outcome::Acquire(AcquireOutcome::Granted(grant)) = &outcome
            && grant.kind == GrantKind::Replayed
        {
            state.resource_mut(resource).ghost.flags |= flag::REPLAYED & self.tracked;
        }
        state.client_mut(client).phase = holding_or_idle(resource, &outcome);
        true
    }

    /// `check-then-act`, step 1 (**planted bug**): the client reads the row and decides on its
    /// own copy; nothing is written, so nothing stops another client deciding the same.
    pub(super) fn read(&self, state: &mut State, client: u8, resource: u8, ahead: u8) -> bool {
        let now = state.clock + ahead;
        let request = self.acquire_request(client, state.client(client).attempts);
        let decision = decide_on(&state.resource(resource).row.to_core(), &request, now);
        let free = matches!(
            decision.outcome,
            Outcome::Acquire(AcquireOutcome::Granted(_))
        );
        let me = state.client_mut(client);
        me.attempts += 1;
        me.phase = if free {
            Phase::Deciding {
                resource,
                read_at: now,
            }
        } else {
            Phase::Idle
        };
        true
    }

    /// `check-then-act`, step 2 (**planted bug**): the client writes the lease it decided on at
    /// read time, whatever the row holds now. The store still numbers the token (like a SQL
    /// `token = token + 1`), so tokens keep increasing: what breaks is mutual exclusion.
    pub(super) fn write(&self, state: &mut State, client: u8) -> bool {
        let me = *state.client(client);
        let Phase::Deciding { resource, read_at } = me.phase else {
            return false;
        };
        let request = self.acquire_request(client, me.attempts - 1);
        let as_if_free = LockState::<u8>::Vacant {
            high_water: state.resource(resource).row.to_core().high_water(),
        };
        let decision = decide_on(&as_if_free, &request, read_at);
        let record = decision.write.expect("a vacant lock is always granted");
        self.store(state, resource, Row::from_record(&record));
        state.client_mut(client).phase = holding_or_idle(resource, &decision.outcome);
        true
    }

    pub(super) fn renew(&self, state: &mut State, client: u8, ahead: u8) -> bool {
        let Phase::Holding {
            resource,
            token,
            paused: false,
            ..
        } = state.client(client).phase
        else {
            return false;
        };
        let request = Request::Renew {
            token: core_token(token),
            ttl: self.ttl,
        };
        let outcome = self.decide(state, resource, &request, state.clock + ahead);
        let me = state.client_mut(client);
        me.phase = match outcome {
            Outcome::Renew(RenewOutcome::Renewed { expires_at }) => Phase::Holding {
                resource,
                token,
                expires_at: narrow_time(expires_at),
                paused: false,
            },
            _ => Phase::Idle,
        };
        true
    }

    pub(super) fn release(&self, state: &mut State, client: u8, ahead: u8) -> bool {
        let Phase::Holding {
            resource, token, ..
        } = state.client(client).phase
        else {
            return false;
        };
        let token = match self.config.protocol {
            // Planted bug: the release names the resource, and frees whatever lease it holds.
            Protocol::TokenlessRelease => match state.resource(resource).row.status {
                RowStatus::Vacant => token,
                _ => state.resource(resource).row.token,
            },
            _ => token,
        };
        let request = Request::Release {
            token: core_token(token),
        };
        let _ = self.decide(state, resource, &request, state.clock + ahead);
        state.client_mut(client).phase = Phase::Idle;
        true
    }

    /// A write to `client`'s protected resource with its token.
    pub(super) fn use_resource(&self, state: &mut State, client: u8) -> bool {
        let Phase::Holding {
            resource,
            token,
            expires_at,
            ..
        } = state.client(client).phase
        else {
            return false;
        };
        let fenced = self.config.protocol != Protocol::UnfencedResource;
        let slot = state.resource_mut(resource);
        let newest = slot.fence;
        let accepted = !fenced || token >= newest;
        if accepted {
            slot.fence = newest.max(token);
            let mut flags = 0;
            if token < newest {
                flags |= flag::WRITE_OUT_OF_ORDER;
            }
            if newest != 0 && token != newest {
                flags |= flag::TWO_WRITERS;
            }
            slot.ghost.flags |= flags & self.tracked;
        }
        state.client_mut(client).phase = if accepted {
            Phase::Holding {
                resource,
                token,
                expires_at,
                paused: false,
            }
        } else {
            // The resource refused a stale token: the client has lost its lease.
            Phase::Idle
        };
        true
    }
}

/// The holder checks its lease, then stops for as long as the checker likes.
pub(super) fn pause(state: &mut State, client: u8) -> bool {
    let me = state.client_mut(client);
    match &mut me.phase {
        Phase::Holding { paused, .. } if !*paused => {
            *paused = true;
            true
        }
        _ => false,
    }
}

fn holding_or_idle(resource: u8, outcome: &Outcome<u8>) -> Phase {
    match outcome {
        Outcome::Acquire(AcquireOutcome::Granted(grant)) => Phase::Holding {
            resource,
            token: u8::try_from(grant.token.get())
                .expect("the configuration bounds keep tokens small"),
            expires_at: narrow_time(grant.expires_at),
            paused: false,
        },
        _ => Phase::Idle,
    }
}
