//! The kit (`leasehold-kit`) against the PostgreSQL store: each of its databases is a fresh
//! schema on the test server, and every store of it has a connection of its own.

use leasehold_contract::{Fenced, Lease, ManualClock};
use leasehold_kit::{Backend, StoreErrorOf, conformance};
use leasehold_pg_harness::TestSchema;
use leasehold_postgres::{Error, Options, PgStore};

/// PostgreSQL stores, each kit database a schema of its own.
#[derive(Default)]
pub(crate) struct PgBackend;

fn options(schema: &TestSchema) -> Options {
    Options::new().schema(schema.name())
}

fn connect(options: Options) -> PgStore {
    let url = leasehold_pg_harness::shared_server_url().expect("the test server");
    PgStore::connect_with(&url, options).expect("a store on a fresh schema")
}

impl Backend for PgBackend {
    type Store = PgStore;
    type Database = TestSchema;

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn database(&self) -> TestSchema {
        leasehold_pg_harness::fresh_schema().expect("a fresh schema")
    }

    fn open(&self, db: &TestSchema, clock: &ManualClock) -> PgStore {
        connect(options(db).clock(clock.clone()))
    }

    fn open_real(&self, db: &TestSchema) -> PgStore {
        connect(options(db))
    }

    fn fenced_write(
        &self,
        store: &PgStore,
        lease: &Lease,
    ) -> Option<Result<Fenced<()>, StoreErrorOf<Self>>> {
        Some(store.with_fence(lease, |_| Ok::<_, Error>(())))
    }

    fn statement_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(5)
    }

    /// The server's URL and, after a space, the schema's name (the harness's URLs and schema
    /// names have no spaces).
    fn locator(&self, db: &TestSchema) -> Option<String> {
        let url = leasehold_pg_harness::shared_server_url().expect("the test server");
        Some(format!("{url} {}", db.name()))
    }

    fn open_located(&self, locator: &str) -> PgStore {
        let (url, schema) = locator.rsplit_once(' ').expect("a URL and a schema");
        PgStore::connect_with(url, Options::new().schema(schema)).expect("a store")
    }
}

/// The kit's conformance check, with fewer cases than its default 2,000 (each case creates a
/// schema on the server): `LEASEHOLD_CONFORMANCE_CASES` raises it.
#[test]
fn conforms_to_the_core() {
    conformance::check::<PgBackend>(conformance::cases(100));
}
