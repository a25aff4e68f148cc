//! [`LogLine`]: one line of a worker's log.

use crate::history::Event;

/// Which operation was told the lease was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostOp {
    /// A renew answered `Lost`.
    Renew,
    /// A fenced write answered `Fenced::Lost`: it was refused, nothing was written.
    Write,
}

impl LostOp {
    /// The word for it in a log line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Renew => "renew",
            Self::Write => "write",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Self::Renew, Self::Write]
            .into_iter()
            .find(|op| op.as_str() == word)
    }
}

/// A grant, and when its holder learned of it.
///
/// The store labels a grant with the `now` it read before sending the statement; the grant takes
/// effect when the statement commits, after any wait for SQLite's write lock. `received_at`, the
/// holder's reading of the same clock right after the call returned, bounds that commit from
/// above: it is the first instant at which the holder could have relied on the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The resource.
    pub resource: String,
    /// Who was told.
    pub client: String,
    /// The lease's token.
    pub token: u64,
    /// The store's label: its clock when the acquire was issued.
    pub acquired_at: u64,
    /// Until when the lease is valid.
    pub expires_at: u64,
    /// The holder's clock right after the acquire returned (milliseconds, the store's clock).
    pub received_at: u64,
}

impl Grant {
    /// The grant as the store labelled it.
    #[must_use]
    pub fn as_labelled(&self) -> Event {
        self.event(self.acquired_at)
    }

    /// The grant as its holder could use it: from when it learned of it (never before the label).
    #[must_use]
    pub fn as_received(&self) -> Event {
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
    #[must_use]
    pub fn from_event(event: Event, received_at: u64) -> Option<Self> {
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

/// One line of a worker's log: a [`history::Event`](Event) for the checker, a grant with its
/// receipt time, or a lost lease for the run's statistics (the checker needs no refusals: a
/// refused write changed nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLine {
    /// A grant (the worker logs grants this way, not as [`Event::Granted`]).
    Grant(Grant),
    /// Something else the checker judges.
    Event(Event),
    /// A renew or fenced write with `token` was refused because the lease was over.
    Lost {
        /// The refused operation.
        op: LostOp,
        /// The resource.
        resource: String,
        /// The lease's token.
        token: u64,
        /// The store's reason (`Expired`, `NotCurrent`, `Released`, `Evicted`).
        reason: String,
    },
}

impl LogLine {
    /// The line's text, without a newline.
    #[must_use]
    pub fn to_line(&self) -> String {
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
            } => format!("lost {} {resource} {token} {reason}", op.as_str()),
        }
    }

    /// Parses [`LogLine::to_line`]'s form; `None` for anything else, such as the last line of a
    /// killed worker's log cut short.
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        if let Some(grant) = Grant::from_line(line) {
            return Some(Self::Grant(grant));
        }
        if let Some(event) = Event::from_line(line) {
            return Some(Self::Event(event));
        }
        Self::lost_from_line(line)
    }

    fn lost_from_line(line: &str) -> Option<Self> {
        let words: Vec<&str> = line.split(' ').collect();
        let ["lost", op, resource, token, reason] = words[..] else {
            return None;
        };
        // A reason cut short by a kill is still a word; only the four real ones are accepted.
        let known = ["Expired", "NotCurrent", "Released", "Evicted"];
        Some(Self::Lost {
            op: LostOp::parse(op)?,
            resource: resource.to_owned(),
            token: token.parse().ok()?,
            reason: known.contains(&reason).then(|| reason.to_owned())?,
        })
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
    fn log_lines_round_trip_and_cut_lines_are_skipped() {
        let grant = Grant {
            resource: "res-2".into(),
            client: "w3".into(),
            token: 9,
            acquired_at: 1_000,
            expires_at: 1_050,
            received_at: 1_004,
        };
        let lines = [
            LogLine::Grant(grant.clone()),
            LogLine::Event(Event::Releasing {
                resource: "res-1".into(),
                token: 9,
                at: 1_020,
            }),
            LogLine::Lost {
                op: LostOp::Write,
                resource: "res-1".into(),
                token: 9,
                reason: "NotCurrent".into(),
            },
            LogLine::Lost {
                op: LostOp::Renew,
                resource: "res-0".into(),
                token: 3,
                reason: "Expired".into(),
            },
        ];
        for line in lines {
            assert_eq!(LogLine::from_line(&line.to_line()), Some(line));
        }
        assert_eq!(
            LogLine::from_line("granted res-2 w3 9 1000 1050"),
            Some(LogLine::Event(grant.as_labelled())),
            "a grant without its receipt time (or cut before it) is a plain event"
        );
        assert_eq!(LogLine::from_line("granted res-2 w3 9 1000 1050 10x"), None);
        assert_eq!(LogLine::from_line("lost write res-1 9 NotCur"), None);
        assert_eq!(LogLine::from_line("lost write res-1 9"), None);
        assert_eq!(LogLine::from_line("releasing res-1"), None);
    }
}
