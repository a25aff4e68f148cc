//! What clients were told, as a history of [`Event`]s, and [`check`]: the one time-aware checker
//! that loom, shuttle, the kit's concurrent suites and the multi-process stress test all run on
//! their histories.
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
    /// its release and the log line is still known to have *maybe* released.
    Releasing {
        /// The resource.
        resource: String,
        /// The token being released.
        token: u64,
        /// The store's clock read before the call: the lease ended no earlier.
        at: u64,
    },
    /// The answer to the release last announced by [`Event::Releasing`] for this token, by the
    /// same client: whether it ended the lease (`Released`) or not (an error, `NotHolder`, or
    /// `Expired` — the lease had already ended by itself). A release that did not end its lease
    /// does not shorten it; one whose answer was never logged (a killed client) may have.
    ReleaseAnswered {
        /// The resource.
        resource: String,
        /// The token that was released.
        token: u64,
        /// Whether the release ended a valid lease.
        ended: bool,
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
///   if it was evicted or may have been released, until the clock reading its releaser or
///   evictor took before the call, when that is sooner (the release itself came at or after that
///   reading). A release whose answer says it did not end the lease (an error, `NotHolder`,
///   `Expired`) does not count; one whose answer was never logged does. A grant
///   made before then overlaps a lease that was neither expired nor released: a double grant,
///   whether or not the earlier holder released later.
/// - **Fencing**: the protected resource's accepted tokens never decrease.
///
/// Soundness needs each grant's `acquired_at` to be no earlier than its commit on the clock the
/// `at` readings use. A time read after the call returned (the stress test's receipt time)
/// always is; so is the store's own label where nothing runs between the store reading its clock
/// and its statement (shuttle, whose scheduler switches before the reading, at the statement
/// seam). A label read by a thread that another then overtakes (the operating system
/// descheduling it; loom, which switches at the clock reading, but its scenarios log no release)
/// can be earlier than its commit, and with it the checker can report an overlap that did not
/// happen.
#[must_use]
pub fn check(events: &[Event]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut leases: BTreeMap<&str, BTreeMap<u64, Lease>> = BTreeMap::new();
    let mut last_of_client: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    // Release intents per lease, in order; an answer that did not end the lease withdraws the
    // latest one. What is left may have ended the lease.
    let mut intents: BTreeMap<(&str, u64), Vec<u64>> = BTreeMap::new();
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
            Event::Releasing {
                resource,
                token,
                at,
            } => intents.entry((resource, *token)).or_default().push(*at),
            Event::ReleaseAnswered {
                resource,
                token,
                ended: false,
            } => {
                intents.entry((resource, *token)).or_default().pop();
            }
            // An evict ends a lease early as a release does; the store orders it before any
            // later grant. It is logged only once the evictor was told it happened.
            Event::Evicted {
                resource,
                token,
                at,
            } => end_not_before(&mut leases, resource, *token, *at),
            Event::ReleaseAnswered { .. } | Event::Wrote { .. } => {}
        }
    }
    for ((resource, token), ats) in intents {
        if let Some(at) = ats.into_iter().min() {
            end_not_before(&mut leases, resource, token, at);
        }
    }
    for (resource, by_token) in &leases {
        overlaps(resource, by_token, &mut violations);
    }
    writes_in_order(events, &mut violations);
    violations
}

/// Records that the lease `token` of `resource` may have ended as early as `at`.
fn end_not_before<'a>(
    leases: &mut BTreeMap<&'a str, BTreeMap<u64, Lease>>,
    resource: &'a str,
    token: u64,
    at: u64,
) {
    if let Some(lease) = leases.entry(resource).or_default().get_mut(&token) {
        let ended = lease.ended_not_before.map_or(at, |seen| seen.min(at));
        lease.ended_not_before = Some(ended);
    }
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
    pub fn granted(lease: &leasehold_contract::Lease) -> Self {
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
            Self::ReleaseAnswered {
                resource,
                token,
                ended,
            } => format!("release-answered {resource} {token} {ended}"),
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
            ("release-answered", 4) => Self::ReleaseAnswered {
                resource: s(1)?,
                token: n(2)?,
                ended: words.get(3)?.parse().ok()?,
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
mod tests;
