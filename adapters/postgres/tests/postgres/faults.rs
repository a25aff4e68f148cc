//! Faults on a running server: a backend terminated mid-operation and between operations, a lease
//! whose holder's connection is gone, `statement_timeout`, an answer that never comes, objects
//! in `search_path` that shadow the store's, and concurrent first users of a new database.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leasehold_postgres::{Acquire, Error, ErrorKind, Options, PgStore, Renew, StoreError};

use super::support::{TestDb, backends, granted, ms};

/// Waits until a backend of the database waits for a lock; returns its pid.
fn lock_waiter(db: &TestDb) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pid = db.value(
            "SELECT COALESCE(max(pid), 0)::bigint FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        if pid != 0 {
            return i32::try_from(pid).expect("a pid");
        }
        assert!(Instant::now() < deadline, "nobody waits for the lock");
        thread::sleep(ms(5));
    }
}

/// Locks the row of `r` from another session until the returned transaction ends.
fn lock_row(client: &mut postgres::Client) -> postgres::Transaction<'_> {
    let mut tx = client.transaction().expect("a transaction");
    tx.batch_execute("SELECT 1 FROM leasehold.leasehold_locks WHERE resource = 'r' FOR UPDATE")
        .expect("the row locked");
    tx
}

#[test]
fn a_backend_terminated_mid_operation_fails_that_operation_and_the_next_reconnects() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    let before = store.holder("r").expect("a read");
    let first_backend = backends(&db, "leasehold");
    let mut locker = db.client();
    let tx = lock_row(&mut locker);
    let cut = thread::scope(|scope| {
        // The renew waits for the row lock; its backend is terminated while it waits.
        let renew = scope.spawn(|| store.renew(&lease, ms(120_000)));
        let pid = lock_waiter(&db);
        db.sql(&format!("SELECT pg_terminate_backend({pid})"));
        renew.join().expect("no panic")
    });
    tx.commit().expect("the lock released");
    let Err(e) = cut else {
        panic!("the cut renew must fail: {cut:?}");
    };
    assert!(
        matches!(e, Error::Disconnected { source: Some(_) }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    // The next operation connects anew, and finds the lease as it was: the cut renew did not
    // apply, and nothing was lost.
    assert_eq!(store.holder("r").expect("reconnected"), before);
    let now_backend = backends(&db, "leasehold");
    assert_ne!(
        now_backend, first_backend,
        "the same backend after a terminate"
    );
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
}

#[test]
fn a_store_whose_backend_was_terminated_between_operations_reconnects_by_itself() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    for _ in 0..3 {
        db.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'leasehold'",
        );
        // Time for the client to read the server's goodbye; the next call then connects anew.
        thread::sleep(ms(200));
        assert!(matches!(
            store.renew(&lease, ms(60_000)),
            Ok(Renew::Renewed(_))
        ));
    }
}

#[test]
fn a_lease_outlives_its_holders_connection() {
    let db = TestDb::create();
    let url = format!("{}?application_name=holder", db.url());
    let holder = PgStore::connect(&url).expect("a store");
    let lease = granted(holder.try_acquire("r", "holder", ms(60_000)));
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !backends(&db, "holder").is_empty() {
        assert!(Instant::now() < deadline, "the holder's session stays");
        thread::sleep(ms(10));
    }
    // Unlike a session advisory lock, the lease did not end with its holder's session.
    let other = db.store();
    let Ok(Acquire::Busy(current)) = other.try_acquire("r", "other", ms(60_000)) else {
        panic!("the lease must still be held");
    };
    assert_eq!(current.token(), lease.token());
    assert_eq!(
        other.holder("r").expect("a read"),
        Some(lease.holder().clone())
    );
}

#[test]
fn statement_timeout_on_the_database_fails_a_waiting_statement_with_nothing_changed() {
    let db = TestDb::create();
    db.sql(&format!(
        "ALTER DATABASE \"{}\" SET statement_timeout = '200ms'",
        db.name()
    ));
    let store = db.store();
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    let before = store.holder("r").expect("a read");
    let mut locker = db.client();
    let tx = lock_row(&mut locker);
    let started = Instant::now();
    let answer = store.renew(&lease, ms(120_000));
    assert!(matches!(answer, Err(Error::Busy(_))), "{answer:?}");
    assert!(started.elapsed() >= ms(200), "{:?}", started.elapsed());
    let e = answer.expect_err("busy");
    assert_eq!(e.kind(), ErrorKind::Busy);
    // Someone else's acquire sees the valid lease in its snapshot and is refused without waiting
    // for the row lock.
    let other = db.store();
    let waited = other.acquire_for("r", "other", ms(1_000), ms(500));
    assert!(matches!(waited, Ok(Acquire::Busy(_))), "{waited:?}");
    tx.commit().expect("the lock released");
    assert_eq!(
        store.holder("r").expect("a read"),
        before,
        "the cut renew changed something"
    );
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
}

#[test]
fn a_statement_without_an_answer_in_time_gives_the_connection_up() {
    let db = TestDb::create();
    let options = Options::new().io_timeout(Some(ms(300)));
    let store = PgStore::connect_with(db.url(), options).expect("a store");
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    let mut locker = db.client();
    let tx = lock_row(&mut locker);
    let answer = store.renew(&lease, ms(120_000));
    assert!(matches!(answer, Err(Error::TimedOut { .. })), "{answer:?}");
    tx.commit().expect("the lock released");
    // The connection given up is replaced at the next operation.
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
}

/// Tables of the store's names earlier in `search_path` than its schema, and functions of the
/// names it calls, are never used. (A path that puts a schema before `pg_catalog` itself is
/// refused at open: `refusals::a_search_path_that_puts_a_schema_before_pg_catalog_is_refused`.)
#[test]
fn objects_in_search_path_that_shadow_the_stores_are_never_used() {
    let db = TestDb::create();
    db.sql(&format!(
        "CREATE SCHEMA shadow; \
         CREATE TABLE shadow.leasehold_locks (resource text PRIMARY KEY); \
         CREATE TABLE shadow.leasehold_meta (key text PRIMARY KEY, value bigint NOT NULL); \
         INSERT INTO shadow.leasehold_meta VALUES ('schema_version', 99); \
         CREATE FUNCTION shadow.clock_timestamp() RETURNS timestamptz LANGUAGE sql \
           AS $$ SELECT '2000-01-01'::timestamptz $$; \
         CREATE FUNCTION shadow.floor(numeric) RETURNS numeric LANGUAGE sql AS $$ SELECT 0::numeric $$; \
         CREATE FUNCTION shadow.now() RETURNS timestamptz LANGUAGE sql \
           AS $$ SELECT '2000-01-01'::timestamptz $$; \
         ALTER DATABASE \"{}\" SET search_path = pg_catalog, shadow, public",
        db.name()
    ));
    let store = db.store();
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let wall = u64::try_from(wall.as_millis()).expect("ms fit u64");
    let acquired = lease.acquired_at().as_millis();
    // The server's real clock (the server runs on this machine), not the shadowing function's.
    assert!(
        acquired.abs_diff(wall) < 60_000,
        "acquired at {acquired}, wall clock {wall}"
    );
    assert_eq!(db.value("SELECT count(*) FROM shadow.leasehold_locks"), 0);
    assert_eq!(
        db.value("SELECT count(*) FROM leasehold.leasehold_locks"),
        1
    );
    // A session-local table of the same name, first in its own search_path, is not used either.
    let mut client = db.client();
    client
        .batch_execute("CREATE TEMP TABLE leasehold_locks (resource text)")
        .expect("a temporary table");
    assert!(store.holder("r").expect("a read").is_some());
}

#[test]
fn eight_concurrent_first_users_create_the_schema_once() {
    let db = TestDb::create();
    let barrier = Barrier::new(8);
    let stores: Vec<PgStore> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    PgStore::connect(db.url())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("no panic")
                    .expect("every first user connects")
            })
            .collect()
    });
    let id = stores[0].store_id();
    assert!(
        stores.iter().all(|s| s.store_id() == id),
        "two schemas were created"
    );
    assert_eq!(db.value("SELECT count(*) FROM leasehold.leasehold_meta"), 3);
    let lease = granted(stores[3].try_acquire("r", "o", ms(60_000)));
    assert_eq!(
        stores[5].holder("r").expect("a read").map(|h| h.token()),
        Some(lease.token())
    );
}
