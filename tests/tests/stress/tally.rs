//! What a run exercised, counted from the workers' logs and the protected table.

use std::collections::{BTreeMap, BTreeSet};

use leasehold_tests::history::Event;
use leasehold_tests::stress::{LogLine, LostOp};

use super::verdict::{Log, Row, grant_of};

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

/// A lease as the logs tell it, for the counts.
#[derive(Clone, Debug)]
struct Known {
    expires_at: u64,
    /// Released, or its holder was told it was lost.
    ended: bool,
}

pub(super) fn count(logs: &[Log], rows: &[Row]) -> Tally {
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

/// Grants whose previous lease was never released. Tokens of a resource are consecutive (each
/// grant is the last token + 1), so the lease before token `t` is `t - 1`.
fn count_takeovers(tally: &mut Tally, leases: &Leases, held_at_kill: &BTreeSet<(String, u64)>) {
    for (resource, token) in leases.keys() {
        let previous = (resource.clone(), token.saturating_sub(1));
        if leases.get(&previous).is_some_and(|p| !p.ended) {
            tally.takeovers_after_expiry += 1;
            tally.takeovers_of_killed += usize::from(held_at_kill.contains(&previous));
        }
    }
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
        // Workers neither evict nor log writes as events (the table is the log of writes).
        LogLine::Event(Event::Wrote { .. } | Event::Evicted { .. }) => {}
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

/// Logged leases by (resource, token).
type Leases = BTreeMap<(String, u64), Known>;

/// Every logged lease, with its latest logged expiry.
fn known_leases(logs: &[Log]) -> Leases {
    let mut leases = Leases::new();
    for line in logs.iter().flat_map(|log| &log.lines) {
        learn(&mut leases, line);
    }
    leases
}

/// What one line tells about a lease: granted, renewed, or ended (released, or lost).
fn learn(leases: &mut Leases, line: &LogLine) {
    if let Some(grant) = grant_of(line) {
        let (expires_at, ended) = (grant.expires_at, false);
        leases.insert((grant.resource, grant.token), Known { expires_at, ended });
        return;
    }
    let (resource, token, renewed_to) = match line {
        LogLine::Event(Event::Renewed {
            resource,
            token,
            expires_at,
        }) => (resource, token, Some(*expires_at)),
        LogLine::Event(Event::Releasing {
            resource, token, ..
        })
        | LogLine::Lost {
            resource, token, ..
        } => (resource, token, None),
        _ => return,
    };
    if let Some(known) = leases.get_mut(&(resource.clone(), *token)) {
        match renewed_to {
            Some(expires_at) => known.expires_at = known.expires_at.max(expires_at),
            None => known.ended = true,
        }
    }
}

/// The leases (resource, token) whose holder was killed while they were valid and not ended. A
/// worker holds one lease at a time, so its last grant is the one it held, if any.
fn leases_held_at_kill(logs: &[Log], leases: &Leases) -> BTreeSet<(String, u64)> {
    let mut held = BTreeSet::new();
    for log in logs {
        let Some(killed_at) = log.killed_at else {
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

#[cfg(test)]
mod tests {
    use leasehold_tests::stress::WriteKind;

    use super::*;
    use crate::stress::verdict::tests::{grant, log, lost_write, releasing, row};

    #[test]
    fn kills_of_holders_and_takeovers_are_counted() {
        let logs = [
            // Killed at 50 holding #1 (valid until 100): #2 is a takeover of a killed holder's lease.
            log(Some(50), vec![grant("a", 1, [0, 100, 1])]),
            // #2 released; #3 walked away from; #4 takes over after expiry.
            log(
                None,
                vec![grant("b", 2, [100, 150, 101]), releasing(2, 120)],
            ),
            log(None, vec![grant("c", 3, [160, 200, 161])]),
            // Killed at 300, after #4 was lost: not holding.
            log(
                Some(300),
                vec![grant("d", 4, [200, 250, 201]), lost_write(4, "Expired")],
            ),
        ];
        let rows = [row(1, 1, "a", WriteKind::Grant)];
        let tally = count(&logs, &rows);
        assert_eq!(
            (tally.started, tally.kills, tally.holders_killed),
            (4, 2, 1)
        );
        assert_eq!(
            (tally.grants, tally.releases, tally.writes_accepted),
            (4, 1, 1)
        );
        assert_eq!(
            (tally.writes_refused, tally.writes_refused_superseded),
            (1, 0)
        );
        assert_eq!(
            (tally.takeovers_after_expiry, tally.takeovers_of_killed),
            (2, 1)
        );
        assert_eq!(tally.longest_grant_delay_ms, 1);
    }
}
