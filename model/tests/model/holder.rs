//! The holder model: the shipped keeper keeps both holder properties in several configurations,
//! each planted bug is caught on exactly its property with a shortest counterexample, and the
//! liveness property is not vacuous.

use std::time::Duration;

use leasehold_core::{DriftMargin, KeeperConfigError};
use leasehold_model::{
    CheckResult, Config, ConfigError, Expectation, Faults, HolderAction, HolderModel, LeaseModel,
    PropertyKind, PropertySet, Protocol, RunOptions, Verdict, preset,
};
use stateright::{Checker, Model};

use crate::{all_properties, run};

/// Two holders, TTL 6, horizon 8, replies delayed up to 1 tick, clocks drifting up to a quarter,
/// renewals that may fail: every fault of the holder model, and quick to check.
fn small(protocol: Protocol) -> Config {
    Config {
        protocol,
        clients: 2,
        resources: 1,
        ttl: 6,
        horizon: 8,
        attempts: 1,
        renew: true,
        writes: false,
        faults: Faults {
            crash: false,
            pause: false,
            lost_replies: false,
            skew: 0,
            delay: 1,
            drift: 1,
            renew_failures: true,
        },
        properties: all_properties(),
    }
}

fn with_faults(config: Config, change: impl FnOnce(&mut Faults)) -> Config {
    let mut faults = config.faults;
    change(&mut faults);
    Config { faults, ..config }
}

fn unique_states(model: HolderModel, symmetry: bool) -> usize {
    let mut checker = model.checker().threads(1);
    if symmetry {
        checker = checker.symmetry_fn(leasehold_model::holder::state::HolderState::representative);
    }
    checker.spawn_dfs().join().unique_state_count()
}

fn only(config: Config, property: PropertyKind) -> Config {
    Config {
        properties: PropertySet::only(property),
        ..config
    }
}

#[test]
fn holder_state_counts_are_pinned() {
    let config = only(small(Protocol::Keeper), PropertyKind::ActsOnlyWhileValid);
    let model = HolderModel::new(config).expect("valid");
    assert_eq!(unique_states(model.clone(), false), 95_705);
    assert_eq!(unique_states(model.clone(), true), 47_857);
    assert_eq!(unique_states(model.without_abstraction(), false), 126_967);
    // The default report's holder configuration (TTL 8, horizon 14).
    let default = preset("default")
        .expect("preset")
        .config_for(Protocol::Keeper);
    let result = leasehold_model::check(
        &default,
        PropertyKind::ActsOnlyWhileValid,
        &RunOptions::default(),
        &mut |_| {},
    )
    .expect("valid");
    assert_eq!(
        (result.verdict, result.unique_states),
        (Verdict::Holds, 1_111_907)
    );
}

#[test]
fn the_model_gives_its_keepers_the_least_margin_that_covers_its_drift() {
    let model = HolderModel::new(small(Protocol::Keeper)).expect("valid");
    let keeper = model.keeper_config();
    // TTL 6 ms; drift 1 step of 4 per tick = 250,000 ppm, so 1.5 ms of margin.
    assert_eq!(keeper.ttl.as_millis(), 6);
    assert_eq!(keeper.renew_after, Duration::from_millis(2));
    assert_eq!(
        keeper.margin,
        DriftMargin {
            max_drift_ppm: 250_000,
            fixed: Duration::ZERO
        }
    );
    assert_eq!(keeper.lifetime(), Duration::from_micros(4_500));
    // One step more than a 1-tick reply on the fastest clock (5 steps of 250 µs).
    assert_eq!(keeper.retry_after, Duration::from_micros(1_500));
    let planted = HolderModel::new(small(Protocol::NoDriftMargin)).expect("valid");
    assert_eq!(planted.keeper_config().margin, DriftMargin::ZERO);
}

#[test]
fn the_keeper_keeps_every_property_in_several_configurations() {
    let base = small(Protocol::Keeper);
    let configs = [
        base,
        Config { clients: 1, ..base },
        Config {
            attempts: 2,
            ..base
        },
        Config {
            clients: 3,
            horizon: 7,
            ..base
        },
        with_faults(base, |f| {
            f.delay = 0;
            f.drift = 0;
        }),
        with_faults(base, |f| f.renew_failures = false),
        Config {
            ttl: 8,
            horizon: 12,
            ..base
        },
    ];
    for config in configs {
        let results = run(&config, &RunOptions::default());
        let regrant = config.clients >= 2 || config.attempts >= 2;
        let takeover = regrant && config.faults.renew_failures;
        assert_eq!(results.len(), 4 + usize::from(takeover), "{config:?}");
        for r in &results {
            let want = match r.property.expectation() {
                Expectation::Always => Verdict::Holds,
                Expectation::Sometimes => Verdict::Found,
            };
            assert_eq!(r.verdict, want, "{} under {config:?}", r.property);
        }
    }
}

#[test]
fn every_holder_bug_is_caught_on_exactly_its_property() {
    let expected = [
        (
            Protocol::DeadlineFromReply,
            PropertyKind::ActsOnlyWhileValid,
            10,
        ),
        (
            Protocol::NoDriftMargin,
            PropertyKind::ActsOnlyWhileValid,
            11,
        ),
        (
            Protocol::FailedRenewAsSuccess,
            PropertyKind::ActsOnlyWhileValid,
            10,
        ),
        (
            Protocol::RenewEveryTtl,
            PropertyKind::AnsweredRenewalsKeepLease,
            6,
        ),
    ];
    for (protocol, property, steps) in expected {
        let results = run(&small(protocol), &RunOptions::default());
        let violated: Vec<_> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Violated)
            .map(|r| r.property)
            .collect();
        assert_eq!(violated, [property], "{protocol}");
        assert!(
            results.iter().all(CheckResult::matches),
            "{protocol}: {results:#?}"
        );
        let violation = results
            .iter()
            .find(|r| r.property == property)
            .expect("checked");
        let path = violation.counterexample.as_ref().expect("a shortest path");
        assert_eq!(path.len(), steps, "{protocol}: {path:#?}");
        for step in path {
            let action: HolderAction = step.raw.parse().expect("the model's own text parses");
            assert_eq!(action.to_string(), step.raw);
        }
    }
}

#[test]
fn the_deadline_from_reply_counterexample() {
    let results = run(
        &only(
            small(Protocol::DeadlineFromReply),
            PropertyKind::ActsOnlyWhileValid,
        ),
        &RunOptions::default(),
    );
    let steps = results[0].counterexample.as_ref().expect("a shortest path");
    let actions: Vec<&str> = steps.iter().map(|s| s.raw.as_str()).collect();
    assert_eq!(
        actions,
        [
            "A acquire",
            "tick A-1",
            "A reply",
            "tick A-1",
            "tick A-1",
            "tick A-1",
            "A renew dropped",
            "tick A-1",
            "A reply",
            "tick A-1"
        ]
    );
}

#[test]
fn a_holder_bug_is_not_expected_where_its_fault_is_off() {
    let cases = [
        with_faults(small(Protocol::DeadlineFromReply), |f| f.delay = 0),
        with_faults(small(Protocol::DeadlineFromReply), |f| {
            f.renew_failures = false;
        }),
        with_faults(small(Protocol::NoDriftMargin), |f| f.drift = 0),
        with_faults(small(Protocol::NoDriftMargin), |f| f.renew_failures = false),
        with_faults(small(Protocol::FailedRenewAsSuccess), |f| {
            f.renew_failures = false;
        }),
    ];
    for config in cases {
        assert_eq!(config.expected_violation(), None, "{config:?}");
        let results = run(&config, &RunOptions::default());
        assert!(
            results.iter().all(|r| r.verdict != Verdict::Violated),
            "{config:?}"
        );
    }
}

#[test]
fn the_liveness_property_fails_the_keeper_where_replies_are_too_slow() {
    // Replies of up to 2 ticks with a TTL of 8: a renewal sent when the slow clock reaches a
    // third of the TTL is answered after the fast clock has passed the deadline.
    let config = Config {
        ttl: 8,
        horizon: 12,
        ..with_faults(small(Protocol::Keeper), |f| f.delay = 2)
    };
    let results = run(&config, &RunOptions::default());
    let verdict = |p| results.iter().find(|r| r.property == p).map(|r| r.verdict);
    assert_eq!(
        verdict(PropertyKind::ActsOnlyWhileValid),
        Some(Verdict::Holds)
    );
    assert_eq!(
        verdict(PropertyKind::AnsweredRenewalsKeepLease),
        Some(Verdict::Violated)
    );
}

#[test]
fn the_abstraction_and_symmetry_change_no_holder_verdict() {
    for protocol in Protocol::HOLDER {
        let config = Config {
            horizon: 7,
            ..small(protocol)
        };
        let plain = run(&config, &RunOptions::default());
        for options in [
            RunOptions {
                exact_rows: true,
                ..RunOptions::default()
            },
            RunOptions {
                symmetry: true,
                ..RunOptions::default()
            },
        ] {
            let other = run(&config, &options);
            for (p, o) in plain.iter().zip(&other) {
                assert_eq!(
                    (p.property, p.verdict),
                    (o.property, o.verdict),
                    "{protocol} {options:?}"
                );
            }
        }
    }
}

#[test]
fn holder_actions_round_trip_through_their_text() {
    let model = HolderModel::new(small(Protocol::Keeper)).expect("valid");
    let mut state = model.init_states()[0];
    let mut seen = Vec::new();
    // Walk a few steps, collecting every enabled action on the way.
    for _ in 0..6 {
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        seen.extend(actions.iter().copied());
        let Some(next) = actions.iter().find_map(|a| model.next_state(&state, *a)) else {
            break;
        };
        state = next;
    }
    assert!(seen.len() > 6, "{seen:?}");
    for action in seen {
        let text = action.to_string();
        assert_eq!(text.parse::<HolderAction>(), Ok(action), "{text}");
    }
    for bad in [
        "tick Z+1",
        "tick A+x",
        "A fly",
        "A renew twice",
        "acquire",
        "",
    ] {
        assert!(bad.parse::<HolderAction>().is_err(), "{bad:?}");
    }
}

#[test]
fn bad_holder_configurations_are_refused() {
    let ok = small(Protocol::Keeper);
    let cases = [
        (Config { clients: 4, ..ok }, ConfigError::HolderBounds),
        (Config { resources: 2, ..ok }, ConfigError::HolderBounds),
        (with_faults(ok, |f| f.drift = 4), ConfigError::Drift(4)),
        (
            Config { horizon: 51, ..ok },
            ConfigError::TooLarge("horizon × (4 + drift)"),
        ),
        (
            with_faults(ok, |f| f.drift = 3),
            ConfigError::Keeper(KeeperConfigError::RenewNotBeforeDeadline {
                renew_after: Duration::from_millis(2),
                lifetime: Duration::from_micros(1_500),
            }),
        ),
    ];
    for (config, error) in cases {
        assert_eq!(HolderModel::new(config).err(), Some(error), "{config:?}");
    }
    let lock = Config {
        protocol: Protocol::Atomic,
        ..ok
    };
    assert_eq!(
        HolderModel::new(lock).err(),
        Some(ConfigError::OtherModel(Protocol::Atomic))
    );
    assert_eq!(
        LeaseModel::new(ok).err(),
        Some(ConfigError::OtherModel(Protocol::Keeper))
    );
}
