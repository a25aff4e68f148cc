//! [`HolderModel`]: the holder's view of its lease, as a stateright [`Model`].
//!
//! Clients acquire one resource and hold it with the core's [`Keeper`](leasehold_core::Keeper):
//! they renew when it says, and count on their lease only while it says the lease is valid. Every
//! store step is a call to [`LockState::decide`](leasehold_core::LockState::decide) and every
//! holder step a call to the keeper, so the model restates neither the lock's rules nor the
//! keeper's. Replies take up to
//! `delay` ticks; each holder's clock drifts by up to `drift` steps per tick; renewals may fail.
//! The planted bugs ([`Protocol::HOLDER`]) call the keeper wrongly, each marked **planted bug**
//! in `holder/driver.rs`.
//!
//! The property is checked **without fencing**: there is no protected resource, only the question
//! whether a holder that would act, acts while the store still counts its lease as valid.

mod action;
mod driver;
pub mod state;
pub(crate) mod trace;

use std::time::Duration;

use leasehold_core::{DriftMargin, KeeperConfig, Ttl};
use stateright::{Model, Property};

pub use action::{Fate, HolderAction};

use crate::config::{Config, ConfigError, MAX_HOLDERS, PropertyKind, Protocol, SUB_TICKS};
use crate::properties::tracked_flags;
use crate::state::flag;
use state::{HolderState, local_instant};

/// The holder model of one configuration, checking the properties in `config.properties`.
#[derive(Clone, Debug)]
pub struct HolderModel {
    config: Config,
    ttl: Ttl,
    keeper: KeeperConfig,
    tracked: u8,
    track_failures: bool,
    abstraction: bool,
}

impl HolderModel {
    /// The model of `config`, whose protocol must be a holder protocol.
    ///
    /// # Errors
    ///
    /// The configuration's [`ConfigError`], if any, including the core's refusal of the keeper's
    /// configuration.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        if !config.protocol.is_holder() {
            return Err(ConfigError::OtherModel(config.protocol));
        }
        let ttl = Ttl::from_millis(config.ttl.into()).map_err(|_| ConfigError::ZeroTtl)?;
        let keeper = keeper_config(&config, ttl);
        keeper.validate().map_err(ConfigError::Keeper)?;
        let properties = config.properties;
        Ok(Self {
            config,
            ttl,
            keeper,
            tracked: properties.iter().map(tracked_flags).fold(0, |a, b| a | b),
            track_failures: properties.contains(PropertyKind::AnsweredRenewalsKeepLease),
            abstraction: true,
        })
    }

    /// The same model without the abstraction of stored rows (see [`crate::state`]).
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

    /// The configuration every holder's keeper has.
    #[must_use]
    pub fn keeper_config(&self) -> &KeeperConfig {
        &self.keeper
    }

    fn property(&self, kind: PropertyKind) -> Property<Self> {
        let name = kind.name();
        match kind {
            PropertyKind::ActsOnlyWhileValid => Property::always(name, |_, s: &HolderState| {
                (0..s.holders_in_use).all(|i| {
                    let holder = s.holder(i);
                    match holder.lease {
                        Some((token, _)) if holder.acts() => s.store_counts_valid(i, token),
                        _ => true,
                    }
                })
            }),
            PropertyKind::AnsweredRenewalsKeepLease => {
                Property::always(name, |_, s: &HolderState| {
                    s.holders[..usize::from(s.holders_in_use)]
                        .iter()
                        .all(|h| h.lease.is_none() || h.renewal_failed || h.acts())
                })
            }
            PropertyKind::Granted => Property::sometimes(name, |_, s: &HolderState| {
                s.resource.ghost.flags & flag::GRANTED != 0
            }),
            PropertyKind::GrantedAfterExpiry => Property::sometimes(name, |_, s: &HolderState| {
                s.resource.ghost.flags & flag::GRANTED_AFTER_EXPIRY != 0
            }),
            PropertyKind::Renewed => Property::sometimes(name, |_, s: &HolderState| {
                s.resource.ghost.flags & flag::RENEWED != 0
            }),
            other => unreachable!("{other} does not apply to holder protocols"),
        }
    }
}

/// The keeper of the model's holders: the default renewal at a third of the TTL, a drift margin
/// of exactly `ttl × drift / SUB_TICKS` (the least that covers the model's drift; the model's
/// events fall on whole ticks, so there is no clock resolution to cover), and a retry interval
/// one step longer than the longest a reply can take on the fastest clock, so that a holder that
/// follows its keeper never has two renewals in flight.
fn keeper_config(config: &Config, ttl: Ttl) -> KeeperConfig {
    let faults = config.faults;
    let margin = if config.protocol == Protocol::NoDriftMargin {
        // Planted bug: no drift margin.
        DriftMargin::ZERO
    } else {
        DriftMargin {
            max_drift_ppm: u32::from(faults.drift) * 1_000_000 / u32::from(SUB_TICKS),
            fixed: Duration::ZERO,
        }
    };
    let round_trip = u64::from(faults.delay) * u64::from(SUB_TICKS + faults.drift);
    let retry_after = Duration::from_nanos((round_trip + 1) * local_instant(1).as_nanos());
    KeeperConfig {
        retry_after,
        margin,
        ..KeeperConfig::new(ttl)
    }
}

impl Model for HolderModel {
    type State = HolderState;
    type Action = HolderAction;

    /// The one initial state: clock 0, nothing granted, every holder idle.
    fn init_states(&self) -> Vec<HolderState> {
        vec![HolderState {
            holders_in_use: self.config.clients,
            ..HolderState::default()
        }]
    }

    /// The clock (unless some holder must act first), then holder by holder.
    fn actions(&self, state: &HolderState, actions: &mut Vec<HolderAction>) {
        let urgent = (0..state.holders_in_use).any(|i| self.must_act(state, i));
        if state.clock < self.config.horizon && !urgent {
            self.ticks(state, actions);
        }
        for client in 0..state.holders_in_use {
            self.holder_actions(state, client, actions);
        }
    }

    fn next_state(&self, state: &HolderState, action: HolderAction) -> Option<HolderState> {
        let mut next = *state;
        match action {
            HolderAction::Tick { drift } => next.tick(drift),
            HolderAction::Acquire { client } => self.acquire(&mut next, client),
            HolderAction::Renew { client, fate } => self.renew(&mut next, client, fate),
            HolderAction::Reply { client } => self.reply(&mut next, client),
            HolderAction::GiveUp { client } => next.holder_mut(client).forget(),
        }
        (next != *state).then_some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.config
            .checked_properties()
            .map(|kind| self.property(kind))
            .collect()
    }
}

impl HolderModel {
    /// Every tick: one per combination of drifts of the holders whose clocks run.
    fn ticks(&self, state: &HolderState, actions: &mut Vec<HolderAction>) {
        let drift = self.config.faults.drift.cast_signed();
        let mut combos = vec![[0_i8; MAX_HOLDERS as usize]];
        for i in 0..state.holders_in_use {
            if !state.holder(i).clock_runs() {
                continue;
            }
            combos = combos
                .into_iter()
                .flat_map(|combo| {
                    (-drift..=drift).map(move |d| {
                        let mut combo = combo;
                        combo[usize::from(i)] = d;
                        combo
                    })
                })
                .collect();
        }
        actions.extend(combos.into_iter().map(|drift| HolderAction::Tick { drift }));
    }
}
