//! The checker's own tests: a correct history passes, and each planted bad history is caught
//! with the violation named.

use super::*;

fn granted(client: &str, token: u64, acquired_at: u64, expires_at: u64) -> Event {
    Event::Granted {
        resource: "r".into(),
        client: client.into(),
        token,
        acquired_at,
        expires_at,
    }
}

fn releasing(token: u64, at: u64) -> Event {
    Event::Releasing {
        resource: "r".into(),
        token,
        at,
    }
}

fn answered(token: u64, ended: bool) -> Event {
    Event::ReleaseAnswered {
        resource: "r".into(),
        token,
        ended,
    }
}

fn wrote(token: u64, seq: u64) -> Event {
    Event::Wrote {
        resource: "r".into(),
        token,
        seq,
    }
}

#[test]
fn a_correct_history_passes() {
    let history = [
        granted("a", 1, 0, 10),
        wrote(1, 1),
        releasing(1, 5),
        granted("b", 2, 5, 15),
        Event::Renewed {
            resource: "r".into(),
            token: 2,
            expires_at: 25,
        },
        wrote(2, 2),
        granted("c", 3, 25, 35),
        wrote(3, 3),
        granted("a", 4, 40, 50),
    ];
    assert_eq!(check(&history), []);
}

// The negative controls: each planted bad history is caught, with the violation named.

#[test]
fn an_overlap_with_an_unreleased_lease_is_caught() {
    let history = [granted("a", 1, 0, 10), granted("b", 2, 9, 19)];
    assert_eq!(
        check(&history),
        [Violation::Overlap {
            resource: "r".into(),
            earlier: ("a".into(), 1, 10),
            later: ("b".into(), 2, 9)
        }]
    );
}

#[test]
fn a_renewal_extends_what_must_not_be_overlapped() {
    let history = [
        granted("a", 1, 0, 10),
        Event::Renewed {
            resource: "r".into(),
            token: 1,
            expires_at: 20,
        },
        granted("b", 2, 15, 25),
    ];
    assert_eq!(check(&history).len(), 1);
}

#[test]
fn an_overlap_is_caught_across_an_intervening_released_lease() {
    // a (never released) is valid until 30; b released early; c is granted at 20.
    let history = [
        granted("a", 1, 0, 30),
        granted("b", 2, 30, 40),
        releasing(2, 32),
        granted("c", 3, 20, 50),
    ];
    assert_eq!(check(&history).len(), 1, "{:?}", check(&history));
}

#[test]
fn an_overlap_with_a_lease_released_later_is_caught() {
    // The seed's bug: both callers are told "granted", both use the lease, both release.
    let history = [
        granted("a", 1, 0, 100),
        granted("b", 2, 10, 110),
        releasing(1, 50),
        releasing(2, 60),
    ];
    assert_eq!(
        check(&history),
        [Violation::Overlap {
            resource: "r".into(),
            earlier: ("a".into(), 1, 50),
            later: ("b".into(), 2, 10)
        }]
    );
}

#[test]
fn a_grant_after_the_release_or_eviction_reading_is_no_overlap() {
    let evicted = Event::Evicted {
        resource: "r".into(),
        token: 2,
        at: 30,
    };
    let history = [
        granted("a", 1, 0, 100),
        releasing(1, 20),
        granted("b", 2, 20, 120),
        evicted,
        granted("c", 3, 30, 130),
        // A second end of one lease (a retried release) counts from the earliest.
        releasing(3, 45),
        releasing(3, 40),
        granted("d", 4, 40, 140),
    ];
    assert_eq!(check(&history), []);
    let early = [
        granted("a", 1, 0, 100),
        releasing(1, 20),
        granted("b", 2, 19, 120),
    ];
    assert_eq!(
        check(&early).len(),
        1,
        "granted 1 ms before the release began"
    );
}

#[test]
fn repeated_and_decreasing_tokens_are_caught() {
    let history = [
        granted("a", 2, 0, 10),
        granted("b", 2, 10, 20),
        granted("a", 1, 30, 40),
    ];
    let found = check(&history);
    assert!(found.contains(&Violation::TokenRepeated {
        resource: "r".into(),
        token: 2
    }));
    assert!(found.iter().any(|v| matches!(
        v,
        Violation::TokenNotIncreasing {
            earlier: 2,
            later: 1,
            ..
        }
    )));
}

#[test]
fn a_stale_write_after_a_newer_one_is_caught() {
    let history = [wrote(1, 1), wrote(2, 2), wrote(1, 3)];
    assert_eq!(
        check(&history),
        [Violation::WriteOutOfOrder {
            resource: "r".into(),
            newer: 2,
            older: 1
        }]
    );
}

#[test]
fn lines_round_trip_and_cut_lines_are_skipped() {
    let events = [
        granted("w1", 7, 100, 200),
        Event::Renewed {
            resource: "r".into(),
            token: 7,
            expires_at: 300,
        },
        releasing(7, 150),
        answered(7, false),
        answered(7, true),
        Event::Evicted {
            resource: "r".into(),
            token: 8,
            at: 160,
        },
        wrote(7, 12),
    ];
    for event in events {
        assert_eq!(Event::from_line(&event.to_line()), Some(event));
    }
    assert_eq!(
        Event::from_line("granted r w1 7 100"),
        None,
        "a line cut by a kill"
    );
    assert_eq!(Event::from_line("granted r w1 7 100 2x"), None);
}

/// The audit's case: a release that was announced and then failed (an error, `NotHolder`) did
/// not end the lease, so a grant after it but before the lease's expiry is an overlap. The old
/// rule ended the lease at the announcement and missed it.
#[test]
fn an_overlap_after_a_release_that_failed_is_caught() {
    let history = [
        granted("a", 1, 0, 10),
        releasing(1, 3),
        answered(1, false),
        granted("b", 2, 5, 15),
    ];
    assert_eq!(
        check(&history),
        [Violation::Overlap {
            resource: "r".into(),
            earlier: ("a".into(), 1, 10),
            later: ("b".into(), 2, 5),
        }]
    );
}

/// A release that was announced but whose answer was never logged (its client was killed) may
/// have ended the lease: no overlap can be claimed after its reading. One that succeeded ended
/// it. A failed retry after a successful release withdraws only itself.
#[test]
fn an_unanswered_or_successful_release_ends_the_lease_at_its_reading() {
    let unanswered = [
        granted("a", 1, 0, 10),
        releasing(1, 3),
        granted("b", 2, 5, 15),
    ];
    assert_eq!(check(&unanswered), []);
    let retried = [
        granted("a", 1, 0, 10),
        releasing(1, 3),
        answered(1, true),
        releasing(1, 4),
        answered(1, false),
        granted("b", 2, 5, 15),
    ];
    assert_eq!(check(&retried), []);
}
