//! Shared helpers: a fresh database per test on a real server (the harness's), stores on it with
//! a manual clock or the server's, and a plain client for setting up what a test needs by hand.
//!
//! The server is `LEASEHOLD_POSTGRES_URL` when it is set, else one throwaway cluster per test
//! process (`leasehold-pg-harness`). Each [`TestDb`] is a database of its own, created for one
//! test and dropped (`WITH (FORCE)`) when the test ends, also when it panics; nothing else on the
//! server is touched.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasehold_postgres::{
    Acquire, Error, Lease, ManualClock, Options, PgStore, Seam, Statement, Timestamp, Verdict,
};

/// A database created for one test, dropped with it.
pub(crate) struct TestDb {
    db: leasehold_pg_harness::TestDb,
}

impl TestDb {
    pub(crate) fn create() -> Self {
        let db = leasehold_pg_harness::fresh_database().expect("a test database");
        Self { db }
    }

    pub(crate) fn name(&self) -> &str {
        self.db.name()
    }

    pub(crate) fn url(&self) -> &str {
        self.db.url()
    }

    /// A plain client on the database.
    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(self.url(), postgres::NoTls).expect("a plain client")
    }

    /// Runs `sql` (statements separated by semicolons) on a client of its own.
    pub(crate) fn sql(&self, sql: &str) {
        self.client().batch_execute(sql).expect("the test's SQL");
    }

    /// Runs `sql` with `psql` (a process of its own: usable inside an async runtime too).
    pub(crate) fn psql(&self, sql: &str) -> String {
        self.db.psql(sql).expect("the test's SQL")
    }

    /// One integer from `sql`.
    pub(crate) fn value(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).expect("one row").get(0)
    }

    /// A store with a manual clock starting at `start` ms.
    pub(crate) fn store_at(&self, start: u64) -> (PgStore, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_millis(start));
        let store = PgStore::connect_with(self.url(), Options::new().clock(clock.clone()))
            .expect("a store on a fresh database");
        (store, clock)
    }

    /// A store on the server's clock.
    pub(crate) fn store(&self) -> PgStore {
        PgStore::connect(self.url()).expect("a store on a fresh database")
    }

    /// Every relation, function, schema and row of the database outside the system's, as text:
    /// "nothing changed" means this is unchanged.
    pub(crate) fn dump(&self) -> Vec<String> {
        let mut client = self.client();
        let catalog = client
            .query(
                "SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                 UNION ALL SELECT 'function ' || n.nspname || '.' || proname || ' ' || md5(prosrc) \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 UNION ALL SELECT 'schema ' || nspname FROM pg_namespace",
                &[],
            )
            .expect("the catalog");
        let mut dump: Vec<String> = catalog.iter().map(|row| row.get(0)).collect();
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
            let sql = format!("SELECT t::text FROM {table} t");
            for row in client.query(&sql, &[]).expect("the rows") {
                dump.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        dump.sort();
        dump
    }
}

/// A role created for one test (roles belong to the whole server), that may log in and do
/// nothing else until granted more; dropped with everything it was granted.
pub(crate) struct TestRole {
    name: String,
    admin_url: String,
}

impl TestRole {
    pub(crate) fn create(db: &TestDb) -> Self {
        let name = leasehold_pg_harness::fresh_schema_name().replace("lh_schema", "lh_role");
        db.sql(&format!("CREATE ROLE {name} LOGIN"));
        Self {
            name,
            admin_url: db.url().to_owned(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `db`'s URL, logging in as this role (without a password: the test servers trust
    /// loopback connections).
    pub(crate) fn url(&self, db: &TestDb) -> String {
        let url = db.url();
        let start = url.find("://").map_or(0, |i| i + 3);
        let end = url[start..].find('@').map_or(start, |i| start + i + 1);
        format!("{}{}@{}", &url[..start], self.name, &url[end..])
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let sql = format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name);
        let dropped = postgres::Client::connect(&self.admin_url, postgres::NoTls)
            .and_then(|mut client| client.batch_execute(&sql));
        if let Err(e) = dropped {
            eprintln!("could not drop test role {}: {e}", self.name);
        }
    }
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

/// The backend pids of the database's sessions named `application_name`.
pub(crate) fn backends(db: &TestDb, application_name: &str) -> Vec<i32> {
    let rows = db
        .client()
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            &[&db.name(), &application_name],
        )
        .expect("pg_stat_activity");
    rows.iter().map(|row| row.get(0)).collect()
}

/// The server's clock (milliseconds, as every statement reads it) at the local instant `at`, as
/// bounds `(earliest, latest)`: from the reading of `client` whose round trip was the shortest of
/// twenty, taken now. Exact up to that round trip and the server clock's 1 ms resolution; the
/// server runs on this machine, so its clock and the local monotonic one run at the same rate
/// (up to NTP's slewing, microseconds over a test).
pub(crate) fn server_time_at(client: &mut postgres::Client, at: Instant) -> (i128, i128) {
    let sql = Statement::Clock
        .sql()
        .expect("the clock statement has a text");
    let none: Option<i64> = None;
    let mut best: Option<(Instant, i64, Instant)> = None;
    for _ in 0..20 {
        let sent = Instant::now();
        let row = client
            .query_typed_one(sql, &[(&none, postgres::types::Type::INT8)])
            .expect("a clock reading");
        let received = Instant::now();
        if best.is_none_or(|(s, _, r)| received - sent < r - s) {
            best = Some((sent, row.get(0), received));
        }
    }
    let (sent, reading, received) = best.expect("twenty readings");
    let micros = |from: Instant, to: Instant| -> i128 {
        if to >= from {
            i128::try_from((to - from).as_micros()).expect("a test's span")
        } else {
            -i128::try_from((from - to).as_micros()).expect("a test's span")
        }
    };
    // The reading was taken between `sent` and `received`, and is the floor of the true time.
    let reading = i128::from(reading) * 1_000;
    let earliest = reading + micros(received, at);
    let latest = reading + 1_000 + micros(sent, at);
    (earliest.div_euclid(1_000), latest.div_euclid(1_000) + 1)
}

/// Clears a "running" flag when dropped: threads of a scope that loop while it is set stop
/// however the scope's closure ends, a panic included (else the scope would wait for them
/// forever).
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A seam that records every statement the store reports, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Record(Arc<Mutex<Vec<Statement>>>);

impl Record {
    /// The statements recorded since the last call.
    pub(crate) fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Seam for Record {
    fn answered(&self, statement: Statement, _succeeded: bool) -> Verdict {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(statement);
        Verdict::Deliver
    }
}
