//! PgBouncer in front of a [`Cluster`], by default in transaction pooling mode.

use std::fs::{self, File};
use std::net::TcpStream;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binaries;
use crate::cluster::{self, Cluster, SUPERUSER};
use crate::error::Error;
use crate::process::{self, Daemon, RunAs};
use crate::url;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const PORT_ATTEMPTS: usize = 5;

/// When PgBouncer gives a client's server connection back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolMode {
    /// When the client disconnects: session state (prepared statements, `SET`) works as without
    /// a pooler.
    Session,
    /// At the end of each transaction: the next transaction of the same client may run on another
    /// server connection, and session state leaks between clients.
    Transaction,
    /// After each statement; multi-statement transactions are refused.
    Statement,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// Options for [`PgBouncer`]: [`PgBouncer::builder`], then [`PgBouncerBuilder::start`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PgBouncerBuilder {
    pool_mode: PoolMode,
    pool_size: u32,
    max_client_conn: u32,
    users: Vec<String>,
}

impl PgBouncerBuilder {
    /// The pool mode; [`PoolMode::Transaction`] by default.
    pub fn pool_mode(mut self, mode: PoolMode) -> PgBouncerBuilder {
        self.pool_mode = mode;
        self
    }

    /// Server connections per database and user (`default_pool_size`, 20 by default). A small pool
    /// makes clients share server connections sooner.
    pub fn pool_size(mut self, size: u32) -> PgBouncerBuilder {
        self.pool_size = size;
        self
    }

    /// Client connections PgBouncer accepts in all (`max_client_conn`, 200 by default).
    pub fn max_client_conn(mut self, count: u32) -> PgBouncerBuilder {
        self.max_client_conn = count;
        self
    }

    /// Lets role `name` in too (`postgres` always can); the role must exist on the server.
    pub fn user(mut self, name: impl Into<String>) -> PgBouncerBuilder {
        self.users.push(name.into());
        self
    }

    /// Starts PgBouncer on a free port of 127.0.0.1, passing every database through to `cluster`,
    /// with `trust` authentication; returns once it accepts connections.
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] when `pgbouncer` is not installed (the message says
    /// `apt-get install pgbouncer`); [`Error::Exited`] or [`Error::Timeout`] when it does not
    /// start.
    pub fn start(self, cluster: &Cluster) -> Result<PgBouncer, Error> {
        let program = binaries::pgbouncer()?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("leasehold-pgbouncer-")
            .tempdir_in(cluster::base_dir(&run_as))
            .map_err(Error::io("create a temporary directory"))?;
        run_as.own(dir.path())?;
        let mut bouncer = PgBouncer {
            dir,
            port: 0,
            server: None,
        };
        bouncer.write_file("userlist.txt", &self.userlist(), &run_as)?;
        for attempt in 1..=PORT_ATTEMPTS {
            bouncer.port = cluster::free_port()?;
            bouncer.write_file(
                "pgbouncer.ini",
                &self.ini(&bouncer, cluster.port()),
                &run_as,
            )?;
            match bouncer.spawn_and_wait(&program, &run_as) {
                Err(Error::Exited { log, .. })
                    if attempt < PORT_ATTEMPTS && log.contains("in use") => {}
                result => return result.map(|()| bouncer),
            }
        }
        unreachable!("the last attempt returns whatever happens")
    }

    fn userlist(&self) -> String {
        let users = std::iter::once(SUPERUSER).chain(self.users.iter().map(String::as_str));
        users.map(|user| format!("\"{user}\" \"\"\n")).collect()
    }

    fn ini(&self, bouncer: &PgBouncer, server_port: u16) -> String {
        let userlist = bouncer.dir.path().join("userlist.txt");
        format!(
            "[databases]\n* = host=127.0.0.1 port={server_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {userlist}\nadmin_users = {SUPERUSER}\n\
             pool_mode = {mode}\ndefault_pool_size = {size}\nmax_client_conn = {max}\n\
             ignore_startup_parameters = extra_float_digits\n\
             server_login_retry = 1\n",
            port = bouncer.port,
            userlist = userlist.display(),
            mode = self.pool_mode.as_str(),
            size = self.pool_size,
            max = self.max_client_conn,
        )
    }
}

/// PgBouncer in front of a [`Cluster`], in its own temporary directory (configuration, user list,
/// log), run as `nobody` when the tests run as root (PgBouncer refuses root). Dropping it stops
/// it; a watchdog stops it if the test process dies first.
#[derive(Debug)]
pub struct PgBouncer {
    dir: TempDir,
    port: u16,
    server: Option<Daemon>,
}

impl PgBouncer {
    /// Options: pool mode and size, extra users.
    pub fn builder() -> PgBouncerBuilder {
        PgBouncerBuilder {
            pool_mode: PoolMode::Transaction,
            pool_size: 20,
            max_client_conn: 200,
            users: Vec::new(),
        }
    }

    /// Starts PgBouncer in front of `cluster` in transaction pooling mode.
    ///
    /// # Errors
    ///
    /// As [`PgBouncerBuilder::start`].
    pub fn start(cluster: &Cluster) -> Result<PgBouncer, Error> {
        PgBouncer::builder().start(cluster)
    }

    /// A URL for the `postgres` database through PgBouncer, as the superuser.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A URL for database `db` through PgBouncer, as the superuser.
    #[must_use]
    pub fn url_for(&self, db: &str) -> String {
        url::local(SUPERUSER, self.port, db)
    }

    /// The port PgBouncer listens on (127.0.0.1).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PgBouncer's log.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.log")
    }

    /// PgBouncer's pid (also its process group).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Daemon::pid)
    }

    fn write_file(&self, name: &str, text: &str, run_as: &RunAs) -> Result<(), Error> {
        let path = self.dir.path().join(name);
        fs::write(&path, text).map_err(Error::io(format!("write {}", path.display())))?;
        run_as.own(&path)
    }

    fn spawn_and_wait(&mut self, program: &std::path::Path, run_as: &RunAs) -> Result<(), Error> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(Error::io("open the pgbouncer log"))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("clone the pgbouncer log"))?;
        let mut command = run_as.command(program);
        command
            .arg(self.dir.path().join("pgbouncer.ini"))
            .current_dir(self.dir.path());
        command.stdout(log).stderr(log_err);
        // SIGTERM is PgBouncer's immediate shutdown.
        self.server = Some(Daemon::spawn(command, "TERM", self.dir.path())?);
        self.wait_ready()
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
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        let log = process::log_tail(&self.log_path(), 20);
        Err(Error::Timeout {
            what: "pgbouncer to listen".into(),
            waited: READY_TIMEOUT,
            log,
        })
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop("TERM", Duration::from_secs(10));
        }
    }
}
