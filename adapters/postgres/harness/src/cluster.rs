//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `postgres` on a free port.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binaries::Binaries;
use crate::error::Error;
use crate::process::{self, Daemon, RunAs};
use crate::{psql, url};

/// The superuser every throwaway cluster has (`initdb -U postgres`), whoever runs the tests.
pub const SUPERUSER: &str = "postgres";

/// How long a server may take to accept connections (crash recovery included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server's processes are killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Attempts at an auto-chosen port, which another process can take between choice and bind.
const PORT_ATTEMPTS: usize = 5;

/// The `synchronous_commit` setting: how long a commit waits before it reports success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SynchronousCommit {
    /// `off`: not even for the local WAL flush.
    Off,
    /// `local`: for the local WAL flush, never for a standby.
    Local,
    /// `remote_write`: for synchronous standbys to write the WAL (not flush it).
    RemoteWrite,
    /// `on` (PostgreSQL's default): for synchronous standbys to flush the WAL.
    On,
    /// `remote_apply`: for synchronous standbys to replay the commit, so reads there see it.
    RemoteApply,
}

impl SynchronousCommit {
    /// The setting's value as `postgresql.conf` spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SynchronousCommit::Off => "off",
            SynchronousCommit::Local => "local",
            SynchronousCommit::RemoteWrite => "remote_write",
            SynchronousCommit::On => "on",
            SynchronousCommit::RemoteApply => "remote_apply",
        }
    }
}

/// Options for [`Cluster`]: [`Cluster::builder`], then [`ClusterBuilder::start`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClusterBuilder {
    port: Option<u16>,
    fsync: bool,
    synchronous_commit: Option<SynchronousCommit>,
    conf: Vec<String>,
}

impl ClusterBuilder {
    /// Listens on this port instead of a free one chosen by the harness.
    pub fn port(mut self, port: u16) -> ClusterBuilder {
        self.port = Some(port);
        self
    }

    /// The `fsync` setting; off by default, since the cluster is thrown away. Tests of what
    /// survives a crash of the *server* (not of the machine) pass with it off too: the kernel keeps
    /// written pages.
    pub fn fsync(mut self, fsync: bool) -> ClusterBuilder {
        self.fsync = fsync;
        self
    }

    /// The `synchronous_commit` setting (PostgreSQL's default, `on`, if not called).
    pub fn synchronous_commit(mut self, setting: SynchronousCommit) -> ClusterBuilder {
        self.synchronous_commit = Some(setting);
        self
    }

    /// Appends a line to `postgresql.conf`, e.g. `"max_connections = 300"`.
    pub fn conf_line(mut self, line: impl Into<String>) -> ClusterBuilder {
        self.conf.push(line.into());
        self
    }

    /// Runs `initdb` into a new temporary directory and starts the server; returns once it
    /// accepts connections.
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] without the server programs (or, as root, `setpriv`); [`Error::Tool`]
    /// when `initdb` fails; [`Error::Exited`] or [`Error::Timeout`] when the server does not come
    /// up (the error carries the end of its log).
    pub fn start(self) -> Result<Cluster, Error> {
        let mut cluster = Cluster::prepare(self.port)?;
        cluster.initdb()?;
        cluster.append_conf(&self.conf_lines())?;
        cluster.launch(self.port.is_none())?;
        Ok(cluster)
    }

    fn conf_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("fsync = {}", if self.fsync { "on" } else { "off" })];
        if let Some(setting) = self.synchronous_commit {
            lines.push(format!("synchronous_commit = {}", setting.as_str()));
        }
        lines.extend(self.conf.iter().cloned());
        lines
    }
}

/// A throwaway PostgreSQL cluster in a temporary directory, listening on `127.0.0.1` (a free port)
/// and on a unix socket inside that directory, with `trust` authentication for every local and
/// loopback connection, including replication.
///
/// When the tests run as root, the cluster's files and processes belong to `nobody` (uid 65534),
/// because `initdb` and `postgres` refuse root. Dropping the cluster stops the server and removes
/// the directory; if the test process dies without dropping it, a watchdog process does both
/// (see the crate docs).
#[derive(Debug)]
pub struct Cluster {
    // Declared first, dropped last: `Drop::drop` has already stopped the server by then.
    pub(crate) dir: TempDir,
    pub(crate) port: u16,
    pub(crate) bins: Binaries,
    pub(crate) run_as: RunAs,
    pub(crate) server: Option<Daemon>,
}

impl Cluster {
    /// Options: port, `fsync`, `synchronous_commit`, extra `postgresql.conf` lines.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            port: None,
            fsync: false,
            synchronous_commit: None,
            conf: Vec::new(),
        }
    }

    /// Starts a cluster with the defaults: a free port, `fsync = off`.
    ///
    /// # Errors
    ///
    /// As [`ClusterBuilder::start`].
    pub fn start() -> Result<Cluster, Error> {
        Cluster::builder().start()
    }

    /// A URL for the `postgres` database as the superuser: `postgres://postgres@127.0.0.1:PORT/postgres`.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A URL for database `db` as the superuser.
    #[must_use]
    pub fn url_for(&self, db: &str) -> String {
        url::local(SUPERUSER, self.port, db)
    }

    /// The TCP port on `127.0.0.1`; [`Cluster::restart`] keeps it.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (`PGDATA`).
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the unix socket (`host=` this, `port=` [`Cluster::port`]).
    #[must_use]
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The server's log: everything every start of `postgres` wrote to stderr.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The postmaster's pid (also its process group), or `None` when stopped or killed.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Daemon::pid)
    }

    /// Runs SQL in the `postgres` database with `psql` (see [`crate::psql()`]).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when it cannot connect or a statement fails.
    pub fn psql(&self, sql: &str) -> Result<String, Error> {
        psql(&self.url(), sql)
    }

    /// Runs SQL in database `db` with `psql`.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when it cannot connect or a statement fails.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, Error> {
        psql(&self.url_for(db), sql)
    }

    /// Stops the server with a fast shutdown (sessions are ended, a shutdown checkpoint is
    /// written); returns once all its processes are gone. Stopping a stopped server does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the harness cannot signal it.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.server
            .take()
            .map_or(Ok(()), |server| server.stop("INT", STOP_GRACE))
    }

    /// Crashes the server: SIGKILL to the postmaster and all its processes at once, with no
    /// shutdown checkpoint. [`Cluster::restart`] then runs crash recovery.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the harness cannot signal it.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.server.take().map_or(Ok(()), Daemon::kill)
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data
    /// (after [`Cluster::kill`], this is crash recovery). Returns once it accepts connections.
    ///
    /// # Errors
    ///
    /// As [`ClusterBuilder::start`]; the port may have been taken meanwhile.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop()?;
        self.launch(false)
    }

    /// A new temporary directory (traversable by the server's user) with a socket directory.
    pub(crate) fn prepare(port: Option<u16>) -> Result<Cluster, Error> {
        let bins = Binaries::find()?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("leasehold-pg-")
            .tempdir_in(base_dir(&run_as))
            .map_err(Error::io("create a temporary directory"))?;
        run_as.own(dir.path())?;
        let cluster = Cluster {
            dir,
            port: port.unwrap_or(0),
            bins,
            run_as,
            server: None,
        };
        fs::create_dir(cluster.socket_dir()).map_err(Error::io("create the socket directory"))?;
        cluster.run_as.own(&cluster.socket_dir())?;
        Ok(cluster)
    }

    /// A data directory as `initdb` makes it: a copy of the process's template (see `template`).
    fn initdb(&self) -> Result<(), Error> {
        crate::template::copy_to(self, &self.data_dir())
    }

    /// Appends lines to `postgresql.conf` (the file keeps its owner: appending does not change it).
    pub(crate) fn append_conf(&self, lines: &[String]) -> Result<(), Error> {
        let path = self.data_dir().join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(Error::io(format!("open {}", path.display())))?;
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        file.write_all(format!("\n# leasehold-pg-harness\n{text}").as_bytes())
            .map_err(Error::io(format!("write {}", path.display())))
    }

    /// A command running one of the server's programs as the server's user, in the cluster's
    /// directory (the test's working directory may not be readable by `nobody`).
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = self.run_as.command(&self.bins.program(program));
        command.current_dir(self.dir.path());
        command
    }

    /// Starts `postgres` and waits until it accepts connections; on a lost race for an
    /// auto-chosen port, tries another.
    pub(crate) fn launch(&mut self, choose_port: bool) -> Result<(), Error> {
        for attempt in 1..=PORT_ATTEMPTS {
            if choose_port {
                self.port = free_port()?;
            }
            match self.spawn_and_wait() {
                Err(Error::Exited { log, .. })
                    if choose_port && attempt < PORT_ATTEMPTS && log.contains("could not bind") => {
                }
                result => return result,
            }
        }
        unreachable!("the last attempt returns whatever happens")
    }

    fn spawn_and_wait(&mut self) -> Result<(), Error> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(Error::io("open the server log"))?;
        let log_err = log.try_clone().map_err(Error::io("clone the server log"))?;
        let mut postgres = self.command("postgres");
        postgres
            .arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(self.socket_dir());
        postgres.args([
            "-p",
            &self.port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
        ]);
        postgres.args(["-c", &format!("cluster_name={}", self.name())]);
        postgres.stdout(log).stderr(log_err);
        // SIGQUIT is PostgreSQL's immediate shutdown; the watchdog uses it if this process dies.
        self.server = Some(Daemon::spawn(postgres, "QUIT", self.dir.path())?);
        self.wait_ready()
    }

    /// The cluster's name (`cluster_name`): shown in its process titles, and the
    /// `application_name` a standby reports to its primary.
    #[must_use]
    pub fn name(&self) -> String {
        format!("leasehold_{}", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            let server = self.server.as_mut().expect("wait_ready follows a spawn");
            if let Some(status) = server.exited() {
                let program = server.program().to_owned();
                self.server = None;
                return Err(Error::Exited {
                    program,
                    status,
                    log: process::log_tail(&self.log_path(), 20),
                });
            }
            if self.accepts_connections() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        let log = process::log_tail(&self.log_path(), 20);
        self.kill()?;
        Err(Error::Timeout {
            what: "the server to accept connections".into(),
            waited: READY_TIMEOUT,
            log,
        })
    }

    /// `pg_isready` over TCP, as the superuser (so the log is not filled with unknown roles).
    fn accepts_connections(&self) -> bool {
        let mut isready = Command::new(self.bins.program("pg_isready"));
        process::scrub(&mut isready);
        isready.args([
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-t",
            "5",
        ]);
        isready.args(["-p", &self.port.to_string()]);
        isready.status().is_ok_and(|status| status.success())
    }

    /// After a crash the server's System V shared memory segment (a few bytes) stays behind:
    /// remove it, using the key and id the stale `postmaster.pid` records on its seventh line.
    fn remove_stale_shared_memory(&self) {
        let Ok(pid_file) = fs::read_to_string(self.data_dir().join("postmaster.pid")) else {
            return;
        };
        let shmid = pid_file
            .lines()
            .nth(6)
            .and_then(|line| line.split_whitespace().nth(1));
        if let Some(shmid) = shmid {
            let _ = Command::new("ipcrm").args(["-m", shmid]).output();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate shutdown: nothing in a throwaway cluster needs a checkpoint.
        if let Some(server) = self.server.take() {
            let _ = server.stop("QUIT", Duration::from_secs(10));
        }
        self.remove_stale_shared_memory();
    }
}

/// A port free right now on 127.0.0.1 (the kernel's choice; it may be taken again before use).
pub(crate) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind a free port"))?;
    let address = listener
        .local_addr()
        .map_err(Error::io("read a bound port"))?;
    Ok(address.port())
}

/// Where temporary directories go: `TMPDIR` (or `/tmp`), unless that is not traversable by
/// `nobody` when running as root (e.g. `TMPDIR=/root/tmp`); then `/tmp`.
pub(crate) fn base_dir(run_as: &RunAs) -> PathBuf {
    let base = std::env::temp_dir();
    let traversable = |dir: &Path| {
        dir.ancestors()
            .all(|dir| fs::metadata(dir).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0))
    };
    match run_as {
        RunAs::Nobody { .. } if !traversable(&base) => PathBuf::from("/tmp"),
        _ => base,
    }
}
