//! The model's verdicts, state counts and counterexamples, including the negative controls: every
//! planted bug must be caught, and only on its own property.

use leasehold_model::{
    Action, CheckResult, Config, Expectation, Faults, LeaseModel, PropertyKind, PropertySet,
    Protocol, RunOptions, Verdict, check_all, preset,
};
use stateright::{Checker, Model};

/// Every property.
fn all_properties() -> PropertySet {
    PropertyKind::ALL.into_iter().collect()
}

/// A small configuration with every action and fault: quick to check exhaustively.
fn small(protocol: Protocol) -> Config {
    Config {
        protocol,
        clients: 2,
        resources: 1,
        ttl: 1,
        horizon: 2,
        attempts: 2,
        renew: true,
        writes: true,
        faults: Faults {
            crash: true,
            pause: true,
            lost_replies: true,
            skew: 1,
        },
        properties: all_properties(),
    }
}

fn run(config: &Config, options: &RunOptions) -> Vec<CheckResult> {
    check_all(config, options, &mut |_| {}).expect("valid configuration")
}

fn unique_states(model: LeaseModel, symmetry: bool) -> usize {
    let mut checker = model.checker().threads(1);
    if symmetry {
        checker = checker.symmetry_fn(leasehold_model::state::State::representative);
    }
    checker.spawn_dfs().join().unique_state_count()
}

#[test]
fn state_counts_are_pinned() {
    // `baseline` is the state space of model/promela/lease.pml, where SPIN stores exactly these
    // 15,740 states too (the reference model adds the 5 states of its `init` process).
    let baseline = LeaseModel::new(preset("baseline").expect("preset").config).expect("valid");
    assert_eq!(unique_states(baseline.clone(), false), 15_740);
    assert_eq!(unique_states(baseline, true), 2_965);
    let config = Config {
        properties: PropertySet::only(PropertyKind::MutualExclusion),
        ..small(Protocol::Atomic)
    };
    let everything = LeaseModel::new(config).expect("valid");
    assert_eq!(unique_states(everything.clone(), false), 8_713);
    assert_eq!(
        unique_states(everything.without_abstraction(), false),
        9_793
    );
}

#[test]
fn the_shipped_protocol_keeps_every_property_in_several_configurations() {
    let configs = [
        small(Protocol::Atomic),
        Config {
            clients: 3,
            ttl: 2,
            horizon: 3,
            attempts: 1,
            ..small(Protocol::Atomic)
        },
        Config {
            resources: 2,
            clients: 2,
            ttl: 1,
            horizon: 2,
            attempts: 2,
            ..small(Protocol::Atomic)
        },
        Config {
            ttl: 3,
            horizon: 4,
            ..small(Protocol::Atomic)
        },
    ];
    for config in configs {
        let results = run(&config, &RunOptions::default());
        assert_eq!(results.len(), 8, "every property applies to {config:?}");
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
fn every_planted_bug_is_caught_on_exactly_its_property() {
    let expected = [
        (Protocol::CheckThenAct, PropertyKind::MutualExclusion),
        (Protocol::TokenlessRelease, PropertyKind::MutualExclusion),
        (Protocol::ClientClock, PropertyKind::MutualExclusion),
        (Protocol::UnfencedResource, PropertyKind::WritesInTokenOrder),
    ];
    for (protocol, property) in expected {
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
        assert!(
            violation
                .counterexample
                .as_ref()
                .is_some_and(|steps| !steps.is_empty())
        );
    }
}

#[test]
fn a_planted_bug_is_not_expected_where_its_fault_is_off() {
    let no_skew = Config {
        faults: Faults {
            skew: 0,
            ..small(Protocol::ClientClock).faults
        },
        ..small(Protocol::ClientClock)
    };
    let no_pause = Config {
        faults: Faults {
            pause: false,
            ..small(Protocol::UnfencedResource).faults
        },
        ..small(Protocol::UnfencedResource)
    };
    for config in [no_skew, no_pause] {
        assert_eq!(config.expected_violation(), None);
        let results = run(&config, &RunOptions::default());
        assert!(
            results.iter().all(|r| r.verdict != Verdict::Violated),
            "{config:?}"
        );
    }
}

#[test]
fn the_check_then_act_counterexample_is_the_seed_interleaving() {
    // The report's own configuration: leasehold-check with no arguments.
    let config = Config {
        protocol: Protocol::CheckThenAct,
        ..preset("default").expect("preset").config
    };
    let results = run(&config, &RunOptions::default());
    let violation = results
        .iter()
        .find(|r| r.property == PropertyKind::MutualExclusion)
        .expect("checked");
    let steps = violation.counterexample.as_ref().expect("a shortest path");
    let actions: Vec<&str> = steps.iter().map(|s| s.raw.as_str()).collect();
    assert_eq!(actions, ["A read r0", "B read r0", "A write", "B write"]);
    assert_eq!(steps[3].store, "lock: B #2 until 2");
}

#[test]
fn the_abstraction_of_rows_changes_no_verdict() {
    for protocol in Protocol::ALL {
        let config = small(protocol);
        let abstracted = run(&config, &RunOptions::default());
        let exact = run(
            &config,
            &RunOptions {
                exact_rows: true,
                ..RunOptions::default()
            },
        );
        for (a, e) in abstracted.iter().zip(&exact) {
            assert_eq!(
                (a.property, a.verdict),
                (e.property, e.verdict),
                "{protocol}"
            );
            if a.verdict == Verdict::Holds {
                assert!(
                    a.unique_states < e.unique_states,
                    "{protocol} / {}",
                    a.property
                );
            }
        }
    }
}

#[test]
fn symmetry_reduction_changes_no_verdict() {
    for protocol in Protocol::ALL {
        let config = Config {
            clients: 3,
            attempts: 1,
            ..small(protocol)
        };
        let plain = run(&config, &RunOptions::default());
        let symmetric = run(
            &config,
            &RunOptions {
                symmetry: true,
                ..RunOptions::default()
            },
        );
        for (p, s) in plain.iter().zip(&symmetric) {
            assert_eq!(
                (p.property, p.verdict),
                (s.property, s.verdict),
                "{protocol}"
            );
            if p.verdict == Verdict::Holds {
                assert!(
                    s.unique_states < p.unique_states,
                    "{protocol} / {}",
                    p.property
                );
            }
        }
    }
}

#[test]
fn actions_round_trip_through_their_text() {
    let model = LeaseModel::new(small(Protocol::ClientClock)).expect("valid");
    let mut actions = Vec::new();
    model.actions(&model.init_states()[0], &mut actions);
    actions.push(Action::Write { client: 1 });
    assert!(actions.len() > 4);
    for action in actions {
        let text = action.to_string();
        assert_eq!(text.parse::<Action>(), Ok(action), "{text}");
    }
    assert!("Z fly r0".parse::<Action>().is_err());
    assert!(
        "A acquire".parse::<Action>().is_err(),
        "acquire needs a resource"
    );
    assert!("tick now".parse::<Action>().is_err());
}

#[test]
fn bad_configurations_are_refused() {
    let ok = small(Protocol::Atomic);
    let bad = [
        Config { clients: 0, ..ok },
        Config { clients: 7, ..ok },
        Config { resources: 0, ..ok },
        Config { ttl: 0, ..ok },
        Config {
            horizon: 0,
            ttl: 1,
            ..ok
        },
        Config { attempts: 0, ..ok },
        Config { attempts: 16, ..ok },
        Config { horizon: 250, ..ok },
        Config {
            properties: PropertySet::default(),
            ..ok
        },
    ];
    for config in bad {
        assert!(config.validate().is_err(), "{config:?}");
        assert!(LeaseModel::new(config).is_err());
    }
    assert!(ok.validate().is_ok());
}
