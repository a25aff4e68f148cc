//! [`WorkerConfig`]: a worker's instructions, as `--key value` pairs on its command line.

use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

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
}
