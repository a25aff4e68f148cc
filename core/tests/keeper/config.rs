//! Configurations: the defaults, the margin's arithmetic, and every configuration the keeper
//! refuses.

use std::time::Duration;

use leasehold_core::{DriftMargin, Keeper, KeeperConfig, KeeperConfigError, LocalInstant};

use super::{at, ttl};

#[test]
fn defaults_renew_at_a_third_and_retry_at_a_twentieth() {
    let config = KeeperConfig::new(ttl(30_000));
    assert_eq!(config.renew_after, Duration::from_millis(10_000));
    assert_eq!(config.retry_after, Duration::from_millis(1_500));
    assert_eq!(config.margin, DriftMargin::DEFAULT);
    assert_eq!(DriftMargin::default(), DriftMargin::DEFAULT);
    assert_eq!(
        DriftMargin::DEFAULT,
        DriftMargin {
            max_drift_ppm: 1_000,
            fixed: Duration::from_millis(1)
        }
    );
    // 30 s × 1,000 ppm = 30 ms, plus 1 ms.
    assert_eq!(config.margin.for_ttl(config.ttl), Duration::from_millis(31));
    assert_eq!(config.lifetime(), Duration::from_millis(29_969));
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn the_margin_is_the_drift_part_plus_the_fixed_part() {
    let margin = DriftMargin {
        max_drift_ppm: 1,
        fixed: Duration::from_nanos(5),
    };
    // 1 ms × 1 ppm = 1 ns, plus 5 ns.
    assert_eq!(margin.for_ttl(ttl(1)), Duration::from_nanos(6));
    assert_eq!(
        DriftMargin {
            max_drift_ppm: 1,
            fixed: Duration::ZERO
        }
        .for_ttl(ttl(3)),
        Duration::from_nanos(3)
    );
    assert_eq!(DriftMargin::ZERO.for_ttl(ttl(1_000)), Duration::ZERO);
    let huge = DriftMargin {
        max_drift_ppm: u32::MAX,
        fixed: Duration::MAX,
    };
    assert_eq!(huge.for_ttl(ttl(u64::MAX)), Duration::MAX, "saturates");
}

#[test]
fn bad_configurations_are_refused_with_their_reason() {
    let ok = KeeperConfig::new(ttl(300));
    let ms = Duration::from_millis;
    let cases = [
        (
            KeeperConfig {
                renew_after: Duration::ZERO,
                ..ok
            },
            KeeperConfigError::ZeroRenewAfter,
            "renew_after is zero",
        ),
        (
            KeeperConfig {
                retry_after: Duration::ZERO,
                ..ok
            },
            KeeperConfigError::ZeroRetryAfter,
            "retry_after is zero",
        ),
        (
            KeeperConfig {
                margin: DriftMargin {
                    max_drift_ppm: 0,
                    fixed: ms(300),
                },
                ..ok
            },
            KeeperConfigError::MarginNotBelowTtl {
                margin: ms(300),
                ttl: ttl(300),
            },
            "drift margin 300ms is not below ttl 300ms: nothing is left of the lease",
        ),
        (
            KeeperConfig {
                margin: DriftMargin {
                    max_drift_ppm: 1_000_000,
                    fixed: Duration::ZERO,
                },
                ..ok
            },
            KeeperConfigError::MarginNotBelowTtl {
                margin: ms(300),
                ttl: ttl(300),
            },
            "drift margin 300ms is not below ttl 300ms: nothing is left of the lease",
        ),
        (
            KeeperConfig {
                renew_after: ms(300),
                ..ok
            },
            KeeperConfigError::RenewNotBelowTtl {
                renew_after: ms(300),
                ttl: ttl(300),
            },
            "renew_after 300ms is not below ttl 300ms: renewals would come after expiry",
        ),
        (
            KeeperConfig {
                renew_after: ms(299),
                ..ok
            },
            KeeperConfigError::RenewNotBeforeDeadline {
                renew_after: ms(299),
                lifetime: Duration::from_micros(298_700),
            },
            "renew_after 299ms is not below ttl - margin = 298.7ms: renewals would come after the holder's deadline",
        ),
    ];
    for (config, error, text) in cases {
        assert_eq!(config.validate(), Err(error), "{config:?}");
        assert_eq!(Keeper::new(&config, LocalInstant::ZERO), Err(error));
        assert_eq!(error.to_string(), text);
    }
    // Just inside every bound.
    let tight = KeeperConfig {
        renew_after: Duration::from_micros(298_699),
        retry_after: Duration::from_nanos(1),
        ..ok
    };
    assert_eq!(tight.validate(), Ok(()));
}

#[test]
fn local_instants_saturate_instead_of_overflowing() {
    assert_eq!(at(2).as_nanos(), 2_000_000);
    assert_eq!(at(3).to_string(), "3000000ns");
    assert_eq!(LocalInstant::from_elapsed(Duration::from_millis(4)), at(4));
    assert_eq!(LocalInstant::from_elapsed(Duration::MAX), LocalInstant::MAX);
    assert_eq!(
        LocalInstant::MAX.saturating_add(Duration::from_nanos(1)),
        LocalInstant::MAX
    );
    assert_eq!(at(1).saturating_add(Duration::MAX), LocalInstant::MAX);
    assert_eq!(
        at(5).saturating_duration_since(at(2)),
        Duration::from_millis(3)
    );
    assert_eq!(at(2).saturating_duration_since(at(5)), Duration::ZERO);
    assert_eq!(LocalInstant::ZERO, LocalInstant::default());
    // A deadline past the clock's range saturates, which only makes it earlier.
    let keeper = Keeper::new(&KeeperConfig::new(ttl(300)), LocalInstant::MAX).expect("valid");
    assert_eq!(keeper.deadline(), LocalInstant::MAX);
    assert!(!keeper.is_valid(LocalInstant::MAX));
}
