//! [`LogLine`]: one line of a worker's log.

use crate::history::Event;

/// Which operation was told the lease was over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LostOp {
    /// A renew answered `Lost`.
    Renew,
    /// The store's fenced write answered `Fenced::Lost`: nothing was written.
    Fence,
}

impl LostOp {
    /// The word for it in a log line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Renew => "renew",
            Self::Fence => "fence",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Self::Renew, Self::Fence]
            .into_iter()
            .find(|op| op.as_str() == word)
    }
}

/// A grant, and when its holder learned of it.
///
/// The store labels a grant with the `now` it read for its statement; the grant takes effect
/// when the statement commits. `received_at`, the holder's reading of the same clock right after
/// the call returned, bounds that commit from above: it is the first instant at which the holder
/// could have relied on the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The resource.
    pub(crate) resource: String,
    /// Who was told.
    pub(crate) client: String,
    /// The lease's token.
    pub(crate) token: u64,
    /// The store's label: its clock when it decided.
    pub(crate) acquired_at: u64,
    /// Until when the lease is valid.
    pub(crate) expires_at: u64,
    /// The holder's clock right after the acquire returned (milliseconds, the store's clock).
    pub(crate) received_at: u64,
}

impl Grant {
    /// The grant as the store labelled it.
    pub(crate) fn as_labelled(&self) -> Event {
        self.event(self.acquired_at)
    }

    /// The grant as its holder could use it: from when it learned of it (never before the label).
    pub(crate) fn as_received(&self) -> Event {
        self.event(self.received_at.max(self.acquired_at))
    }

    fn event(&self, acquired_at: u64) -> Event {
        Event::Granted {
            resource: self.resource.clone(),
            client: self.client.clone(),
            token: self.token,
            acquired_at,
            expires_at: self.expires_at,
        }
    }

    /// `event` with its receipt time; `None` unless `event` is a grant.
    pub(crate) fn from_event(event: Event, received_at: u64) -> Option<Self> {
        let Event::Granted {
            resource,
            client,
            token,
            acquired_at,
            expires_at,
        } = event
        else {
            return None;
        };
        Some(Self {
            resource,
            client,
            token,
            acquired_at,
            expires_at,
            received_at,
        })
    }

    /// Parses `granted … <received_at>`: an [`Event::Granted`] line with one more number.
    fn from_line(line: &str) -> Option<Self> {
        let (event, received_at) = line.rsplit_once(' ')?;
        Self::from_event(Event::from_line(event)?, received_at.parse().ok()?)
    }
}

/// One line of a worker's log: a history [`Event`] for the checker, a grant with its receipt
/// time, or what the verdict and the run's counts need besides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogLine {
    /// A grant (workers log grants this way, not as [`Event::Granted`]).
    Grant(Grant),
    /// A renewal, a release and its answer, or a write the protected resource accepted.
    Event(Event),
    /// A renew or the store's fenced write with `token` was told the lease was over.
    Lost {
        /// The refused operation.
        op: LostOp,
        /// The resource.
        resource: String,
        /// The lease's token.
        token: u64,
        /// The store's reason (`Expired`, `NotCurrent`, `Released`, `Evicted`).
        reason: String,
        /// The token of the resource's holder at the time, by the store's answer.
        current: Option<u64>,
    },
    /// The store's fenced write with `token` committed.
    Fenced {
        /// The resource.
        resource: String,
        /// The lease's token.
        token: u64,
        /// The worker's clock reading before the call: the store checked the lease no earlier.
        started_at: u64,
    },
    /// The protected resource refused a write with `token`: it had accepted `newest`.
    Refused {
        /// The resource.
        resource: String,
        /// The refused write's token.
        token: u64,
        /// The newest token the resource had accepted.
        newest: u64,
    },
    /// A prune deleted `removed` records.
    Pruned {
        /// How many.
        removed: u64,
    },
}

impl LogLine {
    /// The line's text, without a newline.
    pub(crate) fn to_line(&self) -> String {
        match self {
            Self::Grant(grant) => {
                format!("{} {}", grant.as_labelled().to_line(), grant.received_at)
            }
            Self::Event(event) => event.to_line(),
            Self::Lost {
                op,
                resource,
                token,
                reason,
                current,
            } => {
                let current = current.map_or_else(|| "-".to_owned(), |t| t.to_string());
                format!("lost {} {resource} {token} {reason} {current}", op.as_str())
            }
            Self::Fenced {
                resource,
                token,
                started_at,
            } => format!("fenced {resource} {token} {started_at}"),
            Self::Refused {
                resource,
                token,
                newest,
            } => format!("refused {resource} {token} {newest}"),
            Self::Pruned { removed } => format!("pruned {removed}"),
        }
    }

    /// Parses [`LogLine::to_line`]'s form; `None` for anything else.
    pub(crate) fn from_line(line: &str) -> Option<Self> {
        if let Some(grant) = Grant::from_line(line) {
            return Some(Self::Grant(grant));
        }
        if let Some(event) = Event::from_line(line) {
            return Some(Self::Event(event));
        }
        Self::other_from_line(line)
    }

    fn other_from_line(line: &str) -> Option<Self> {
        let words: Vec<&str> = line.split(' ').collect();
        let n = |word: &str| word.parse::<u64>().ok();
        Some(match words[..] {
            ["lost", op, resource, token, reason, current] => Self::Lost {
                op: LostOp::parse(op)?,
                resource: resource.to_owned(),
                token: n(token)?,
                reason: reason.to_owned(),
                current: if current == "-" {
                    None
                } else {
                    Some(n(current)?)
                },
            },
            ["fenced", resource, token, started_at] => Self::Fenced {
                resource: resource.to_owned(),
                token: n(token)?,
                started_at: n(started_at)?,
            },
            ["refused", resource, token, newest] => Self::Refused {
                resource: resource.to_owned(),
                token: n(token)?,
                newest: n(newest)?,
            },
            ["pruned", removed] => Self::Pruned {
                removed: n(removed)?,
            },
            _ => return None,
        })
    }

    /// The grant this line reports, whether or not it carries its receipt time.
    pub(crate) fn grant(&self) -> Option<Grant> {
        match self {
            Self::Grant(grant) => Some(grant.clone()),
            // Without its receipt time, a grant can only be dated by its label.
            Self::Event(event @ Event::Granted { acquired_at, .. }) => {
                Grant::from_event(event.clone(), *acquired_at)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_used_from_its_receipt_but_never_before_its_label() {
        let grant = |received_at| Grant {
            resource: "r".into(),
            client: "a".into(),
            token: 1,
            acquired_at: 100,
            expires_at: 150,
            received_at,
        };
        let start = |event: Event| match event {
            Event::Granted { acquired_at, .. } => acquired_at,
            other => panic!("not a grant: {other:?}"),
        };
        assert_eq!(start(grant(120).as_received()), 120);
        assert_eq!(start(grant(120).as_labelled()), 100);
        assert_eq!(start(grant(90).as_received()), 100, "a clock stepped back");
    }

    #[test]
    fn log_lines_round_trip_and_others_are_skipped() {
        let grant = Grant {
            resource: "res-2".into(),
            client: "w3".into(),
            token: 9,
            acquired_at: 1_000,
            expires_at: 1_050,
            received_at: 1_004,
        };
        let (resource, token) = ("res-1".to_owned(), 9);
        let lines = [
            LogLine::Grant(grant.clone()),
            LogLine::Event(Event::Releasing {
                resource: resource.clone(),
                token,
                at: 1_020,
            }),
            LogLine::Event(Event::ReleaseAnswered {
                resource: resource.clone(),
                token,
                ended: true,
            }),
            LogLine::Lost {
                op: LostOp::Fence,
                resource: resource.clone(),
                token,
                reason: "NotCurrent".into(),
                current: Some(10),
            },
            LogLine::Lost {
                op: LostOp::Renew,
                resource: resource.clone(),
                token,
                reason: "Expired".into(),
                current: None,
            },
            LogLine::Fenced {
                resource: resource.clone(),
                token,
                started_at: 1_030,
            },
            LogLine::Refused {
                resource,
                token,
                newest: 10,
            },
            LogLine::Pruned { removed: 2 },
        ];
        for line in lines {
            assert_eq!(LogLine::from_line(&line.to_line()), Some(line));
        }
        assert_eq!(
            LogLine::from_line("granted res-2 w3 9 1000 1050"),
            Some(LogLine::Event(grant.as_labelled())),
            "a grant without its receipt time is a plain event"
        );
        assert_eq!(LogLine::from_line("granted res-2 w3 9 1000 1050 10x"), None);
        assert_eq!(LogLine::from_line("lost fence res-1 9 NotCurrent"), None);
        assert_eq!(LogLine::from_line("pruned"), None);
        assert_eq!(LogLine::from_line("releasing res-1"), None);
    }
}
