//! [`WorkerConfig`]: one worker's instructions, in a file the supervisor writes and names in the
//! worker's environment ([`WORKER_ENV`]), one `key value` pair a line.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable that names a worker's config file. Set only in the worker processes
/// the supervisor starts: without it the worker test does nothing.
pub(crate) const WORKER_ENV: &str = "LEASEHOLD_STRESS_WORKER";

/// How a worker acquires. Renewals, releases, prunes and writes always go through the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcquireKind {
    /// The store's own acquire: one try, or waiting.
    Store,
    /// The planted bug: read the holder, pause, then take the resource whatever happened
    /// meanwhile ([`check_then_act`](super::worker::check_then_act)).
    CheckThenAct,
}

impl AcquireKind {
    /// The spelling in a config file and a summary.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::CheckThenAct => "check-then-act",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Store, Self::CheckThenAct]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One worker's instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WorkerConfig {
    /// The database, as the backend's `locator` named it (shared by every worker).
    pub(crate) locator: String,
    /// This worker's own log file.
    pub(crate) log: PathBuf,
    /// The protected resource's file (shared by every worker).
    pub(crate) protected: PathBuf,
    /// The client name: the owner of every lease it takes, unique in the run.
    pub(crate) client: String,
    /// How long to keep starting operations.
    pub(crate) run_for: Duration,
    /// The seed of the worker's random choices.
    pub(crate) seed: u64,
    /// Which acquire to use.
    pub(crate) acquire: AcquireKind,
    /// How many resources (`res-0` …) to contend for; at least one.
    pub(crate) resources: u64,
    /// The range TTLs are drawn from, in milliseconds; never zero.
    pub(crate) ttl_ms: RangeInclusive<u64>,
}

/// A config file the worker cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stress worker config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl WorkerConfig {
    /// The file's text, which [`WorkerConfig::from_text`] reads back. Paths must be UTF-8 and
    /// no value may hold a line break (the supervisor's temporary paths and names never do).
    pub(crate) fn to_text(&self) -> Result<String, ConfigError> {
        let path = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| ConfigError(format!("not UTF-8: {}", p.display())))
        };
        let pairs = [
            ("locator", self.locator.clone()),
            ("log", path(&self.log)?),
            ("protected", path(&self.protected)?),
            ("client", self.client.clone()),
            ("millis", self.run_for.as_millis().to_string()),
            ("seed", self.seed.to_string()),
            ("acquire", self.acquire.as_str().to_owned()),
            ("resources", self.resources.to_string()),
            ("ttl-min-ms", self.ttl_ms.start().to_string()),
            ("ttl-max-ms", self.ttl_ms.end().to_string()),
        ];
        let mut text = String::new();
        for (key, value) in pairs {
            if value.contains('\n') {
                return Err(ConfigError(format!("{key} holds a line break")));
            }
            text.push_str(&format!("{key} {value}\n"));
        }
        Ok(text)
    }

    /// Reads [`WorkerConfig::to_text`]'s form; every key is required.
    pub(crate) fn from_text(text: &str) -> Result<Self, ConfigError> {
        let pairs: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
        let value = |key: &str| {
            let found = pairs.iter().find(|(k, _)| *k == key);
            found
                .map(|(_, v)| *v)
                .ok_or_else(|| ConfigError(format!("missing {key}")))
        };
        let number = |key: &str| {
            let text = value(key)?;
            text.parse::<u64>()
                .map_err(|_| ConfigError(format!("{key}: not a number: {text:?}")))
        };
        let ttl_ms = number("ttl-min-ms")?..=number("ttl-max-ms")?;
        if *ttl_ms.start() == 0 || ttl_ms.is_empty() {
            return Err(ConfigError(format!("bad TTL range {ttl_ms:?}")));
        }
        let acquire = value("acquire")?;
        Ok(Self {
            locator: value("locator")?.to_owned(),
            log: value("log")?.into(),
            protected: value("protected")?.into(),
            client: value("client")?.to_owned(),
            run_for: Duration::from_millis(number("millis")?),
            seed: number("seed")?,
            acquire: AcquireKind::parse(acquire)
                .ok_or_else(|| ConfigError(format!("unknown acquire {acquire:?}")))?,
            resources: number("resources")?.max(1),
            ttl_ms,
        })
    }
}

/// The name of resource number `index`: `res-0`, `res-1`, …
pub(crate) fn resource_name(index: u64) -> String {
    format!("res-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WorkerConfig {
        WorkerConfig {
            locator: "/tmp/a dir/locks.db".into(),
            log: "/tmp/x/w1.log".into(),
            protected: "/tmp/x/protected".into(),
            client: "w1".into(),
            run_for: Duration::from_millis(1_500),
            seed: 42,
            acquire: AcquireKind::CheckThenAct,
            resources: 3,
            ttl_ms: 20..=200,
        }
    }

    #[test]
    fn a_config_survives_its_file() {
        let text = config().to_text().expect("UTF-8, one line each");
        assert_eq!(WorkerConfig::from_text(&text), Ok(config()));
    }

    #[test]
    fn a_bad_config_is_refused() {
        let text = config().to_text().expect("valid");
        let without_max: String = text
            .lines()
            .filter(|l| !l.starts_with("ttl-max-ms"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(WorkerConfig::from_text(&without_max).is_err());
        let other = text.replace("check-then-act", "other");
        assert!(WorkerConfig::from_text(&other).is_err());
        let zero_ttl = text.replace("ttl-min-ms 20", "ttl-min-ms 0");
        assert!(WorkerConfig::from_text(&zero_ttl).is_err());
        let broken = WorkerConfig {
            client: "w\n1".into(),
            ..config()
        };
        assert!(broken.to_text().is_err());
    }
}
