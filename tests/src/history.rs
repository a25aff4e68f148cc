//! What clients were told, as a history of [`Event`]s, and [`check`]: the one checker that loom,
//! shuttle and the multi-process stress test all run on their histories.
//!
//! The checker judges only what clients were told and what the protected resource accepted,
//! never the store's own rows, so a store that kept consistent rows while telling two clients
//! "granted" is still caught. It is sound for partial histories (a killed process loses the
//! events it had not written yet): every rule holds for every subset of a correct history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One thing a client was told or did. Times are milliseconds on the store's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An acquire returned `Granted`.
    Granted {
        /// The resource.
        resource: String,
        /// Who was told.
        client: String,
        /// The lease's token.
        token: u64,
        /// When the store granted it.
        acquired_at: u64,
        /// Until when.
        expires_at: u64,
    },
    /// A renew returned `Renewed` with this expiry.
    Renewed {
        /// The resource.
        resource: String,
        /// The renewed lease's token.
        token: u64,
        /// The new expiry.
        expires_at: u64,
    },
    /// The holder is about to release; logged before the call, so that a holder killed between
    /// its release and the log line is still known to have released.
    Releasing {
        /// The resource.
        resource: String,
        /// The token being released.
        token: u64,
        /// The store's clock read before the call: the lease ended no earlier.
        at: u64,
    },
    /// An administrator's evict ended the lease with `token` (its holder may not know yet).
    Evicted {
        /// The resource.
        resource: String,
        /// The evicted lease's token.
        token: u64,
        /// The store's clock read before the call: the lease ended no earlier.
        at: u64,
    },
    /// The protected resource accepted a write carrying `token`, at position `seq` of its log.
    Wrote {
        /// The resource.
        resource: String,
        /// The token the write carried.
        token: u64,
        /// The write's position in the protected resource's serial order.
        seq: u64,
    },
}

/// A broken promise found in a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two grants of one resource carried the same token.
    TokenRepeated {
        /// The resource.
        resource: String,
        /// The token.
        token: u64,
    },
    /// A client was granted a token not above one it had been granted before.
    TokenNotIncreasing {
        /// The resource.
        resource: String,
        /// The client.
        client: String,
        /// The earlier token.
        earlier: u64,
        /// The later, not larger, token.
        later: u64,
    },
    /// A lease was granted while an earlier one was still valid: not expired, and not released
    /// or evicted yet.
    Overlap {
        /// The resource.
        resource: String,
        /// The earlier lease: (client, token, certainly valid until).
        earlier: (String, u64, u64),
        /// The later lease: (client, token, granted at).
        later: (String, u64, u64),
    },
    /// The protected resource accepted an older token after a newer one.
    WriteOutOfOrder {
        /// The resource.
        resource: String,
        /// The newer token accepted first.
        newer: u64,
        /// The older token accepted after it.
        older: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TokenRepeated { resource, token } => {
                write!(f, "{resource}: token {token} granted twice")
            }
            Self::TokenNotIncreasing {
                resource,
                client,
                earlier,
                later,
            } => {
                write!(f, "{resource}: {client} got token {later} after {earlier}")
            }
            Self::Overlap {
                resource,
                earlier,
                later,
            } => write!(
                f,
                "{resource}: {} granted #{} at {} while {}'s #{} was valid until {}",
                later.0, later.1, later.2, earlier.0, earlier.1, earlier.2
            ),
            Self::WriteOutOfOrder {
                resource,
                newer,
                older,
            } => {
                write!(
                    f,
                    "{resource}: write with #{older} accepted after one with #{newer}"
                )
            }
        }
    }
}

/// A grant as the checker sees it: its holder, its latest known expiry, and the earliest time
/// it may have been released or evicted.
#[derive(Clone, Debug)]
struct Lease {
    client: String,
    acquired_at: u64,
    expires_at: u64,
    ended_not_before: Option<u64>,
}

impl Lease {
    /// Until when the lease was certainly valid: its expiry, or the earliest its release or
    /// eviction can have happened if that is sooner.
    fn valid_until(&self) -> u64 {
        self.ended_not_before
            .map_or(self.expires_at, |ended| ended.min(self.expires_at))
    }
}

/// Every violation in `events` (empty: the history keeps every promise).
///
/// - Tokens of one resource are never granted twice, and each client's grants increase.
/// - **Mutual exclusion**: every grant is made at or after the time each earlier grant of the
///   resource was certainly over. A lease is certainly valid until its latest known expiry, or,
///   if it was released or evicted, until the clock reading its releaser or evictor took before
///   the call, when that is sooner (the release itself came at or after that reading). A grant
///   made before then overlaps a lease that was neither expired nor released: a double grant,
///   whether or not the earlier holder released later.
/// - **Fencing**: the protected resource's accepted tokens never decrease.
#[must_use]
pub fn check(events: &[Event]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut leases: BTreeMap<&str, BTreeMap<u64, Lease>> = BTreeMap::new();
    let mut last_of_client: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for event in events {
        match event {
            Event::Granted {
                resource,
                client,
                token,
                acquired_at,
                expires_at,
            } => {
                let lease = Lease {
                    client: client.clone(),
                    acquired_at: *acquired_at,
                    expires_at: *expires_at,
                    ended_not_before: None,
                };
                if leases
                    .entry(resource)
                    .or_default()
                    .insert(*token, lease)
                    .is_some()
                {
                    violations.push(Violation::TokenRepeated {
                        resource: resource.clone(),
                        token: *token,
                    });
                }
                if let Some(earlier) = last_of_client.insert((resource, client), *token)
                    && earlier >= *token
                {
                    let (resource, client) = (resource.clone(), client.clone());
                    violations.push(Violation::TokenNotIncreasing {
                        resource,
                        client,
                        earlier,
                        later: *token,
                    });
                }
            }
            Event::Renewed {
                resource,
                token,
                expires_at,
            } => {
                if let Some(lease) = leases.entry(resource).or_default().get_mut(token) {
                    lease.expires_at = lease.expires_at.max(*expires_at);
                }
            }
            // An evict ends a lease early as a release does; the store orders it before any
            // later grant.
            Event::Releasing {
                resource,
                token,
                at,
            }
            | Event::Evicted {
                resource,
                token,
                at,
            } => {
                if let Some(lease) = leases.entry(resource).or_default().get_mut(token) {
                    let ended = lease.ended_not_before.map_or(*at, |seen| seen.min(*at));
                    lease.ended_not_before = Some(ended);
                }
            }
            Event::Wrote { .. } => {}
        }
    }
    for (resource, by_token) in &leases {
        overlaps(resource, by_token, &mut violations);
    }
    writes_in_order(events, &mut violations);
    violations
}

/// Grants in token order (the store's serial order of grants): each must come at or after the
/// time every earlier lease was certainly over.
fn overlaps(resource: &str, by_token: &BTreeMap<u64, Lease>, violations: &mut Vec<Violation>) {
    // The earlier lease certainly valid the longest: (valid until, client, token).
    let mut blocking: Option<(u64, &str, u64)> = None;
    for (token, lease) in by_token {
        if let Some((expiry, client, earlier)) = blocking
            && lease.acquired_at < expiry
        {
            violations.push(Violation::Overlap {
                resource: resource.to_owned(),
                earlier: (client.to_owned(), earlier, expiry),
                later: (lease.client.clone(), *token, lease.acquired_at),
            });
        }
        let until = lease.valid_until();
        if blocking.is_none_or(|(expiry, ..)| until > expiry) {
            blocking = Some((until, &lease.client, *token));
        }
    }
}

fn writes_in_order(events: &[Event], violations: &mut Vec<Violation>) {
    let mut writes: BTreeMap<&str, BTreeMap<u64, u64>> = BTreeMap::new();
    for event in events {
        if let Event::Wrote {
            resource,
            token,
            seq,
        } = event
        {
            writes.entry(resource).or_default().insert(*seq, *token);
        }
    }
    for (resource, log) in writes {
        let mut newest = 0;
        let mut reported = BTreeSet::new();
        for token in log.values() {
            if *token < newest && reported.insert((newest, *token)) {
                violations.push(Violation::WriteOutOfOrder {
                    resource: resource.to_owned(),
                    newer: newest,
                    older: *token,
                });
            }
            newest = newest.max(*token);
        }
    }
}

impl Event {
    /// The grant of `lease`, as its holder was told it.
    #[must_use]
    pub fn granted(lease: &leasehold_sqlite::Lease) -> Self {
        Self::Granted {
            resource: lease.resource().to_string(),
            client: lease.owner().to_string(),
            token: lease.token().get(),
            acquired_at: lease.acquired_at().as_millis(),
            expires_at: lease.expires_at().as_millis(),
        }
    }

    /// The event as one line of text (the stress test's log format).
    #[must_use]
    pub fn to_line(&self) -> String {
        match self {
            Self::Granted {
                resource,
                client,
                token,
                acquired_at,
                expires_at,
            } => {
                format!("granted {resource} {client} {token} {acquired_at} {expires_at}")
            }
            Self::Renewed {
                resource,
                token,
                expires_at,
            } => format!("renewed {resource} {token} {expires_at}"),
            Self::Releasing {
                resource,
                token,
                at,
            } => format!("releasing {resource} {token} {at}"),
            Self::Evicted {
                resource,
                token,
                at,
            } => format!("evicted {resource} {token} {at}"),
            Self::Wrote {
                resource,
                token,
                seq,
            } => format!("wrote {resource} {token} {seq}"),
        }
    }

    /// Parses [`Event::to_line`]'s form; `None` for anything else (such as a line cut short by a
    /// kill).
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        let words: Vec<&str> = line.split(' ').collect();
        let n = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        let s = |i: usize| words.get(i).map(|w| (*w).to_owned());
        Some(match (words.first().copied()?, words.len()) {
            ("granted", 6) => Self::Granted {
                resource: s(1)?,
                client: s(2)?,
                token: n(3)?,
                acquired_at: n(4)?,
                expires_at: n(5)?,
            },
            ("renewed", 4) => Self::Renewed {
                resource: s(1)?,
                token: n(2)?,
                expires_at: n(3)?,
            },
            ("releasing", 4) => Self::Releasing {
                resource: s(1)?,
                token: n(2)?,
                at: n(3)?,
            },
            ("evicted", 4) => Self::Evicted {
                resource: s(1)?,
                token: n(2)?,
                at: n(3)?,
            },
            ("wrote", 4) => Self::Wrote {
                resource: s(1)?,
                token: n(2)?,
                seq: n(3)?,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
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
}
