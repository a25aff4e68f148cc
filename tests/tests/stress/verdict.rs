//! After a run: reads every worker's log and the protected table, runs `history::check`, checks
//! the logs against the table, and counts what the run exercised.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use leasehold_tests::history::{self, Event, Violation};
use leasehold_tests::stress::{Grant, LogLine, SELECT_WORK, WriteKind};

use super::fleet::{Result, Worker};
use super::tally::{Tally, count};

/// One accepted write: a row of `stress_work`.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub(super) seq: u64,
    pub(super) resource: String,
    pub(super) token: u64,
    pub(super) writer: String,
    pub(super) kind: String,
}

/// A disagreement between the logs and the table, or a write the fence should have refused.
/// Each is a broken promise of the store or of the harness, so a run must have none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Discrepancy {
    /// A worker logged a write that the table does not hold as logged.
    LoggedWriteMissing {
        resource: String,
        token: u64,
        seq: u64,
    },
    /// The table holds a write whose token was never granted to its writer: with every write
    /// fenced, and each grant logged before its holder writes, this cannot happen.
    WriteWithoutGrant {
        seq: u64,
        resource: String,
        token: u64,
        writer: String,
    },
    /// A write made after its lease's expiry was accepted: the fence let it through.
    OverrunAccepted {
        seq: u64,
        resource: String,
        token: u64,
    },
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoggedWriteMissing {
                resource,
                token,
                seq,
            } => {
                write!(
                    f,
                    "logged write {resource} #{token} at seq {seq} is not in the table"
                )
            }
            Self::WriteWithoutGrant {
                seq,
                resource,
                token,
                writer,
            } => {
                write!(
                    f,
                    "row {seq}: {writer} wrote {resource} #{token} without that grant"
                )
            }
            Self::OverrunAccepted {
                seq,
                resource,
                token,
            } => {
                write!(
                    f,
                    "row {seq}: a write with {resource} #{token} after its expiry was accepted"
                )
            }
        }
    }
}

/// What one worker logged, in its order.
#[derive(Clone, Debug)]
pub(super) struct Log {
    /// When the supervisor killed it, in milliseconds on the store's clock.
    pub(super) killed_at: Option<u64>,
    pub(super) lines: Vec<LogLine>,
}

/// Everything a run left behind, judged.
pub(super) struct Verdict {
    /// What `history::check` found, each grant starting when its holder learned of it.
    pub(super) violations: Vec<Violation>,
    /// What `history::check` found, each grant starting at the store's label (its statement's clock
    /// reading, taken right before it ran).
    pub(super) label_violations: Vec<Violation>,
    /// What the cross-checks of logs and table found.
    pub(super) discrepancies: Vec<Discrepancy>,
    /// What the run exercised.
    pub(super) tally: Tally,
}

/// Reads what the run in `dir` left behind and judges it.
pub(super) fn judge(workers: &[Worker], db: &Path) -> Result<Verdict> {
    let logs = workers.iter().map(|worker| {
        let killed_at = worker.killed_at;
        read_log(&worker.log).map(|lines| Log { killed_at, lines })
    });
    let logs = logs.collect::<Result<Vec<_>>>()?;
    Ok(judge_history(&logs, &read_table(db)?))
}

/// Judges what the logs and the table hold.
pub(super) fn judge_history(logs: &[Log], rows: &[Row]) -> Verdict {
    Verdict {
        violations: history::check(&events(logs, rows, Grant::as_received)),
        label_violations: history::check(&events(logs, rows, Grant::as_labelled)),
        discrepancies: cross_check(logs, rows),
        tally: count(logs, rows),
    }
}

/// The history the checker judges: every log's grants (each seen through `grant`), renewals and
/// releases, in the worker's order, then every accepted write from the table.
fn events(logs: &[Log], rows: &[Row], grant: fn(&Grant) -> Event) -> Vec<Event> {
    let lines = logs.iter().flat_map(|log| &log.lines);
    let mut events: Vec<Event> = lines
        .filter_map(|line| match line {
            LogLine::Grant(g) => Some(grant(g)),
            LogLine::Event(Event::Wrote { .. }) | LogLine::Lost { .. } => None,
            LogLine::Event(event) => Some(event.clone()),
        })
        .collect();
    // The table is the authoritative write log: every accepted write, in serial order, including
    // those whose holder was killed before it could log them.
    events.extend(rows.iter().map(|row| Event::Wrote {
        resource: row.resource.clone(),
        token: row.token,
        seq: row.seq,
    }));
    events
}

/// A log's complete lines. A line is complete only with its newline: a kill can cut the last
/// line inside a number, which would still parse, so the text after the last newline is dropped.
fn read_log(path: &Path) -> Result<Vec<LogLine>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // A worker killed before it opened its log logged nothing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    Ok(complete.lines().filter_map(LogLine::from_line).collect())
}

fn read_table(db: &Path) -> Result<Vec<Row>> {
    let conn = rusqlite::Connection::open(db)?;
    let mut statement = conn.prepare(SELECT_WORK)?;
    let rows = statement.query_map([], |row| {
        Ok(Row {
            seq: row.get(0)?,
            resource: row.get(1)?,
            token: row.get(2)?,
            writer: row.get(3)?,
            kind: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn cross_check(logs: &[Log], rows: &[Row]) -> Vec<Discrepancy> {
    let mut found = missing_logged_writes(logs, rows);
    let grants = grants(logs);
    found.extend(rows.iter().filter_map(|row| row_discrepancy(row, &grants)));
    found
}

/// The logged writes that the table does not hold as logged.
fn missing_logged_writes(logs: &[Log], rows: &[Row]) -> Vec<Discrepancy> {
    let by_seq: BTreeMap<u64, &Row> = rows.iter().map(|row| (row.seq, row)).collect();
    let held = |resource: &String, token: &u64, seq: &u64| {
        let matches = |row: &&Row| row.resource == *resource && row.token == *token;
        by_seq.get(seq).is_some_and(matches)
    };
    let lines = logs.iter().flat_map(|log| &log.lines);
    let missing = lines.filter_map(|line| match line {
        LogLine::Event(Event::Wrote {
            resource,
            token,
            seq,
        }) if !held(resource, token, seq) => Some(Discrepancy::LoggedWriteMissing {
            resource: resource.clone(),
            token: *token,
            seq: *seq,
        }),
        _ => None,
    });
    missing.collect()
}

/// Who was granted each (resource, token), by the logs.
fn grants(logs: &[Log]) -> BTreeSet<(String, u64, String)> {
    let lines = logs.iter().flat_map(|log| &log.lines);
    let granted = lines.filter_map(grant_of);
    granted.map(|g| (g.resource, g.token, g.client)).collect()
}

/// The grant a line reports, whether or not it carries its receipt time.
pub(super) fn grant_of(line: &LogLine) -> Option<Grant> {
    match line {
        LogLine::Grant(grant) => Some(grant.clone()),
        // Without its receipt time, a grant can only be dated by its label.
        LogLine::Event(event @ Event::Granted { acquired_at, .. }) => {
            Grant::from_event(event.clone(), *acquired_at)
        }
        _ => None,
    }
}

fn row_discrepancy(row: &Row, grants: &BTreeSet<(String, u64, String)>) -> Option<Discrepancy> {
    let (seq, resource, token) = (row.seq, row.resource.clone(), row.token);
    if row.kind == WriteKind::Overrun.as_str() {
        return Some(Discrepancy::OverrunAccepted {
            seq,
            resource,
            token,
        });
    }
    let granted = (row.resource.clone(), row.token, row.writer.clone());
    (!grants.contains(&granted)).then(|| Discrepancy::WriteWithoutGrant {
        seq,
        resource,
        token,
        writer: row.writer.clone(),
    })
}

/// Planted histories: each rule this file adds to `history::check` catches its bad case, and
/// dating grants by receipt forgives exactly a late label.
#[cfg(test)]
pub(super) mod tests {
    use leasehold_tests::stress::LostOp;

    use super::*;

    pub(in crate::stress) fn grant(client: &str, token: u64, times: [u64; 3]) -> LogLine {
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

    pub(in crate::stress) fn releasing(token: u64, at: u64) -> LogLine {
        LogLine::Event(Event::Releasing {
            resource: "r".into(),
            token,
            at,
        })
    }

    pub(in crate::stress) fn lost_write(token: u64, reason: &str) -> LogLine {
        LogLine::Lost {
            op: LostOp::Write,
            resource: "r".into(),
            token,
            reason: reason.into(),
        }
    }

    pub(in crate::stress) fn row(seq: u64, token: u64, writer: &str, kind: WriteKind) -> Row {
        Row {
            seq,
            resource: "r".into(),
            token,
            writer: writer.into(),
            kind: kind.as_str().into(),
        }
    }

    pub(in crate::stress) fn log(killed_at: Option<u64>, lines: Vec<LogLine>) -> Log {
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
    fn writes_the_fence_should_have_refused_are_caught() {
        let logs = [log(None, vec![grant("a", 1, [0, 100, 1])])];
        let rows = [
            row(1, 1, "a", WriteKind::Grant),
            row(2, 1, "a", WriteKind::Overrun),
            row(3, 1, "b", WriteKind::Work),
            row(4, 2, "a", WriteKind::Work),
        ];
        let found = judge_history(&logs, &rows).discrepancies;
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(matches!(
            found[0],
            Discrepancy::OverrunAccepted { seq: 2, .. }
        ));
        assert!(matches!(
            found[1],
            Discrepancy::WriteWithoutGrant { seq: 3, .. }
        ));
        assert!(matches!(
            found[2],
            Discrepancy::WriteWithoutGrant { seq: 4, .. }
        ));
    }

    #[test]
    fn a_logged_write_the_table_does_not_hold_is_caught() {
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
        let rows = [
            row(1, 1, "a", WriteKind::Grant),
            row(2, 2, "a", WriteKind::Work),
        ];
        let found = judge_history(&logs, &rows).discrepancies;
        assert!(found.contains(&Discrepancy::LoggedWriteMissing {
            resource: "r".into(),
            token: 1,
            seq: 2
        }));
    }

    #[test]
    fn a_stale_write_in_the_table_is_caught_even_if_nobody_logged_it() {
        let logs = [
            log(
                None,
                vec![grant("a", 1, [0, 100, 1]), lost_write(1, "NotCurrent")],
            ),
            log(
                None,
                vec![grant("b", 2, [100, 200, 101]), releasing(2, 120)],
            ),
        ];
        let rows = [
            row(1, 2, "b", WriteKind::Grant),
            row(2, 1, "a", WriteKind::Work),
        ];
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
}
