//! After a run: reads every worker's log and the protected table, runs `history::check`, checks
//! the logs against the table, and counts what the run exercised.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use leasehold_tests::history::{self, Event, Violation};
use leasehold_tests::stress::{Grant, LogLine, LostOp, SELECT_WORK, WriteKind};

use super::fleet::{Result, Worker};

/// One accepted write: a row of `stress_work`.
#[derive(Clone, Debug)]
struct Row {
    seq: u64,
    resource: String,
    token: u64,
    writer: String,
    kind: String,
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
struct Log<'a> {
    worker: &'a Worker,
    lines: Vec<LogLine>,
}

/// Everything a run left behind, judged.
pub(super) struct Verdict {
    /// What `history::check` found, each grant starting when its holder learned of it.
    pub(super) violations: Vec<Violation>,
    /// What `history::check` found, each grant starting at the store's label (the clock reading
    /// before the statement waited for the write lock): stricter than the store promises.
    pub(super) label_violations: Vec<Violation>,
    /// What the cross-checks of logs and table found.
    pub(super) discrepancies: Vec<Discrepancy>,
    /// What the run exercised.
    pub(super) tally: Tally,
}

/// Counts of what a run did.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub(super) started: usize,
    pub(super) kills: usize,
    /// Killed while holding a lease still valid at the kill, by the logs.
    pub(super) holders_killed: usize,
    pub(super) grants: usize,
    pub(super) renewals: usize,
    pub(super) releases: usize,
    pub(super) writes_accepted: usize,
    pub(super) writes_refused: usize,
    /// Refused because another client had been granted the resource since.
    pub(super) writes_refused_superseded: usize,
    pub(super) renewals_lost: usize,
    /// The longest time from a grant's label to its receipt, milliseconds.
    pub(super) longest_grant_delay_ms: u64,
    /// Grants whose previous lease was never released (it expired; its holder walked away, was
    /// killed or overran).
    pub(super) takeovers_after_expiry: usize,
    /// Of those, grants whose previous holder was killed while holding it.
    pub(super) takeovers_of_killed: usize,
}

/// Reads what the run in `dir` left behind and judges it.
pub(super) fn judge(workers: &[Worker], db: &Path) -> Result<Verdict> {
    let logs = workers
        .iter()
        .map(|worker| read_log(&worker.log).map(|lines| Log { worker, lines }))
        .collect::<Result<Vec<_>>>()?;
    let rows = read_table(db)?;
    Ok(Verdict {
        violations: history::check(&events(&logs, &rows, Grant::as_received)),
        label_violations: history::check(&events(&logs, &rows, Grant::as_labelled)),
        discrepancies: cross_check(&logs, &rows),
        tally: count(&logs, &rows),
    })
}

/// The history the checker judges: every log's grants (each seen through `grant`), renewals and
/// releases, in the worker's order, then every accepted write from the table.
fn events(logs: &[Log<'_>], rows: &[Row], grant: fn(&Grant) -> Event) -> Vec<Event> {
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

fn cross_check(logs: &[Log<'_>], rows: &[Row]) -> Vec<Discrepancy> {
    let by_seq: BTreeMap<u64, &Row> = rows.iter().map(|row| (row.seq, row)).collect();
    let mut found = Vec::new();
    for line in logs.iter().flat_map(|log| &log.lines) {
        if let LogLine::Event(Event::Wrote {
            resource,
            token,
            seq,
        }) = line
        {
            let matches = |row: &&Row| row.resource == *resource && row.token == *token;
            if !by_seq.get(seq).is_some_and(matches) {
                found.push(Discrepancy::LoggedWriteMissing {
                    resource: resource.clone(),
                    token: *token,
                    seq: *seq,
                });
            }
        }
    }
    let grants = grants(logs);
    found.extend(rows.iter().filter_map(|row| row_discrepancy(row, &grants)));
    found
}

/// Who was granted each (resource, token), by the logs.
fn grants(logs: &[Log<'_>]) -> BTreeSet<(String, u64, String)> {
    let lines = logs.iter().flat_map(|log| &log.lines);
    let granted = lines.filter_map(grant_of);
    granted.map(|g| (g.resource, g.token, g.client)).collect()
}

/// The grant a line reports, whether or not it carries its receipt time.
fn grant_of(line: &LogLine) -> Option<Grant> {
    match line {
        LogLine::Grant(grant) => Some(grant.clone()),
        LogLine::Event(Event::Granted {
            resource,
            client,
            token,
            acquired_at,
            expires_at,
        }) => Some(Grant {
            resource: resource.clone(),
            client: client.clone(),
            token: *token,
            acquired_at: *acquired_at,
            expires_at: *expires_at,
            received_at: *acquired_at,
        }),
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

/// A lease as the logs tell it, for the counts.
#[derive(Clone, Debug)]
struct Known {
    expires_at: u64,
    /// Released, or its holder was told it was lost.
    ended: bool,
}

fn count(logs: &[Log<'_>], rows: &[Row]) -> Tally {
    let leases = known_leases(logs);
    let held_at_kill = leases_held_at_kill(logs, &leases);
    let mut tally = Tally {
        started: logs.len(),
        kills: logs
            .iter()
            .filter(|log| log.worker.killed_at.is_some())
            .count(),
        holders_killed: held_at_kill.len(),
        writes_accepted: rows.len(),
        ..Tally::default()
    };
    for line in logs.iter().flat_map(|log| &log.lines) {
        count_line(&mut tally, line);
    }
    // Tokens of a resource are consecutive (each grant is the last token + 1), so the lease
    // before token `t` is `t - 1`.
    for (resource, token) in leases.keys() {
        let previous = (resource.clone(), token.saturating_sub(1));
        if leases.get(&previous).is_some_and(|p| !p.ended) {
            tally.takeovers_after_expiry += 1;
            tally.takeovers_of_killed += usize::from(held_at_kill.contains(&previous));
        }
    }
    tally
}

fn count_line(tally: &mut Tally, line: &LogLine) {
    match line {
        LogLine::Grant(grant) => {
            tally.grants += 1;
            let delay = grant.received_at.saturating_sub(grant.acquired_at);
            tally.longest_grant_delay_ms = tally.longest_grant_delay_ms.max(delay);
        }
        LogLine::Event(Event::Granted { .. }) => tally.grants += 1,
        LogLine::Event(Event::Renewed { .. }) => tally.renewals += 1,
        LogLine::Event(Event::Releasing { .. }) => tally.releases += 1,
        LogLine::Event(Event::Wrote { .. }) => {}
        LogLine::Lost {
            op: LostOp::Renew, ..
        } => tally.renewals_lost += 1,
        LogLine::Lost {
            op: LostOp::Write,
            reason,
            ..
        } => {
            tally.writes_refused += 1;
            tally.writes_refused_superseded += usize::from(reason == "NotCurrent");
        }
    }
}

/// Every logged lease by (resource, token), with its latest logged expiry.
fn known_leases(logs: &[Log<'_>]) -> BTreeMap<(String, u64), Known> {
    let mut leases = BTreeMap::new();
    for line in logs.iter().flat_map(|log| &log.lines) {
        match line {
            LogLine::Grant(_) | LogLine::Event(Event::Granted { .. }) => {
                let grant = grant_of(line).expect("the arm matched a grant");
                let known = Known {
                    expires_at: grant.expires_at,
                    ended: false,
                };
                leases.insert((grant.resource, grant.token), known);
            }
            LogLine::Event(Event::Renewed {
                resource,
                token,
                expires_at,
            }) => {
                if let Some(known) = leases.get_mut(&(resource.clone(), *token)) {
                    known.expires_at = known.expires_at.max(*expires_at);
                }
            }
            LogLine::Event(Event::Releasing { resource, token })
            | LogLine::Lost {
                resource, token, ..
            } => {
                if let Some(known) = leases.get_mut(&(resource.clone(), *token)) {
                    known.ended = true;
                }
            }
            LogLine::Event(Event::Wrote { .. }) => {}
        }
    }
    leases
}

/// The leases (resource, token) whose holder was killed while they were valid and not ended. A
/// worker holds one lease at a time, so its last grant is the one it held, if any.
fn leases_held_at_kill(
    logs: &[Log<'_>],
    leases: &BTreeMap<(String, u64), Known>,
) -> BTreeSet<(String, u64)> {
    let mut held = BTreeSet::new();
    for log in logs {
        let Some(killed_at) = log.worker.killed_at else {
            continue;
        };
        let last_grant = log.lines.iter().rev().find_map(grant_of);
        let Some(key) = last_grant.map(|g| (g.resource, g.token)) else {
            continue;
        };
        if leases
            .get(&key)
            .is_some_and(|l| !l.ended && killed_at < l.expires_at)
        {
            held.insert(key);
        }
    }
    held
}
