//! Planted histories: each rule the verdict adds to `history::check` catches its bad case, and
//! dating grants by receipt forgives exactly a late label.

use super::*;
use crate::stress::log::LostOp;

pub(crate) fn grant(client: &str, token: u64, times: [u64; 3]) -> LogLine {
    let [acquired_at, expires_at, received_at] = times;
    LogLine::Grant(Grant {
        resource: "r".into(),
        client: client.into(),
        token,
        acquired_at,
        expires_at,
        received_at,
    })
}

pub(crate) fn releasing(token: u64, at: u64) -> LogLine {
    LogLine::Event(Event::Releasing {
        resource: "r".into(),
        token,
        at,
    })
}

pub(crate) fn answered(token: u64, ended: bool) -> LogLine {
    LogLine::Event(Event::ReleaseAnswered {
        resource: "r".into(),
        token,
        ended,
    })
}

pub(crate) fn lost_fence(token: u64, reason: &str, current: Option<u64>) -> LogLine {
    LogLine::Lost {
        op: LostOp::Fence,
        resource: "r".into(),
        token,
        reason: reason.into(),
        current,
    }
}

pub(crate) fn fenced(token: u64, started_at: u64) -> LogLine {
    LogLine::Fenced {
        resource: "r".into(),
        token,
        started_at,
    }
}

pub(crate) fn row(seq: u64, token: u64, writer: &str) -> Row {
    Row {
        seq,
        resource: "r".into(),
        token,
        writer: writer.into(),
    }
}

pub(crate) fn log(killed_at: Option<u64>, lines: Vec<LogLine>) -> Log {
    Log { killed_at, lines }
}

#[test]
fn a_grant_received_while_an_earlier_lease_was_valid_is_caught() {
    let logs = [
        log(None, vec![grant("a", 1, [0, 100, 1])]),
        log(None, vec![grant("b", 2, [50, 150, 60])]),
    ];
    let verdict = judge_history(&logs, &[]);
    assert!(
        matches!(&verdict.violations[..], [Violation::Overlap { later, .. }] if later.2 == 60),
        "{:?}",
        verdict.violations
    );
}

#[test]
fn a_late_label_alone_is_counted_but_is_not_a_violation() {
    // b's acquire read the clock at 90, waited, and committed after a's expiry at 100.
    let logs = [
        log(None, vec![grant("a", 1, [0, 100, 1])]),
        log(None, vec![grant("b", 2, [90, 200, 130])]),
    ];
    let verdict = judge_history(&logs, &[]);
    assert_eq!(verdict.violations, []);
    assert_eq!(verdict.label_violations.len(), 1);
}

#[test]
fn a_release_that_did_not_end_the_lease_does_not_excuse_an_overlap() {
    let logs = [
        log(
            None,
            vec![
                grant("a", 1, [0, 100, 1]),
                releasing(1, 40),
                answered(1, false),
            ],
        ),
        log(None, vec![grant("b", 2, [50, 150, 60])]),
    ];
    assert_eq!(judge_history(&logs, &[]).violations.len(), 1);
    let unanswered = [
        log(None, vec![grant("a", 1, [0, 100, 1]), releasing(1, 40)]),
        log(None, vec![grant("b", 2, [50, 150, 60])]),
    ];
    assert_eq!(judge_history(&unanswered, &[]).violations, []);
}

#[test]
fn fenced_writes_the_store_had_to_refuse_are_caught() {
    let renewed = LogLine::Event(Event::Renewed {
        resource: "r".into(),
        token: 1,
        expires_at: 180,
    });
    let logs = [
        // At 150, within the renewed lease: fine. At 180, its expiry: refused, or a bug.
        log(
            None,
            vec![
                grant("a", 1, [0, 100, 1]),
                renewed,
                fenced(1, 150),
                fenced(1, 180),
            ],
        ),
        // #3 was received at 300: a fenced write of #2 started at 300 may have come first;
        // one started at 301 must have been refused.
        log(
            None,
            vec![
                grant("b", 2, [200, 400, 201]),
                fenced(2, 300),
                fenced(2, 301),
            ],
        ),
        log(None, vec![grant("c", 3, [299, 500, 300])]),
    ];
    let found = judge_history(&logs, &[]).discrepancies;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(matches!(
        found[0],
        Discrepancy::FenceAfterExpiry {
            started_at: 180,
            ..
        }
    ));
    assert!(matches!(
        found[1],
        Discrepancy::FenceWhenSuperseded {
            token: 2,
            started_at: 301,
            newer: 3,
            ..
        }
    ));
}

#[test]
fn writes_without_their_grant_and_logged_writes_not_held_are_caught() {
    let wrote = |token, seq| {
        let resource = "r".into();
        LogLine::Event(Event::Wrote {
            resource,
            token,
            seq,
        })
    };
    let logs = [log(
        None,
        vec![grant("a", 1, [0, 100, 1]), wrote(1, 1), wrote(1, 2)],
    )];
    let rows = [row(1, 1, "a"), row(2, 2, "a"), row(3, 1, "b")];
    let found = judge_history(&logs, &rows).discrepancies;
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&Discrepancy::LoggedWriteMissing {
        resource: "r".into(),
        token: 1,
        seq: 2
    }));
    assert!(matches!(
        found[1],
        Discrepancy::WriteWithoutGrant { seq: 2, .. }
    ));
    assert!(matches!(
        found[2],
        Discrepancy::WriteWithoutGrant { seq: 3, .. }
    ));
}

#[test]
fn a_stale_write_in_the_resource_is_caught_even_if_nobody_logged_it() {
    let logs = [
        log(
            None,
            vec![
                grant("a", 1, [0, 100, 1]),
                lost_fence(1, "NotCurrent", Some(2)),
            ],
        ),
        log(
            None,
            vec![grant("b", 2, [100, 200, 101]), releasing(2, 120)],
        ),
    ];
    let rows = [row(1, 2, "b"), row(2, 1, "a")];
    let violations = judge_history(&logs, &rows).violations;
    assert!(
        matches!(
            &violations[..],
            [Violation::WriteOutOfOrder {
                newer: 2,
                older: 1,
                ..
            }]
        ),
        "{violations:?}"
    );
}
