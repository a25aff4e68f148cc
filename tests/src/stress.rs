//! What the multi-process stress test and its `stress-worker` processes share: the worker's
//! command line ([`WorkerConfig`]), the lines of a worker's log ([`LogLine`]) and the protected
//! table every fenced write goes to ([`CREATE_WORK_TABLE`]).
//!
//! The supervisor is `tests/tests/stress/`; the worker is `src/bin/stress-worker.rs`.

use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::history::Event;

/// The protected resource: a table in the lock database, written only inside
/// `SqliteStore::with_fence`. `seq` is a write's position in the table's serial order
/// (AUTOINCREMENT never reuses a value, even after a rolled-back insert).
pub const CREATE_WORK_TABLE: &str = "CREATE TABLE IF NOT EXISTS stress_work (\
seq INTEGER PRIMARY KEY AUTOINCREMENT, resource TEXT NOT NULL, token INTEGER NOT NULL, \
writer TEXT NOT NULL, kind TEXT NOT NULL)";

/// One fenced write; returns its `seq`.
pub const INSERT_WORK: &str = "INSERT INTO stress_work (resource, token, writer, kind) \
VALUES (?1, ?2, ?3, ?4) RETURNING seq";

/// Every accepted write, in serial order.
pub const SELECT_WORK: &str =
    "SELECT seq, resource, token, writer, kind FROM stress_work ORDER BY seq";

/// Why a holder wrote a row of `stress_work` (its `kind` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// The marker written right after a grant.
    Grant,
    /// A write while the holder believes its lease valid.
    Work,
    /// A write after the holder slept past its lease's expiry: the fence must refuse it, so a
    /// row of this kind is a broken fence.
    Overrun,
}

impl WriteKind {
    /// The `kind` column's value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Work => "work",
            Self::Overrun => "overrun",
        }
    }
}

/// The name of resource number `index`: `res-0`, `res-1`, …
#[must_use]
pub fn resource_name(index: u64) -> String {
    format!("res-{index}")
}

/// Which acquire a worker uses. Renew, release and fenced writes always go through
/// `SqliteStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `SqliteStore`'s one-statement acquire.
    Real,
    /// The planted bug: `CheckThenActStore`'s read, then write.
    CheckThenAct,
}

impl StoreKind {
    /// The command-line spelling.
    #[must_use]
    pub fn as_arg(self) -> &'static str {
        match self {
            Self::Real => "real",
            Self::CheckThenAct => "check-then-act",
        }
    }

    fn parse(arg: &str) -> Option<Self> {
        match arg {
            "real" => Some(Self::Real),
            "check-then-act" => Some(Self::CheckThenAct),
            _ => None,
        }
    }
}

/// One worker's instructions, passed on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The lock database (shared by every worker).
    pub db: PathBuf,
    /// This worker's own log file.
    pub log: PathBuf,
    /// The client name: the owner of every lease it takes, unique per process.
    pub client: String,
    /// How long to keep starting operations.
    pub run_for: Duration,
    /// The seed of the worker's random choices.
    pub seed: u64,
    /// Which acquire to use.
    pub store: StoreKind,
    /// How many resources (`res-0` …) to contend for.
    pub resources: u64,
    /// The range TTLs are drawn from, in milliseconds.
    pub ttl_ms: RangeInclusive<u64>,
}

/// A command line the worker cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stress-worker: {}", self.0)
    }
}

impl Error for ConfigError {}

impl WorkerConfig {
    /// The arguments [`WorkerConfig::from_args`] reads back.
    #[must_use]
    pub fn to_args(&self) -> Vec<OsString> {
        let pairs: [(&str, OsString); 9] = [
            ("--db", self.db.clone().into()),
            ("--log", self.log.clone().into()),
            ("--client", self.client.clone().into()),
            ("--millis", self.run_for.as_millis().to_string().into()),
            ("--seed", self.seed.to_string().into()),
            ("--store", self.store.as_arg().into()),
            ("--resources", self.resources.to_string().into()),
            ("--ttl-min-ms", self.ttl_ms.start().to_string().into()),
            ("--ttl-max-ms", self.ttl_ms.end().to_string().into()),
        ];
        pairs
            .into_iter()
            .flat_map(|(key, value)| [OsString::from(key), value])
            .collect()
    }

    /// Reads `--key value` pairs (the program name already skipped); every key is required.
    ///
    /// # Errors
    ///
    /// A missing, unknown or unparsable argument.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, ConfigError> {
        let args = Args::collect(args)?;
        let ttl_ms = args.number("--ttl-min-ms")?..=args.number("--ttl-max-ms")?;
        if *ttl_ms.start() == 0 || ttl_ms.is_empty() {
            return Err(ConfigError(format!("bad TTL range {ttl_ms:?}")));
        }
        let store = args.text("--store")?;
        Ok(Self {
            db: args.value("--db")?.into(),
            log: args.value("--log")?.into(),
            client: args.text("--client")?,
            run_for: Duration::from_millis(args.number("--millis")?),
            seed: args.number("--seed")?,
            store: StoreKind::parse(&store)
                .ok_or_else(|| ConfigError(format!("unknown store {store:?}")))?,
            resources: args.number("--resources")?.max(1),
            ttl_ms,
        })
    }
}

/// Parsed `--key value` pairs.
struct Args(Vec<(String, OsString)>);

impl Args {
    fn collect(args: impl IntoIterator<Item = OsString>) -> Result<Self, ConfigError> {
        let mut args = args.into_iter();
        let mut pairs = Vec::new();
        while let Some(key) = args.next() {
            let key = key
                .into_string()
                .map_err(|k| ConfigError(format!("bad key {k:?}")))?;
            let value = args
                .next()
                .ok_or_else(|| ConfigError(format!("{key} needs a value")))?;
            pairs.push((key, value));
        }
        Ok(Self(pairs))
    }

    fn value(&self, key: &str) -> Result<OsString, ConfigError> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ConfigError(format!("missing {key}")))
    }

    fn text(&self, key: &str) -> Result<String, ConfigError> {
        self.value(key)?
            .into_string()
            .map_err(|v| ConfigError(format!("{key}: not UTF-8: {v:?}")))
    }

    fn number(&self, key: &str) -> Result<u64, ConfigError> {
        let text = self.text(key)?;
        text.parse()
            .map_err(|_| ConfigError(format!("{key}: not a number: {text:?}")))
    }
}

/// Which operation was told the lease was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostOp {
    /// A renew answered `Lost`.
    Renew,
    /// A fenced write answered `Fenced::Lost`: it was refused, nothing was written.
    Write,
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

    /// Parses `granted … <received_at>`: an [`Event::Granted`] line with one more number.
    fn from_line(line: &str) -> Option<Self> {
        let (event, received_at) = line.rsplit_once(' ')?;
        let Event::Granted {
            resource,
            client,
            token,
            acquired_at,
            expires_at,
        } = Event::from_line(event)?
        else {
            return None;
        };
        Some(Self {
            resource,
            client,
            token,
            acquired_at,
            expires_at,
            received_at: received_at.parse().ok()?,
        })
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
            } => {
                let op = match op {
                    LostOp::Renew => "renew",
                    LostOp::Write => "write",
                };
                format!("lost {op} {resource} {token} {reason}")
            }
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
        let words: Vec<&str> = line.split(' ').collect();
        let ["lost", op, resource, token, reason] = words[..] else {
            return None;
        };
        let op = match op {
            "renew" => LostOp::Renew,
            "write" => LostOp::Write,
            _ => return None,
        };
        // A reason cut short by a kill is still a word; only the four real ones are accepted.
        let known = ["Expired", "NotCurrent", "Released", "Evicted"];
        Some(Self::Lost {
            op,
            resource: resource.to_owned(),
            token: token.parse().ok()?,
            reason: known.contains(&reason).then(|| reason.to_owned())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WorkerConfig {
        WorkerConfig {
            db: "/tmp/x/locks.db".into(),
            log: "/tmp/x/w1.log".into(),
            client: "w1".into(),
            run_for: Duration::from_millis(1_500),
            seed: 42,
            store: StoreKind::CheckThenAct,
            resources: 3,
            ttl_ms: 20..=200,
        }
    }

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
    fn a_config_survives_the_command_line() {
        assert_eq!(WorkerConfig::from_args(config().to_args()), Ok(config()));
    }

    #[test]
    fn a_bad_command_line_is_refused() {
        let mut args = config().to_args();
        args.truncate(args.len() - 2);
        assert!(
            WorkerConfig::from_args(args).is_err(),
            "missing --ttl-max-ms"
        );
        let mut args = config().to_args();
        let store = args
            .iter()
            .position(|a| a == "--store")
            .expect("written by to_args");
        args[store + 1] = "other".into();
        assert!(WorkerConfig::from_args(args).is_err());
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
