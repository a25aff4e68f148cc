//! The PostgreSQL server of a run: a throwaway cluster started by `leasehold-pg-harness` (the
//! default, so that its settings are known and no shared server is loaded), or the server a
//! `--postgres-url` names; and a fresh schema per scenario on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use leasehold_pg_harness::{Binaries, Cluster, SynchronousCommit};
use leasehold_postgres::{Options, PgStore};
use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::locker::Durability;
use crate::pg::{COMMITS_TABLE, Place};
use crate::scenario::Scenario;

/// `commit_delay` of the group-commit scenarios, in microseconds: about half of one 8 kB
/// `fdatasync` on the machine the figures come from (`pg_test_fsync`: 350–400 µs), which is
/// what PostgreSQL's documentation suggests as a start.
pub const GROUP_COMMIT_DELAY_US: u32 = 200;

/// `commit_siblings` of the group-commit scenarios: delay only when at least this many other
/// transactions are open, so that a lone committer never waits.
pub const GROUP_COMMIT_SIBLINGS: u32 = 2;

/// The settings a run records, as `SHOW` reports them.
const SETTINGS: [&str; 9] = [
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "commit_siblings",
    "shared_buffers",
    "max_connections",
    "wal_level",
];

/// What the figures were measured on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Whose server: the throwaway cluster (and the file system of its data), or a URL's.
    pub source: String,
    /// `server_version`.
    pub version: String,
    /// The durability and commit settings (`fsync`, `synchronous_commit`, `wal_sync_method`, …)
    /// as a default session sees them.
    pub settings: BTreeMap<String, String>,
    /// `commit_delay` and `commit_siblings` as a group-commit session sees them; empty when the
    /// group-commit scenarios were not run.
    pub group_commit: BTreeMap<String, String>,
}

/// Whether a run has a server.
#[derive(Debug)]
pub enum Found {
    /// A server to run the PostgreSQL scenarios on.
    Ready(Box<Postgres>),
    /// Neither a URL nor the server programs: the one line that says what to install.
    Missing(String),
}

/// The server of a run. Dropping it stops the throwaway cluster and removes its files.
#[derive(Debug)]
pub struct Postgres {
    url: String,
    cluster: Option<Cluster>,
    next_schema: AtomicU64,
    /// What the run measured on.
    pub info: ServerInfo,
}

impl Postgres {
    /// The server at `url`, or else a throwaway cluster with `fsync = on` and
    /// `synchronous_commit = on` (PostgreSQL's defaults) whose data lives under the system's
    /// temporary directory.
    ///
    /// # Errors
    ///
    /// Starting or reaching the server.
    pub fn find(url: Option<&str>) -> Result<Found, BenchError> {
        if let Some(url) = url {
            let source = "the server of --postgres-url".to_owned();
            return Self::new(url.to_owned(), None, source).map(|p| Found::Ready(Box::new(p)));
        }
        if let Err(missing) = Binaries::find() {
            return Ok(Found::Missing(missing.to_string()));
        }
        let cluster = Cluster::builder()
            .fsync(true)
            .synchronous_commit(SynchronousCommit::On)
            .start()?;
        let source = format!(
            "throwaway cluster (leasehold-pg-harness), data on {}",
            crate::machine::file_system(&cluster.data_dir())
        );
        Self::new(cluster.url(), Some(cluster), source).map(|p| Found::Ready(Box::new(p)))
    }

    fn new(url: String, cluster: Option<Cluster>, source: String) -> Result<Self, BenchError> {
        let mut client = Client::connect(&url, NoTls)?;
        let version = show(&mut client, "server_version")?;
        let settings = SETTINGS
            .iter()
            .map(|name| Ok(((*name).to_owned(), show(&mut client, name)?)))
            .collect::<Result<_, BenchError>>()?;
        let mut server = Self {
            url,
            cluster,
            next_schema: AtomicU64::new(0),
            info: ServerInfo {
                source,
                version,
                settings,
                group_commit: BTreeMap::new(),
            },
        };
        if server.runs_group_commit() {
            let mut grouped = Client::connect(&server.url_for(Durability::GroupCommit), NoTls)?;
            server.info.group_commit = ["commit_delay", "commit_siblings"]
                .iter()
                .map(|name| Ok(((*name).to_owned(), show(&mut grouped, name)?)))
                .collect::<Result<_, BenchError>>()?;
        }
        Ok(server)
    }

    /// Whether the group-commit scenarios run: only on the bench's own cluster, whose settings
    /// it may change (`commit_delay` needs a superuser).
    #[must_use]
    pub fn runs_group_commit(&self) -> bool {
        self.cluster.is_some()
    }

    /// The URL clients connect to in `durability`: group commit is set per session, through
    /// the URL's `options`.
    fn url_for(&self, durability: Durability) -> String {
        if durability != Durability::GroupCommit {
            return self.url.clone();
        }
        let options = format!(
            "-c commit_delay={GROUP_COMMIT_DELAY_US} -c commit_siblings={GROUP_COMMIT_SIBLINGS}"
        );
        leasehold_pg_harness::with_parameter(&self.url, "options", &options)
    }

    /// A fresh schema for `scenario`: the store's tables (made by `PgStore` itself) and the
    /// commit floor's rows, one per client. On the bench's own cluster a checkpoint first, so
    /// that every scenario starts with the same full-page writes ahead of it.
    ///
    /// # Errors
    ///
    /// The server's.
    pub fn prepare(&self, scenario: &Scenario) -> Result<ScenarioSchema, BenchError> {
        let n = self.next_schema.fetch_add(1, Ordering::Relaxed);
        let place = Place {
            url: self.url_for(scenario.durability),
            schema: format!("leasehold_bench_{}_{n}", std::process::id()),
        };
        drop(PgStore::connect_with(
            &self.url,
            Options::new().schema(place.schema.clone()),
        )?);
        let mut admin = Client::connect(&self.url, NoTls)?;
        let schema = ScenarioSchema {
            admin_url: self.url.clone(),
            place,
        };
        let table = format!("{}.{COMMITS_TABLE}", schema.place.quoted_schema());
        let last = scenario.clients.saturating_sub(1);
        admin.batch_execute(&format!(
            "CREATE TABLE {table} (owner text PRIMARY KEY, n bigint NOT NULL); \
             INSERT INTO {table} SELECT 'client-' || i, 0 FROM generate_series(0, {last}) i"
        ))?;
        if self.cluster.is_some() {
            admin.batch_execute("CHECKPOINT")?;
        }
        Ok(schema)
    }
}

/// `SHOW name`.
fn show(client: &mut Client, name: &str) -> Result<String, BenchError> {
    let row = client.query_one(&format!("SHOW {name}"), &[])?;
    Ok(row.try_get(0)?)
}

/// One scenario's schema; dropped (with everything in it) when this is.
#[derive(Debug)]
pub struct ScenarioSchema {
    admin_url: String,
    /// Where the scenario's clients connect.
    pub place: Place,
}

impl Drop for ScenarioSchema {
    fn drop(&mut self) {
        let drop_schema = format!("DROP SCHEMA {} CASCADE", self.place.quoted_schema());
        let dropped = Client::connect(&self.admin_url, NoTls)
            .and_then(|mut admin| admin.batch_execute(&drop_schema));
        if let Err(e) = dropped {
            eprintln!("leasehold-bench: could not drop {}: {e}", self.place.schema);
        }
    }
}
