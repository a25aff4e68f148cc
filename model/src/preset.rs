//! Named configurations.

use crate::config::{Config, Faults, PropertyKind, PropertySet, Protocol};

/// A named configuration and what it is for.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The name `--preset` takes.
    pub name: &'static str,
    /// One line on what the preset is for.
    pub summary: &'static str,
    /// The configuration of the lock protocols (its `protocol` field is replaced by each of
    /// `protocols` in turn).
    pub config: Config,
    /// The configuration of the holder protocols ([`Protocol::is_holder`]).
    pub holder: Config,
    /// The protocols the preset checks unless `--protocol` says otherwise.
    pub protocols: &'static [Protocol],
}

impl Preset {
    /// The configuration `protocol` is checked with under this preset.
    #[must_use]
    pub fn config_for(&self, protocol: Protocol) -> Config {
        let base = if protocol.is_holder() {
            self.holder
        } else {
            self.config
        };
        Config { protocol, ..base }
    }
}

const NO_FAULTS: Faults = Faults {
    crash: false,
    pause: false,
    lost_replies: false,
    skew: 0,
    delay: 0,
    drift: 0,
    renew_failures: false,
};

/// Only what the reference Promela model has: acquire, release with token, crash, tick, and
/// mutual exclusion. Used to compare state counts and speed with SPIN on the same state space.
const fn spin_comparable(clients: u8, horizon: u8, attempts: u8) -> Config {
    Config {
        protocol: Protocol::Atomic,
        clients,
        resources: 1,
        ttl: 2,
        horizon,
        attempts,
        renew: false,
        writes: false,
        faults: Faults {
            crash: true,
            ..NO_FAULTS
        },
        properties: PropertySet::only(PropertyKind::MutualExclusion),
    }
}

const EVERY_PROPERTY: PropertySet = {
    let mut set = PropertySet::only(PropertyKind::MutualExclusion);
    let all = PropertyKind::ALL;
    let mut i = 0;
    while i < all.len() {
        set = set.with(all[i]);
        i += 1;
    }
    set
};

/// Every action, every fault, every property: the configuration of the default report.
const fn everything(clients: u8, resources: u8, horizon: u8) -> Config {
    Config {
        protocol: Protocol::Atomic,
        clients,
        resources,
        ttl: 2,
        horizon,
        attempts: 2,
        renew: true,
        writes: true,
        faults: Faults {
            crash: true,
            pause: true,
            lost_replies: true,
            skew: 1,
            ..NO_FAULTS
        },
        properties: EVERY_PROPERTY,
    }
}

/// The holder protocols' configuration of the default report: two holders of one resource, a
/// TTL of 8 ticks and a horizon of 14 (room for a first holder to renew four times, or to lose
/// its lease and see it taken over and renewed), replies delayed by up to 1 tick, clocks drifting
/// by up to a quarter (1 step of 4 per tick), renewals that may fail.
const HOLDER: Config = Config {
    protocol: Protocol::Keeper,
    clients: 2,
    resources: 1,
    ttl: 8,
    horizon: 14,
    attempts: 1,
    renew: true,
    writes: false,
    faults: Faults {
        delay: 1,
        drift: 1,
        renew_failures: true,
        ..NO_FAULTS
    },
    properties: EVERY_PROPERTY,
};

/// Every preset.
pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "default",
        summary: "every protocol, action, fault and property; what `leasehold-check` runs with no arguments",
        config: everything(3, 1, 4),
        holder: HOLDER,
        protocols: &Protocol::ALL,
    },
    Preset {
        name: "baseline",
        summary: "SPIN comparison: 3 clients, ttl 2, horizon 4, 2 attempts; acquire/release/crash; mutual exclusion",
        config: spin_comparable(3, 4, 2),
        holder: HOLDER,
        protocols: &[Protocol::Atomic],
    },
    Preset {
        name: "large",
        summary: "SPIN comparison: 4 clients, ttl 2, horizon 6, 3 attempts; acquire/release/crash; mutual exclusion",
        config: spin_comparable(4, 6, 3),
        holder: HOLDER,
        protocols: &[Protocol::Atomic],
    },
    Preset {
        name: "four-clients",
        summary: "scaling: the default with 4 clients (7.8 M states per property; --symmetry: 0.4 M)",
        config: everything(4, 1, 4),
        holder: HOLDER,
        protocols: &[Protocol::Atomic],
    },
    Preset {
        name: "two-resources",
        summary: "scaling: the default with 2 resources (68 M states per property; --symmetry: 11 M)",
        config: everything(3, 2, 4),
        holder: HOLDER,
        protocols: &[Protocol::Atomic],
    },
];

/// The preset called `name`, if any.
#[must_use]
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
