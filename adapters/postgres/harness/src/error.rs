//! The harness's errors: one enum for starting and driving servers, one struct for a missing program.

use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why the harness could not start, drive or stop a server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A program the harness needs is not installed; the message says what to install.
    Missing(Missing),
    /// Creating a file or directory, or starting a process, failed.
    Io {
        /// What the harness was doing, e.g. "spawn initdb".
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A setup program (`initdb`, `pg_basebackup`, ...) exited unsuccessfully.
    Tool {
        /// The program's file name.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on standard error.
        stderr: String,
    },
    /// `psql` could not connect, or the server refused the SQL.
    Query {
        /// The SQL that was sent (or the session command that failed).
        sql: String,
        /// What `psql` printed: the server's error or the connection failure.
        stderr: String,
    },
    /// A server process exited while the harness waited for it to become ready.
    Exited {
        /// The program's file name.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// The last lines of its log.
        log: String,
    },
    /// Something did not happen within its deadline.
    Timeout {
        /// What the harness waited for.
        what: String,
        /// How long it waited.
        waited: Duration,
        /// The last lines of the server's log, if there is one.
        log: String,
    },
    /// `LEASEHOLD_POSTGRES_URL` (or a URL passed in) is not a `postgres://` URL.
    Url {
        /// The URL as given.
        url: String,
    },
    /// A per-process shared resource (the shared server, the per-process database, the `initdb`
    /// template) could not be made; every later call sees this.
    Shared {
        /// The first failure, as text (the original error is not `Clone`).
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let action = action.into();
        move |source| Error::Io { action, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing(missing) => missing.fmt(f),
            Error::Io { action, source } => write!(f, "{action}: {source}"),
            Error::Tool {
                program,
                status,
                stderr,
            } => {
                write!(f, "{program} failed ({status}): {}", stderr.trim())
            }
            Error::Query { sql, stderr } => write!(f, "psql failed on {sql:?}: {}", stderr.trim()),
            Error::Exited {
                program,
                status,
                log,
            } => {
                write!(f, "{program} exited ({status}); its log ends:\n{log}")
            }
            Error::Timeout { what, waited, log } if log.is_empty() => {
                write!(f, "timed out after {waited:?} waiting for {what}")
            }
            Error::Timeout { what, waited, log } => {
                write!(
                    f,
                    "timed out after {waited:?} waiting for {what}; the log ends:\n{log}"
                )
            }
            Error::Url { url } => write!(f, "not a postgres:// URL: {url:?}"),
            Error::Shared { message } => write!(f, "a per-process test resource failed: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Missing(missing) => Some(missing),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Missing> for Error {
    fn from(missing: Missing) -> Error {
        Error::Missing(missing)
    }
}

/// A program the harness needs was not found. `Display` is one line that says where the harness
/// looked and what to install, fit to print before a test run gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    what: &'static str,
    looked_in: &'static str,
    install: &'static str,
}

impl Missing {
    pub(crate) const fn new(
        what: &'static str,
        looked_in: &'static str,
        install: &'static str,
    ) -> Missing {
        Missing {
            what,
            looked_in,
            install,
        }
    }

    /// What is missing, e.g. "PostgreSQL server binaries (initdb, postgres)".
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// What to do about it, e.g. "apt-get install postgresql".
    #[must_use]
    pub fn install(&self) -> &'static str {
        self.install
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not found (looked in {}): {}",
            self.what, self.looked_in, self.install
        )
    }
}

impl std::error::Error for Missing {}
