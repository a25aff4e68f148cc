//! Shared helpers: a fresh database per test on a real server, stores on it with a manual or the
//! server's clock, and a plain client for setting up what a test needs by hand.
//!
//! The server is `LEASEHOLD_POSTGRES_URL` (a role that may create databases), or else
//! `postgres://postgres@127.0.0.1:5432/test`. Each [`TestDb`] is a database of its own, created
//! for one test and dropped (`WITH (FORCE)`) when the test ends, also when it panics; nothing
//! else on the server is touched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use leasehold_postgres::{Acquire, Error, Lease, ManualClock, Options, PgStore, Timestamp};

/// The variable that points the tests at a server.
pub(crate) const URL_VAR: &str = "LEASEHOLD_POSTGRES_URL";

/// The server the tests create their databases on.
pub(crate) fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database`.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let path = url[authority..].find('/').map_or(url.len(), |i| authority + i);
    let query = url[path..].find('?').map_or("", |i| &url[path + i..]);
    format!("{}/{database}{query}", &url[..path])
}

/// A name no other test, process or run uses.
pub(crate) fn unique(prefix: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("{prefix}_{}_{sequence}_{nanos:x}", std::process::id())
}

/// A database created for one test, dropped with it.
pub(crate) struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    pub(crate) fn create() -> Self {
        let name = unique("leasehold_t");
        admin().batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("CREATE DATABASE");
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A plain client on the database.
    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("a plain client")
    }

    /// Runs `sql` (statements separated by semicolons) on a client of its own.
    pub(crate) fn sql(&self, sql: &str) {
        self.client().batch_execute(sql).expect("the test's SQL");
    }

    /// One integer from `sql`.
    pub(crate) fn value(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).expect("one row").get(0)
    }

    /// A store with a manual clock starting at `start` ms.
    pub(crate) fn store_at(&self, start: u64) -> (PgStore, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_millis(start));
        let store = PgStore::connect_with(&self.url, Options::new().clock(clock.clone()))
            .expect("a store on a fresh database");
        (store, clock)
    }

    /// A store on the server's clock.
    pub(crate) fn store(&self) -> PgStore {
        PgStore::connect(&self.url).expect("a store on a fresh database")
    }

    /// Every table, function, trigger and meta row of the schema `leasehold`, as text: "nothing
    /// changed" means this is unchanged.
    pub(crate) fn schema_dump(&self) -> Vec<String> {
        let mut client = self.client();
        let rows = client
            .query(
                "SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                 UNION ALL SELECT 'function ' || proname || ' ' || md5(prosrc) FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN \
                 ('pg_catalog', 'information_schema') \
                 UNION ALL SELECT 'namespace ' || nspname FROM pg_namespace \
                 ORDER BY 1",
                &[],
            )
            .expect("the catalog");
        let mut dump: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        let tables = client
            .query(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n \
                 ON n.oid = c.relnamespace WHERE c.relkind = 'r' \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                &[],
            )
            .expect("the tables");
        for table in tables {
            let table: String = table.get(0);
            let sql = format!("SELECT t::text FROM {table} t ORDER BY 1");
            for row in client.query(&sql, &[]).expect("the rows") {
                dump.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        dump
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop_database = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin().batch_execute(&drop_database) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A client of the server's admin database.
pub(crate) fn admin() -> postgres::Client {
    postgres::Client::connect(&admin_url(), postgres::NoTls).expect("the test server")
}

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The lease in `outcome`, or a panic saying who held it.
pub(crate) fn granted(outcome: Result<Acquire, Error>) -> Lease {
    match outcome {
        Ok(Acquire::Granted(lease)) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}
