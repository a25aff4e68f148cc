//! What a run exercised, counted from the workers' logs and the protected resource.

use std::collections::{BTreeMap, BTreeSet};

use super::log::{LogLine, LostOp};
use super::protected::Row;
use super::verdict::Log;
use crate::history::Event;

/// Counts of what a run did.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// Worker processes started.
    pub(crate) started: usize,
    /// Of those, SIGKILLed.
    pub(crate) kills: usize,
    /// Killed while holding a lease still valid at the kill, by the logs.
    pub(crate) holders_killed: usize,
    /// Grants logged.
    pub(crate) grants: usize,
    /// Renewals that extended a lease.
    pub(crate) renewals: usize,
    /// Renewals told the lease was over.
    pub(crate) renewals_lost: usize,
    /// Releases started.
    pub(crate) releases: usize,
    /// Releases answered `Released`: they ended a valid lease.
    pub(crate) releases_ended: usize,
    /// Writes the protected resource accepted (its whole file).
    pub(crate) writes_accepted: usize,
    /// Writes it refused: an older token than one it had accepted.
    pub(crate) writes_refused: usize,
    /// The store's fenced writes that committed.
    pub(crate) fenced_committed: usize,
    /// The store's fenced writes told the lease was over.
    pub(crate) fenced_lost: usize,
    /// Of those, refused while another lease of the resource was the valid one.
    pub(crate) fenced_superseded: usize,
    /// Prunes that answered.
    pub(crate) prunes: usize,
    /// Records they deleted.
    pub(crate) pruned_records: u64,
    /// The longest time from a grant's label to its receipt, milliseconds.
    pub(crate) longest_grant_delay_ms: u64,
    /// Grants whose previous lease was never released (it expired: its holder walked away, was
    /// killed or overran).
    pub(crate) takeovers_after_expiry: usize,
    /// Of those, grants whose previous holder was killed while holding it.
    pub(crate) takeovers_of_killed: usize,
}

/// A lease as the logs tell it, for the counts.
#[derive(Clone, Debug)]
struct Known {
    expires_at: u64,
    /// Its release may have ended it (a release whose answer is unknown, or `Released`).
    released: bool,
    /// Its holder stopped using it: released, or told it was over.
    ended: bool,
}

/// Counts what `logs` and the protected resource's `rows` show.
pub(crate) fn count(logs: &[Log], rows: &[Row]) -> Tally {
    let leases = known_leases(logs);
    let held_at_kill = leases_held_at_kill(logs, &leases);
    let mut tally = Tally {
        started: logs.len(),
        kills: logs.iter().filter(|log| log.killed_at.is_some()).count(),
        holders_killed: held_at_kill.len(),
        writes_accepted: rows.len(),
        ..Tally::default()
    };
    for line in logs.iter().flat_map(|log| &log.lines) {
        count_line(&mut tally, line);
    }
    count_takeovers(&mut tally, &leases, &held_at_kill);
    tally
}

/// Grants whose previous lease was never released. The previous lease is the one with the
/// next smaller logged token of the resource (tokens of a resource are not consecutive: a
/// pruned resource starts above the store's high-water mark).
fn count_takeovers(tally: &mut Tally, leases: &Leases, held_at_kill: &BTreeSet<(String, u64)>) {
    let mut previous: Option<(&(String, u64), &Known)> = None;
    for (key, known) in leases {
        if let Some((before, lease)) = previous
            && before.0 == key.0
            && !lease.released
        {
            tally.takeovers_after_expiry += 1;
            tally.takeovers_of_killed += usize::from(held_at_kill.contains(before));
        }
        previous = Some((key, known));
    }
}

fn count_line(tally: &mut Tally, line: &LogLine) {
    match line {
        LogLine::Grant(grant) => {
            tally.grants += 1;
            let delay = grant.received_at.saturating_sub(grant.acquired_at);
            tally.longest_grant_delay_ms = tally.longest_grant_delay_ms.max(delay);
        }
        LogLine::Event(event) => count_event(tally, event),
        LogLine::Lost {
            op: LostOp::Renew, ..
        } => tally.renewals_lost += 1,
        LogLine::Lost {
            op: LostOp::Fence,
            token,
            current,
            ..
        } => {
            tally.fenced_lost += 1;
            tally.fenced_superseded += usize::from(current.is_some_and(|c| c != *token));
        }
        LogLine::Fenced { .. } => tally.fenced_committed += 1,
        LogLine::Refused { .. } => tally.writes_refused += 1,
        LogLine::Pruned { removed } => {
            tally.prunes += 1;
            tally.pruned_records += removed;
        }
    }
}

fn count_event(tally: &mut Tally, event: &Event) {
    match event {
        Event::Granted { .. } => tally.grants += 1,
        Event::Renewed { .. } => tally.renewals += 1,
        Event::Releasing { .. } => tally.releases += 1,
        Event::ReleaseAnswered { ended, .. } => tally.releases_ended += usize::from(*ended),
        // Workers do not evict (the planted acquire's evictions are its secret), and the
        // resource's file is the count of writes.
        Event::Evicted { .. } | Event::Wrote { .. } => {}
    }
}

/// Logged leases by (resource, token).
type Leases = BTreeMap<(String, u64), Known>;

/// Every logged lease, with its latest logged expiry and how it ended.
fn known_leases(logs: &[Log]) -> Leases {
    let mut leases = Leases::new();
    for line in logs.iter().flat_map(|log| &log.lines) {
        learn(&mut leases, line);
    }
    leases
}

/// What one line tells about a lease: granted, renewed, released, or over.
fn learn(leases: &mut Leases, line: &LogLine) {
    if let Some(grant) = line.grant() {
        let known = Known {
            expires_at: grant.expires_at,
            released: false,
            ended: false,
        };
        leases.insert((grant.resource, grant.token), known);
        return;
    }
    let (resource, token) = match line {
        LogLine::Event(
            Event::Renewed {
                resource, token, ..
            }
            | Event::Releasing {
                resource, token, ..
            }
            | Event::ReleaseAnswered {
                resource, token, ..
            },
        )
        | LogLine::Lost {
            resource, token, ..
        } => (resource, token),
        _ => return,
    };
    let Some(known) = leases.get_mut(&(resource.clone(), *token)) else {
        return;
    };
    match line {
        LogLine::Event(Event::Renewed { expires_at, .. }) => {
            known.expires_at = known.expires_at.max(*expires_at);
        }
        LogLine::Event(Event::Releasing { .. }) => (known.released, known.ended) = (true, true),
        LogLine::Event(Event::ReleaseAnswered { ended, .. }) => known.released = *ended,
        _ => known.ended = true,
    }
}

/// The leases (resource, token) whose holder was killed while they were valid and in use. A
/// worker holds one lease at a time, so its last grant is the one it held, if any.
fn leases_held_at_kill(logs: &[Log], leases: &Leases) -> BTreeSet<(String, u64)> {
    let mut held = BTreeSet::new();
    for log in logs {
        let Some(killed_at) = log.killed_at else {
            continue;
        };
        let last_grant = log.lines.iter().rev().find_map(LogLine::grant);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::verdict::tests::{answered, fenced, grant, log, lost_fence, releasing, row};

    #[test]
    fn kills_of_holders_and_takeovers_are_counted() {
        let logs = [
            // Killed at 50 holding #10 (valid until 100): #12 takes over a killed holder's lease.
            log(Some(50), vec![grant("a", 10, [0, 100, 1])]),
            // #12 released; #13 (a release that found it expired) and #14 expire.
            log(
                None,
                vec![
                    grant("b", 12, [100, 150, 101]),
                    releasing(12, 120),
                    answered(12, true),
                ],
            ),
            log(
                None,
                vec![
                    grant("c", 13, [160, 200, 161]),
                    fenced(13, 170),
                    releasing(13, 210),
                    answered(13, false),
                ],
            ),
            // Killed at 300, after #14 was lost: not holding.
            log(
                Some(300),
                vec![
                    grant("d", 14, [200, 250, 201]),
                    lost_fence(14, "NotCurrent", Some(15)),
                ],
            ),
            log(None, vec![grant("e", 15, [260, 300, 261])]),
        ];
        let tally = count(&logs, &[row(1, 10, "a")]);
        assert_eq!(
            (tally.started, tally.kills, tally.holders_killed),
            (5, 2, 1)
        );
        assert_eq!(
            (tally.grants, tally.releases, tally.releases_ended),
            (5, 2, 1)
        );
        assert_eq!((tally.writes_accepted, tally.fenced_committed), (1, 1));
        assert_eq!((tally.fenced_lost, tally.fenced_superseded), (1, 1));
        // #12 (after #10, killed), #14 (after #13, expired), #15 (after #14, walked away).
        assert_eq!(
            (tally.takeovers_after_expiry, tally.takeovers_of_killed),
            (3, 1)
        );
        assert_eq!(tally.longest_grant_delay_ms, 1);
    }
}
