//! Schemas for the kit, used again instead of created and dropped: the conformance test alone asks
//! for 2,000 fresh databases, and a new schema cost about 55 ms (two `psql` processes, a dozen
//! DDL statements through the store's own creation, a `DROP SCHEMA … CASCADE`). A schema given
//! back is reset on its next use, in one round trip, to what a new schema holds: no rows, a new
//! store id, and the high-water mark a new store starts above (`starting_high_water` of the first
//! store's clock reading, as the store's own creation computes it).
//!
//! The schemas live in the harness's per-process database, which goes away with the test process
//! (dropped by an exit hook on a server given by `LEASEHOLD_POSTGRES_URL`), so nothing is left
//! behind however the process ends.

use std::sync::{Mutex, MutexGuard, PoisonError};

use leasehold_contract::{StoreId, starting_high_water};
use leasehold_postgres::Timestamp;

/// Schemas given back and not in use, newest last.
static IDLE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// One connection for the pool's own statements, made on first use and again if it closed.
static ADMIN: Mutex<Option<postgres::Client>> = Mutex::new(None);

/// The per-process database the schemas live in.
pub(super) fn url() -> &'static str {
    leasehold_pg_harness::process_database()
        .expect("the per-process test database")
        .url()
}

/// A schema for a new kit database, and whether it was used before (then [`reset`] must run
/// before a store opens it). A new one is empty: its first store creates the objects itself.
pub(super) fn take() -> (String, bool) {
    match lock(&IDLE).pop() {
        Some(name) => (name, true),
        None => (create(), false),
    }
}

/// A new, empty schema.
pub(super) fn create() -> String {
    let name = leasehold_pg_harness::fresh_schema_name();
    admin(|client| client.batch_execute(&format!("CREATE SCHEMA \"{name}\"")));
    name
}

/// Gives a schema back for later use.
pub(super) fn give_back(name: String) {
    lock(&IDLE).push(name);
}

/// Makes a used schema what a new one is, for a first store whose clock reads `now` (`None`: the
/// server's clock, read here). Deletes every row (the prune trigger raises the mark, which is
/// then overwritten), then writes the new mark and a new store id, in one implicit transaction.
pub(super) fn reset(name: &str, now: Option<Timestamp>) {
    let now = now.unwrap_or_else(server_now);
    let mark = starting_high_water(now).map_or(0, |mark| bigint(mark.get()));
    let id = bigint(StoreId::random().expect("the OS random source").as_u64());
    let sql = format!(
        "DELETE FROM \"{name}\".leasehold_locks;
         UPDATE \"{name}\".leasehold_meta SET value = {mark} WHERE key = 'pruned_high_water';
         UPDATE \"{name}\".leasehold_meta SET value = {id} WHERE key = 'store_id';"
    );
    admin(|client| client.batch_execute(&sql));
}

/// The meta rows of schema `name`, by key.
pub(super) fn meta(name: &str) -> Vec<(String, i64)> {
    let sql = format!("SELECT key, value FROM \"{name}\".leasehold_meta ORDER BY key");
    let rows = admin(|client| client.query(&sql, &[]));
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// The server's clock, as the store reads it.
pub(super) fn server_now() -> Timestamp {
    let sql =
        "SELECT pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000)::bigint";
    let millis: i64 = admin(|client| client.query_one(sql, &[])).get(0);
    Timestamp::from_millis(u64::try_from(millis).expect("the server's clock is after 1970"))
}

/// Runs `f` on the pool's connection, connecting first if it has none or it closed.
fn admin<T>(f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>) -> T {
    let mut admin = lock(&ADMIN);
    if admin.as_ref().is_none_or(postgres::Client::is_closed) {
        let client = postgres::Client::connect(url(), postgres::NoTls);
        *admin = Some(client.expect("a connection to the per-process test database"));
    }
    let client = admin.as_mut().expect("connected just above");
    f(client).unwrap_or_else(|e| panic!("the schema pool's statement failed: {e}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is one push, pop or assignment: never half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bigint(value: u64) -> i64 {
    i64::try_from(value).expect("marks and store ids are below 2^63")
}
