//! The holder's state machine, `Keeper`: every transition in a table, and its promises over random
//! histories, including clocks that read backwards.

mod config;
mod properties;
mod transitions;

use std::time::Duration;

use leasehold_core::{DriftMargin, KeeperConfig, LocalInstant, Ttl};

/// An instant `ms` milliseconds after the holder's origin.
fn at(ms: u64) -> LocalInstant {
    LocalInstant::from_nanos(ms * 1_000_000)
}

fn ttl(ms: u64) -> Ttl {
    Ttl::from_millis(ms).expect("test ttls are non-zero")
}

/// The configuration of the tables: ttl 300 ms, renew after 100 (the default third), retry after
/// 15 (the default twentieth), margin 10 % of the ttl: the holder relies on its lease for 270 ms
/// after each confirmed send.
fn table_config() -> KeeperConfig {
    KeeperConfig {
        margin: DriftMargin {
            max_drift_ppm: 100_000,
            fixed: Duration::ZERO,
        },
        ..KeeperConfig::new(ttl(300))
    }
}
