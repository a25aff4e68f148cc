//! The whole kit (`leasehold-kit`) against the PostgreSQL store: conformance (2,000 cases),
//! linearizability, threads, races, the peer suite, fairness and the multi-process stress test.
//! Each kit database is a schema of its own on the test server, taken from a pool (see `pool`),
//! and every store of it has a connection of its own. The conformance suite runs once more, with
//! fewer cases, on stores with prepared statements (`prepared_conforms_to_the_core`).

mod connections;
mod pool;
mod reuse;

use std::sync::{Mutex, PoisonError};

use leasehold_contract::{Clock, Fenced, Lease, ManualClock};
use leasehold_kit::{Backend, StoreErrorOf};
use leasehold_pg_harness::TestSchema;
use leasehold_postgres::{Error, Options, PgStore, Timestamp};

/// PostgreSQL stores, each kit database a schema of its own; `PREPARED`: with
/// [`Options::prepared_statements`].
#[derive(Default)]
pub(crate) struct PgBackend<const PREPARED: bool = false>;

/// A kit database: a schema, and what its first store must find.
pub(crate) struct PgDatabase {
    schema: String,
    url: String,
    /// Set by the first `open`, `open_real` or `locator`.
    first_use: Mutex<FirstUse>,
    /// A schema of its own instead of a pooled one (see `PgBackend::database`).
    own: Option<TestSchema>,
    /// The connections of the stores opened by `open`, given back with the database.
    connections: Mutex<Vec<deadpool_postgres::Pool>>,
}

/// What a database needs before its first store opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstUse {
    /// A new, empty schema: the first store creates the objects, as in production.
    Empty,
    /// A schema used before: reset it for the first store's clock.
    Used,
    /// A store has opened it.
    Done,
}

impl PgDatabase {
    fn pooled() -> Self {
        let (schema, used) = pool::take();
        let first_use = if used {
            FirstUse::Used
        } else {
            FirstUse::Empty
        };
        Self::new(schema, pool::url().to_owned(), first_use, None)
    }

    /// A new, empty schema (not one used before), for the test that compares a reset with it.
    fn empty() -> Self {
        Self::new(
            pool::create(),
            pool::url().to_owned(),
            FirstUse::Empty,
            None,
        )
    }

    /// The same schema as a database used before (and `self` gone without giving it back).
    fn reuse(mut self) -> Self {
        let schema = std::mem::take(&mut self.schema);
        Self::new(schema, pool::url().to_owned(), FirstUse::Used, None)
    }

    fn new(schema: String, url: String, first_use: FirstUse, own: Option<TestSchema>) -> Self {
        Self {
            schema,
            url,
            first_use: Mutex::new(first_use),
            own,
            connections: Mutex::new(Vec::new()),
        }
    }

    /// Readies the schema for a store whose clock reads `now` (`None`: the server's).
    fn prepare(&self, now: Option<Timestamp>) {
        let mut first_use = lock(&self.first_use);
        if *first_use == FirstUse::Used {
            pool::reset(&self.schema, now);
        }
        *first_use = FirstUse::Done;
    }

    fn options(&self) -> Options {
        Options::new().schema(&self.schema)
    }

    fn connect(&self, options: Options) -> PgStore {
        PgStore::connect_with(&self.url, options).expect("a store on a kit schema")
    }

    /// A store on a connection used before by stores of other databases (see `connections`);
    /// on a schema of its own, on a new connection.
    fn reconnect(&self, options: Options) -> PgStore {
        if self.own.is_some() {
            return self.connect(options);
        }
        let pool = connections::take(&self.url);
        let store = PgStore::from_pool_with(pool.clone(), options);
        lock(&self.connections).push(pool);
        store.expect("a store on a kit schema")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is one push, take or assignment: never half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        connections::give_back(std::mem::take(&mut *lock(&self.connections)));
        // `reuse` took the name: the schema lives on in another database.
        if self.own.is_none() && !self.schema.is_empty() {
            pool::give_back(std::mem::take(&mut self.schema));
        }
    }
}

impl<const PREPARED: bool> Backend for PgBackend<PREPARED> {
    type Store = PgStore;
    type Database = PgDatabase;

    fn name(&self) -> &'static str {
        if PREPARED {
            "postgres-prepared"
        } else {
            "postgres"
        }
    }

    /// A pooled schema; with `LEASEHOLD_STRESS_KEEP` set, a schema of the harness's instead,
    /// outside the per-process database, so that the one the stress test keeps (by never
    /// dropping it) outlives the test process on a server given by `LEASEHOLD_POSTGRES_URL`.
    fn database(&self) -> PgDatabase {
        if std::env::var_os("LEASEHOLD_STRESS_KEEP").is_none() {
            return PgDatabase::pooled();
        }
        let own = leasehold_pg_harness::fresh_schema().expect("a fresh schema");
        let url = leasehold_pg_harness::shared_server_url().expect("the test server");
        PgDatabase::new(own.name().to_owned(), url, FirstUse::Empty, Some(own))
    }

    fn open(&self, db: &PgDatabase, clock: &ManualClock) -> PgStore {
        db.prepare(Some(clock.now().expect("a manual clock always reads")));
        let options = db.options().clock(clock.clone());
        db.reconnect(options.prepared_statements(PREPARED))
    }

    fn open_real(&self, db: &PgDatabase) -> PgStore {
        db.prepare(None);
        db.connect(db.options().prepared_statements(PREPARED))
    }

    fn fenced_write(
        &self,
        store: &PgStore,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, StoreErrorOf<Self>>> {
        Some(store.with_fence(lease, |_| Ok::<_, Error>(())))
    }

    /// Conformance cases wait for the server most of the time: run four at once.
    fn conformance_threads(&self) -> usize {
        8
    }

    fn statement_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(5)
    }

    /// The database's URL and, after a space, the schema's name (the harness's URLs and schema
    /// names have no spaces).
    fn locator(&self, db: &PgDatabase) -> Option<String> {
        db.prepare(None);
        Some(format!("{} {}", db.url, db.schema))
    }

    fn open_located(&self, locator: &str) -> PgStore {
        let (url, schema) = locator.rsplit_once(' ').expect("a URL and a schema");
        let options = Options::new().schema(schema);
        PgStore::connect_with(url, options.prepared_statements(PREPARED)).expect("a store")
    }
}

leasehold_kit::store_suite!(suite, PgBackend);

/// The conformance suite on stores with prepared statements, on pooled connections that other
/// databases' stores used before (so cached statements meet reset schemas). Fewer cases than the
/// suite's 2,000: the statements are the same, only how they are sent differs.
#[test]
fn prepared_conforms_to_the_core() {
    leasehold_kit::conformance::check::<PgBackend<true>>(leasehold_kit::conformance::cases(300));
}
