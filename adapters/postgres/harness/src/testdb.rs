//! Databases and schemas for tests that need *a* server, not a particular one.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::binaries::{self, PostgresSource, require_postgres};
use crate::cluster::Cluster;
use crate::error::Error;
use crate::process::ExitHook;
use crate::psql::psql;
use crate::url;

/// The server every `fresh_*` call of this process uses.
#[derive(Debug)]
enum Server {
    /// `LEASEHOLD_POSTGRES_URL`.
    External(String),
    /// A throwaway cluster, started on first use. A static is never dropped: the cluster's
    /// watchdog stops it and removes its directory when the test process exits.
    Local(Cluster),
}

/// The URL of the server that [`fresh_database`] and [`fresh_schema`] create things on: the
/// value of `LEASEHOLD_POSTGRES_URL` if set, else a throwaway cluster started by the first call in
/// this process and shared by all later ones.
///
/// # Errors
///
/// [`Error::Missing`] with neither a URL nor server programs; [`Error::Shared`] when the shared
/// cluster failed to start (every call reports that first failure).
pub fn shared_server_url() -> Result<String, Error> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| match require_postgres() {
        Ok(PostgresSource::Url(url)) => Ok(Server::External(url)),
        Ok(PostgresSource::Binaries(_)) => Cluster::start()
            .map(Server::Local)
            .map_err(|e| format!("the shared test server: {e}")),
        Err(missing) => Err(missing.to_string()),
    });
    match server {
        Ok(Server::External(url)) => Ok(url.clone()),
        Ok(Server::Local(cluster)) => Ok(cluster.url()),
        Err(message) => Err(require_postgres().err().map_or_else(
            || Error::Shared {
                message: message.clone(),
            },
            Error::Missing,
        )),
    }
}

/// A name no other test, process or run uses: `{prefix}_{pid}_{sequence}_{time}`, lowercase
/// ASCII, a valid unquoted SQL identifier of at most 63 bytes for a short prefix.
fn unique_name(prefix: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("{prefix}_{}_{sequence}_{nanos:x}", std::process::id())
}

/// A schema name unique to this call (`lh_schema_...`), for tests that create the schema with
/// their own client. [`fresh_schema`] creates and drops one for you.
#[must_use]
pub fn fresh_schema_name() -> String {
    unique_name("lh_schema")
}

/// A new, empty, uniquely named database on the shared server (see [`shared_server_url`]),
/// dropped when the returned value is.
///
/// # Errors
///
/// As [`shared_server_url`]; [`Error::Query`] when `CREATE DATABASE` fails.
pub fn fresh_database() -> Result<TestDb, Error> {
    TestDb::create_on(&shared_server_url()?)
}

/// A new, empty, uniquely named schema in the shared server's database, dropped (with everything
/// in it) when the returned value is.
///
/// # Errors
///
/// As [`shared_server_url`]; [`Error::Query`] when `CREATE SCHEMA` fails.
pub fn fresh_schema() -> Result<TestSchema, Error> {
    TestSchema::create_on(&shared_server_url()?)
}

/// A database on the shared server (see [`shared_server_url`]) for the whole test process: created
/// by the first call, and gone when the process ends, however it ends — with the throwaway
/// cluster, or, on a server `LEASEHOLD_POSTGRES_URL` names, dropped (`WITH (FORCE)`) by an exit
/// hook: a `sh` process that waits for end-of-file on a pipe only the test process holds, then
/// runs `psql`. For what a test process keeps across its tests, such as a pool of schemas that
/// are reset between uses instead of created and dropped each time.
///
/// # Errors
///
/// As [`fresh_database`]; every later call reports the first failure ([`Error::Shared`]).
pub fn process_database() -> Result<&'static ProcessDb, Error> {
    static DB: OnceLock<Result<ProcessDb, String>> = OnceLock::new();
    let db =
        DB.get_or_init(|| ProcessDb::create().map_err(|e| format!("the process database: {e}")));
    db.as_ref().map_err(|message| Error::Shared {
        message: message.clone(),
    })
}

/// The database [`process_database`] returns.
#[derive(Debug)]
pub struct ProcessDb {
    name: String,
    url: String,
    /// Drops the database when the process exits; `None` on the throwaway cluster, which goes
    /// away whole.
    _dropper: Option<ExitHook>,
}

impl ProcessDb {
    fn create() -> Result<ProcessDb, Error> {
        let admin_url = shared_server_url()?;
        let name = unique_name("lh_process");
        // Armed before the database exists, so that no death of this process can leave it.
        let dropper = match require_postgres() {
            Ok(PostgresSource::Url(_)) => {
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let args = ["-X", "-q", "-d", &admin_url, "-c", &drop];
                Some(ExitHook::arm(&binaries::psql()?, &args)?)
            }
            _ => None,
        };
        psql(&admin_url, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(ProcessDb {
            url: url::with_database(&admin_url, &name)?,
            name,
            _dropper: dropper,
        })
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database, with the user, host, port and parameters of the server's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A database created for one test; `Drop` drops it (`WITH (FORCE)`, ending open sessions).
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a uniquely named database on the server `admin_url` points at (a `postgres://` URL
    /// of a role that may create databases).
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for a URL that is not `postgres://`; [`Error::Query`] when the server refuses.
    pub fn create_on(admin_url: &str) -> Result<TestDb, Error> {
        let name = unique_name("lh_test");
        let url = url::with_database(admin_url, &name)?;
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(TestDb {
            name,
            url,
            admin_url: admin_url.to_owned(),
        })
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database, with the user, host, port and parameters of the server's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL in the database with `psql` (see [`crate::psql()`]).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when a statement fails.
    pub fn psql(&self, sql: &str) -> Result<String, Error> {
        psql(&self.url, sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop_database = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(err) = psql(&self.admin_url, &drop_database) {
            eprintln!(
                "leasehold-pg-harness: could not drop test database {}: {err}",
                self.name
            );
        }
    }
}

/// A schema created for one test; `Drop` drops it with everything in it.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
    url: String,
    admin_url: String,
}

impl TestSchema {
    /// Creates a uniquely named schema in the database `admin_url` points at.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when the server refuses.
    pub fn create_on(admin_url: &str) -> Result<TestSchema, Error> {
        let name = fresh_schema_name();
        psql(admin_url, &format!("CREATE SCHEMA \"{name}\""))?;
        let url = url::with_parameter(admin_url, "options", &format!("-c search_path={name}"));
        Ok(TestSchema {
            name,
            url,
            admin_url: admin_url.to_owned(),
        })
    }

    /// The schema's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose sessions have `search_path` set to the schema (libpq's `options` parameter,
    /// which tokio-postgres also reads; PgBouncer refuses it).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL with `search_path` set to the schema.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when a statement fails.
    pub fn psql(&self, sql: &str) -> Result<String, Error> {
        psql(&self.url, sql)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let drop_schema = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        if let Err(err) = psql(&self.admin_url, &drop_schema) {
            eprintln!(
                "leasehold-pg-harness: could not drop test schema {}: {err}",
                self.name
            );
        }
    }
}
