//! Finding the programs the harness runs: PostgreSQL's server and client programs, PgBouncer and
//! util-linux's `setpriv`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::Missing;

/// The environment variable that points tests at an existing server instead of a throwaway one.
pub const URL_VAR: &str = "LEASEHOLD_POSTGRES_URL";

const SERVER_MISSING: Missing = Missing::new(
    "PostgreSQL server binaries (initdb, postgres)",
    "pg_config --bindir, /usr/lib/postgresql/*/bin, PATH",
    "apt-get install postgresql",
);

const SERVER_OR_URL_MISSING: Missing = Missing::new(
    "PostgreSQL server binaries (initdb, postgres)",
    "pg_config --bindir, /usr/lib/postgresql/*/bin, PATH",
    "apt-get install postgresql, or set LEASEHOLD_POSTGRES_URL",
);

const PSQL_MISSING: Missing = Missing::new(
    "psql",
    "the server's bindir, PATH",
    "apt-get install postgresql-client",
);

const PGBOUNCER_MISSING: Missing =
    Missing::new("pgbouncer", "PATH, /usr/sbin", "apt-get install pgbouncer");

const SETPRIV_MISSING: Missing = Missing::new(
    "setpriv (to run PostgreSQL unprivileged when tests run as root)",
    "PATH, /usr/bin, /bin",
    "apt-get install util-linux",
);

/// The directory holding PostgreSQL's server programs (`initdb`, `postgres`, `pg_basebackup`,
/// `pg_isready`, `psql`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the server programs, in this order: `pg_config --bindir`, the highest-versioned
    /// `/usr/lib/postgresql/*/bin`, then each directory on `PATH`. A directory counts only if it
    /// holds both `initdb` and `postgres`. The answer is cached for the process.
    ///
    /// # Errors
    ///
    /// [`Missing`] when no such directory exists; its message says to install `postgresql`.
    pub fn find() -> Result<Binaries, Missing> {
        static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
        let dir = FOUND.get_or_init(|| server_dirs().into_iter().find(|dir| is_server_dir(dir)));
        dir.clone()
            .map(|dir| Binaries { dir })
            .ok_or(SERVER_MISSING)
    }

    /// The directory itself.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one program in the directory (which may not exist, e.g. for a trimmed install).
    #[must_use]
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Where the tests of this process will find a server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostgresSource {
    /// `LEASEHOLD_POSTGRES_URL` is set: tests use that server and create their databases there.
    Url(String),
    /// No URL: tests start throwaway clusters with these programs.
    Binaries(Binaries),
}

/// Says where tests will find PostgreSQL, or why they cannot: a set, non-empty
/// `LEASEHOLD_POSTGRES_URL` wins; otherwise the server programs must be installed.
///
/// # Errors
///
/// [`Missing`] when neither is there. Its `Display` is one line, e.g. "PostgreSQL server binaries
/// (initdb, postgres) not found (looked in pg_config --bindir, /usr/lib/postgresql/*/bin, PATH):
/// apt-get install postgresql, or set LEASEHOLD_POSTGRES_URL".
pub fn require_postgres() -> Result<PostgresSource, Missing> {
    match env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Ok(PostgresSource::Url(url)),
        _ => Binaries::find()
            .map(PostgresSource::Binaries)
            .map_err(|_| SERVER_OR_URL_MISSING),
    }
}

/// `psql`: the server's own if there is one, else the first on `PATH` (a client-only install).
pub(crate) fn psql() -> Result<PathBuf, Missing> {
    let beside_server = Binaries::find().ok().map(|bins| bins.program("psql"));
    beside_server
        .into_iter()
        .chain(path_dirs().into_iter().map(|dir| dir.join("psql")))
        .find(|path| path.is_file())
        .ok_or(PSQL_MISSING)
}

/// `pgbouncer`: on `PATH`, or in `/usr/sbin` where Debian puts it (not on a normal user's `PATH`).
pub(crate) fn pgbouncer() -> Result<PathBuf, Missing> {
    find_program("pgbouncer", &["/usr/sbin", "/usr/local/sbin"]).ok_or(PGBOUNCER_MISSING)
}

/// util-linux's `setpriv`, which drops root to an unprivileged user for `initdb` and `postgres`.
pub(crate) fn setpriv() -> Result<PathBuf, Missing> {
    find_program("setpriv", &["/usr/bin", "/bin"]).ok_or(SETPRIV_MISSING)
}

fn find_program(name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let extra = extra_dirs.iter().map(PathBuf::from);
    path_dirs()
        .into_iter()
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn path_dirs() -> Vec<PathBuf> {
    env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default()
}

fn is_server_dir(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Candidate directories in the order [`Binaries::find`] documents.
fn server_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = pg_config_bindir().into_iter().collect();
    dirs.extend(debian_bindirs());
    dirs.extend(path_dirs());
    dirs
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let dir = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

/// `/usr/lib/postgresql/<version>/bin`, highest version first ("15" > "9.6").
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_line_is_one_line_and_names_the_package_and_the_variable() {
        let line = SERVER_OR_URL_MISSING.to_string();
        assert!(!line.contains('\n'));
        assert!(line.contains("apt-get install postgresql"), "{line}");
        assert!(line.contains(URL_VAR), "{line}");
        assert!(
            PGBOUNCER_MISSING
                .to_string()
                .ends_with("apt-get install pgbouncer")
        );
    }
}
