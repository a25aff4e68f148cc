//! [`LeaseModel`]: the protocol as a stateright [`Model`].
//!
//! Every store transition is a call to `leasehold-core`'s [`LockState::decide`]: the model never
//! restates the rules. The planted bugs compose those calls differently, and each is marked
//! **planted bug** where it happens.

use leasehold_core::{
    AcquireOutcome, GrantKind, LockState, Outcome, RenewOutcome, Request, RequestId, Timestamp, Ttl,
};
use stateright::{Model, Property};

use crate::action::{Action, Reply};
use crate::config::{Config, Protocol};
use crate::properties::tracked_flags;
use crate::state::{Phase, Row, RowStatus, State, flag};

/// The model of one configuration, checking the properties in `config.properties`.
#[derive(Clone, Debug)]
pub struct LeaseModel {
    config: Config,
    ttl: Ttl,
    tracked: u8,
    abstraction: bool,
}

impl LeaseModel {
    /// The model of `config`.
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`](crate::ConfigError), if any.
    pub fn new(config: Config) -> Result<Self, crate::ConfigError> {
        config.validate()?;
        let ttl = Ttl::from_millis(config.ttl.into()).map_err(|_| crate::ConfigError::ZeroTtl)?;
        let tracked = config
            .properties
            .iter()
            .map(tracked_flags)
            .fold(0, |a, b| a | b);
        Ok(Self {
            config,
            ttl,
            tracked,
            abstraction: true,
        })
    }

    /// The same model without the abstraction of stored rows (see [`crate::state`]): slower,
    /// used to check that the abstraction changes no verdict.
    #[must_use]
    pub fn without_abstraction(self) -> Self {
        Self {
            abstraction: false,
            ..self
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The one initial state: clock 0, nothing granted, every client idle.
    #[must_use]
    pub fn initial_state(&self) -> State {
        State {
            clients_in_use: self.config.clients,
            resources_in_use: self.config.resources,
            ..State::default()
        }
    }

    /// The request id of `client`'s attempt number `attempt` (from 0): unique per attempt.
    fn request_id(&self, client: u8, attempt: u8) -> RequestId {
        RequestId::from_u128(crate::state::request_id(client, attempt).into())
    }

    fn clock_offsets(&self) -> core::ops::RangeInclusive<u8> {
        let skew = if self.config.protocol == Protocol::ClientClock {
            self.config.faults.skew
        } else {
            0
        };
        0..=skew
    }

    /// Every action enabled in `state`, in a fixed order: the clock, then client by client.
    pub fn enabled_actions(&self, state: &State, actions: &mut Vec<Action>) {
        if state.clock < self.config.horizon {
            actions.push(Action::Tick);
        }
        for client in 0..self.config.clients {
            self.client_actions(state, client, actions);
        }
    }

    fn client_actions(&self, state: &State, client: u8, actions: &mut Vec<Action>) {
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

    /// The state after `action`, or `None` when the action changes nothing.
    #[must_use]
    pub fn step(&self, state: &State, action: Action) -> Option<State> {
        let mut next = *state;
        let changed = match action {
            Action::Tick => {
                next.clock += 1;
                true
            }
            Action::Acquire {
                client,
                resource,
                ahead,
                reply,
            } => self.acquire(&mut next, client, resource, ahead, reply),
            Action::Retry { client, ahead } => self.retry(&mut next, client, ahead),
            Action::Read {
                client,
                resource,
                ahead,
            } => self.read(&mut next, client, resource, ahead),
            Action::Write { client } => self.write(&mut next, client),
            Action::Renew { client, ahead } => self.renew(&mut next, client, ahead),
            Action::Release { client, ahead } => self.release(&mut next, client, ahead),
            Action::Crash { client } => {
                next.client_mut(client).phase = Phase::Idle;
                true
            }
            Action::Pause { client } => pause(&mut next, client),
            Action::Use { client } => self.use_resource(&mut next, client),
        };
        (changed && next != *state).then_some(next)
    }

    /// Decides `request` on `resource` at `now` with the core, and stores what it writes.
    fn decide(
        &self,
        state: &mut State,
        resource: u8,
        request: &Request<u8>,
        now: u8,
    ) -> Outcome<u8> {
        let row = state.resource(resource).row;
        let decision = row
            .to_core()
            .decide(request, Timestamp::from_millis(now.into()))
            .expect("the configuration bounds keep every request valid");
        if let Some(record) = &decision.write {
            self.store(state, resource, Row::from_record(record));
        }
        decision.outcome
    }

    /// Writes `row` for `resource`, updating the ghost history of a new grant.
    fn store(&self, state: &mut State, resource: u8, row: Row) {
        let clock = state.clock;
        let slot = state.resource_mut(resource);
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
            ghost.flags |= flags & self.tracked;
            if self.tracked & flag::TOKEN_NOT_INCREASED != 0 {
                ghost.granted_max = ghost.granted_max.max(row.token);
            }
        }
        slot.row = if self.abstraction {
            row.abstracted(self.config.faults.lost_replies)
        } else {
            row
        };
    }

    fn acquire(
        &self,
        state: &mut State,
        client: u8,
        resource: u8,
        ahead: u8,
        reply: Reply,
    ) -> bool {
        let attempt = state.client(client).attempts;
        let request = Request::Acquire {
            owner: client,
            request_id: self.request_id(client, attempt),
            ttl: self.ttl,
        };
        let outcome = self.decide(state, resource, &request, state.clock + ahead);
        let me = state.client_mut(client);
        me.attempts += 1;
        me.phase = match reply {
            Reply::Lost => Phase::Unsure { resource },
            Reply::Delivered => holding_or_idle(resource, &outcome),
        };
        true
    }

    fn retry(&self, state: &mut State, client: u8, ahead: u8) -> bool {
        let me = *state.client(client);
        let Phase::Unsure { resource } = me.phase else {
            return false;
        };
        let request = Request::Acquire {
            owner: client,
            request_id: self.request_id(client, me.attempts - 1),
            ttl: self.ttl,
        };
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
    fn read(&self, state: &mut State, client: u8, resource: u8, ahead: u8) -> bool {
        let now = state.clock + ahead;
        let attempt = state.client(client).attempts;
        let request = Request::Acquire {
            owner: client,
            request_id: self.request_id(client, attempt),
            ttl: self.ttl,
        };
        let decision = state
            .resource(resource)
            .row
            .to_core()
            .decide(&request, Timestamp::from_millis(now.into()))
            .expect("the configuration bounds keep every request valid");
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
    fn write(&self, state: &mut State, client: u8) -> bool {
        let me = *state.client(client);
        let Phase::Deciding { resource, read_at } = me.phase else {
            return false;
        };
        let request = Request::Acquire {
            owner: client,
            request_id: self.request_id(client, me.attempts - 1),
            ttl: self.ttl,
        };
        let as_if_free = LockState::<u8>::Vacant {
            high_water: state.resource(resource).row.to_core().high_water(),
        };
        let decision = as_if_free
            .decide(&request, Timestamp::from_millis(read_at.into()))
            .expect("the configuration bounds keep every request valid");
        let record = decision.write.expect("a vacant lock is always granted");
        self.store(state, resource, Row::from_record(&record));
        state.client_mut(client).phase = holding_or_idle(resource, &decision.outcome);
        true
    }

    fn renew(&self, state: &mut State, client: u8, ahead: u8) -> bool {
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

    fn release(&self, state: &mut State, client: u8, ahead: u8) -> bool {
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
    fn use_resource(&self, state: &mut State, client: u8) -> bool {
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

fn pause(state: &mut State, client: u8) -> bool {
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

fn narrow_time(time: Timestamp) -> u8 {
    u8::try_from(time.as_millis()).expect("the configuration bounds keep times small")
}

fn core_token(token: u8) -> leasehold_core::FencingToken {
    leasehold_core::FencingToken::new(token.into()).expect("a held token is at least 1")
}

impl Model for LeaseModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial_state()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled_actions(state, actions);
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        self.step(state, action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.config
            .checked_properties()
            .map(|kind| self.property(kind))
            .collect()
    }
}
