//! [`LeaseModel`]: the lock protocol as a stateright [`Model`].
//!
//! Every store transition is a call to `leasehold-core`'s
//! [`LockState::decide`](leasehold_core::LockState::decide): the model never restates the rules.
//! The planted bugs compose those calls differently, and each is marked **planted bug** where it
//! happens. The clients' steps are in `model/client.rs`, the store's in `model/store.rs`.

mod client;
mod store;

use leasehold_core::Ttl;
use stateright::{Model, Property};

use crate::action::Action;
use crate::config::Config;
use crate::properties::tracked_flags;
use crate::state::{Phase, State};

pub(crate) use store::{core_token, decide_on, narrow_time};

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
}

impl Model for LeaseModel {
    type State = State;
    type Action = Action;

    /// The one initial state: clock 0, nothing granted, every client idle.
    fn init_states(&self) -> Vec<State> {
        vec![State {
            clients_in_use: self.config.clients,
            resources_in_use: self.config.resources,
            ..State::default()
        }]
    }

    /// Every action enabled in `state`, in a fixed order: the clock, then client by client.
    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        if state.clock < self.config.horizon {
            actions.push(Action::Tick);
        }
        for client in 0..self.config.clients {
            self.client_actions(state, client, actions);
        }
    }

    /// The state after `action`, or `None` when the action changes nothing.
    fn next_state(&self, state: &State, action: Action) -> Option<State> {
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
            Action::Pause { client } => client::pause(&mut next, client),
            Action::Use { client } => self.use_resource(&mut next, client),
        };
        (changed && next != *state).then_some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.config
            .checked_properties()
            .map(|kind| self.property(kind))
            .collect()
    }
}
