//! After a run: reads every worker's log and the protected resource, runs
//! [`history::check`](crate::history::check), checks the logs against the resource and the
//! store's fenced writes against what the logs say of their leases, and counts what the run
//! exercised.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use super::fleet::Worker;
use super::log::{Grant, LogLine};
use super::protected::{self, Row};
use super::tally::{Tally, count};
use super::worker::Result;
use crate::history::{self, Event, Violation};

/// A broken promise found outside the history checker: the logs and the protected resource
/// disagree, or the store's fence let a write through that it had to refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Discrepancy {
    /// A worker logged a write that the protected resource does not hold as logged.
    LoggedWriteMissing {
        /// The resource.
        resource: String,
        /// The write's token.
        token: u64,
        /// Where the worker was told it was.
        seq: u64,
    },
    /// The protected resource holds a write whose token was never granted to its writer: with
    /// each grant logged before its holder writes, this cannot happen.
    WriteWithoutGrant {
        /// The write's position.
        seq: u64,
        /// The resource.
        resource: String,
        /// The write's token.
        token: u64,
        /// Who wrote it.
        writer: String,
    },
    /// The store's fenced write committed although it started at or after the lease's expiry
    /// (its latest, as its holder logged every renewal before it wrote).
    FenceAfterExpiry {
        /// The resource.
        resource: String,
        /// The lease's token.
        token: u64,
        /// The holder's clock reading before the call.
        started_at: u64,
        /// The lease's expiry.
        expires_at: u64,
    },
    /// The store's fenced write committed although a newer lease of the resource had been
    /// granted, and received by its holder, before the write started.
    FenceWhenSuperseded {
        /// The resource.
        resource: String,
        /// The lease's token.
        token: u64,
        /// The holder's clock reading before the call.
        started_at: u64,
        /// The newer lease's token.
        newer: u64,
        /// When its holder received it.
        received_at: u64,
    },
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoggedWriteMissing {
                resource,
                token,
                seq,
            } => write!(
                f,
                "logged write {resource} #{token} at {seq} is not in the resource"
            ),
            Self::WriteWithoutGrant {
                seq,
                resource,
                token,
                writer,
            } => write!(
                f,
                "write {seq}: {writer} wrote {resource} #{token} without that grant"
            ),
            Self::FenceAfterExpiry {
                resource,
                token,
                started_at,
                expires_at,
            } => write!(
                f,
                "{resource} #{token}: a fenced write started at {started_at} committed after \
                 the lease's expiry at {expires_at}"
            ),
            Self::FenceWhenSuperseded {
                resource,
                token,
                started_at,
                newer,
                received_at,
            } => write!(
                f,
                "{resource} #{token}: a fenced write started at {started_at} committed after \
                 #{newer} was received at {received_at}"
            ),
        }
    }
}

/// What one worker logged, in its order.
#[derive(Clone, Debug)]
pub(crate) struct Log {
    /// When the supervisor killed it, in milliseconds on the store's clock.
    pub(crate) killed_at: Option<u64>,
    /// Its complete lines.
    pub(crate) lines: Vec<LogLine>,
}

/// Everything a run left behind, judged.
pub(crate) struct Verdict {
    /// What `history::check` found, each grant starting when its holder learned of it.
    pub(crate) violations: Vec<Violation>,
    /// What `history::check` found, each grant starting at the store's label.
    pub(crate) label_violations: Vec<Violation>,
    /// What the cross-checks found.
    pub(crate) discrepancies: Vec<Discrepancy>,
    /// What the run exercised.
    pub(crate) tally: Tally,
}

/// Reads what `workers` left behind, and the protected resource at `protected`, and judges it.
pub(crate) fn judge(workers: &[Worker], protected: &Path) -> Result<Verdict> {
    let logs = workers.iter().map(|worker| {
        let killed_at = worker.killed_at;
        read_log(&worker.log).map(|lines| Log { killed_at, lines })
    });
    let logs = logs.collect::<Result<Vec<_>>>()?;
    Ok(judge_history(&logs, &protected::read_all(protected)?))
}

/// Judges what the logs and the protected resource hold.
pub(crate) fn judge_history(logs: &[Log], rows: &[Row]) -> Verdict {
    let mut discrepancies = cross_check(logs, rows);
    discrepancies.extend(fences_after_expiry(logs));
    discrepancies.extend(fences_when_superseded(logs));
    Verdict {
        violations: history::check(&events(logs, rows, Grant::as_received)),
        label_violations: history::check(&events(logs, rows, Grant::as_labelled)),
        discrepancies,
        tally: count(logs, rows),
    }
}

/// The history the checker judges: every log's grants (each seen through `grant`), renewals and
/// releases, in the worker's order, then every accepted write from the protected resource.
fn events(logs: &[Log], rows: &[Row], grant: fn(&Grant) -> Event) -> Vec<Event> {
    let lines = logs.iter().flat_map(|log| &log.lines);
    let mut events: Vec<Event> = lines
        .filter_map(|line| match line {
            LogLine::Grant(g) => Some(grant(g)),
            LogLine::Event(Event::Wrote { .. }) => None,
            LogLine::Event(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    // The resource's file is the authoritative write log: every accepted write, in serial
    // order, including those whose writer was killed before it could log them.
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

fn cross_check(logs: &[Log], rows: &[Row]) -> Vec<Discrepancy> {
    let mut found = missing_logged_writes(logs, rows);
    let grants = grants(logs);
    found.extend(rows.iter().filter_map(|row| {
        let granted = (row.resource.clone(), row.token, row.writer.clone());
        (!grants.contains(&granted)).then(|| Discrepancy::WriteWithoutGrant {
            seq: row.seq,
            resource: row.resource.clone(),
            token: row.token,
            writer: row.writer.clone(),
        })
    }));
    found
}

/// The logged writes that the protected resource does not hold as logged.
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
    let granted = lines.filter_map(LogLine::grant);
    granted.map(|g| (g.resource, g.token, g.client)).collect()
}

/// Fenced writes that committed although they started at or after their lease's expiry. Only
/// the holder renews its lease, and it logs every renewal before its next write, so the expiry
/// known from its own log at a write is the lease's expiry then. The store read its clock after
/// the holder's reading, so it judged the lease expired.
fn fences_after_expiry(logs: &[Log]) -> Vec<Discrepancy> {
    let mut found = Vec::new();
    for log in logs {
        let mut expiry: BTreeMap<(&str, u64), u64> = BTreeMap::new();
        for line in &log.lines {
            match line {
                LogLine::Grant(g) => {
                    expiry.insert((&g.resource, g.token), g.expires_at);
                }
                LogLine::Event(Event::Renewed {
                    resource,
                    token,
                    expires_at,
                }) => {
                    let known = expiry.entry((resource, *token)).or_default();
                    *known = (*known).max(*expires_at);
                }
                LogLine::Fenced {
                    resource,
                    token,
                    started_at,
                } => {
                    let Some(&expires_at) = expiry.get(&(resource.as_str(), *token)) else {
                        continue;
                    };
                    if *started_at >= expires_at {
                        found.push(Discrepancy::FenceAfterExpiry {
                            resource: resource.clone(),
                            token: *token,
                            started_at: *started_at,
                            expires_at,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Fenced writes that committed although a newer lease of the resource had been received
/// strictly before (in whole milliseconds) the write started: that grant had committed before
/// the store checked the lease, which was then no longer current.
fn fences_when_superseded(logs: &[Log]) -> Vec<Discrepancy> {
    let lines = || logs.iter().flat_map(|log| &log.lines);
    // Per resource, the earliest receipt of each token, and from it the earliest receipt of any
    // token above each.
    let mut received: BTreeMap<&str, BTreeMap<u64, u64>> = BTreeMap::new();
    for line in lines() {
        if let LogLine::Grant(g) = line {
            received
                .entry(&g.resource)
                .or_default()
                .insert(g.token, g.received_at);
        }
    }
    let mut found = Vec::new();
    for line in lines() {
        let LogLine::Fenced {
            resource,
            token,
            started_at,
        } = line
        else {
            continue;
        };
        let newer = received
            .get(resource.as_str())
            .into_iter()
            .flat_map(|by_token| {
                by_token
                    .range(token + 1..)
                    .filter(|(_, at)| *at < started_at)
            });
        if let Some((&newer, &received_at)) = newer.min_by_key(|(_, at)| **at) {
            found.push(Discrepancy::FenceWhenSuperseded {
                resource: resource.clone(),
                token: *token,
                started_at: *started_at,
                newer,
                received_at,
            });
        }
    }
    found
}

#[cfg(test)]
pub(crate) mod tests;
