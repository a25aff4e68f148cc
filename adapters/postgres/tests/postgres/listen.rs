//! The wake-up hint: releases and evictions notify the schema's channel when they commit, and a
//! store's listener wakes its waiters, in other stores (other connections, standing for other
//! processes) than the one that released.
//!
//! Timing is used only as bounds that cannot flake: the waiters' polls are made rare
//! (`Options::poll_interval`, 60 s, longer than the wait), so a grant well before the deadline
//! can only have come from a wake-up, and the negative controls (no listener) show that without
//! one the grant comes only at the deadline's attempt.

use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, PgBouncer};
use leasehold_postgres::{
    Acquire, AsyncPgStore, DEFAULT_SCHEMA, Error, Evict, Listen, Options, PgStore, Release,
};
use postgres::fallible_iterator::FallibleIterator;

use super::support::{TestDb, backends, granted, ms};

/// The waiters' pause between polls: longer than any wait here.
const RARE_POLLS: Duration = Duration::from_secs(60);
/// How long a waiter waits; its polls cannot come before the deadline's attempt.
const WAIT: Duration = Duration::from_secs(6);
/// The listener's `application_name` (the stores' URLs name none).
const LISTENER: &str = "leasehold-listener";

/// A waiter's options: rare polls, and `listen`.
fn waiting(listen: Listen) -> Options {
    Options::new().poll_interval(RARE_POLLS).listen(listen)
}

/// The holder's: no listener of its own.
fn holding() -> Options {
    Options::new().listen(Listen::Off)
}

/// Waits until a listener of `db` has subscribed (its last statement is the check that follows
/// its `LISTEN`), and returns its pid.
fn listener_subscribed(db: &TestDb) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = db
            .client()
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 \
                 AND state = 'idle' AND query LIKE '%pg_listening_channels%'",
                &[&db.name(), &LISTENER],
            )
            .expect("pg_stat_activity");
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no listener subscribed");
        thread::sleep(ms(20));
    }
}

/// A blocking waiter in its own store waits for a lease held (60 s) through another store, which
/// releases it once the waiter has waited a moment (and its listener, if any, has subscribed).
/// Returns the waiter's answer and how long it waited.
fn blocking_wait_for_release(db: &TestDb, listen: Listen) -> (Result<Acquire, Error>, Duration) {
    blocking_wait_in(db, DEFAULT_SCHEMA, listen)
}

/// [`blocking_wait_for_release`] in the schema `schema`.
fn blocking_wait_in(
    db: &TestDb,
    schema: &str,
    listen: Listen,
) -> (Result<Acquire, Error>, Duration) {
    let listens = listen != Listen::Off;
    let holder = PgStore::connect_with(db.url(), holding().schema(schema)).expect("a store");
    let waiter = PgStore::connect_with(db.url(), waiting(listen).schema(schema)).expect("a store");
    let lease = granted(holder.try_acquire("r", "holder", ms(60_000)));
    thread::scope(|scope| {
        let wait = scope.spawn(|| {
            let started = Instant::now();
            let answer = waiter.acquire_for("r", "waiter", ms(60_000), WAIT);
            (answer, started.elapsed())
        });
        if listens {
            listener_subscribed(db);
        } else {
            thread::sleep(ms(300));
        }
        assert_eq!(holder.release(&lease).expect("release"), Release::Released);
        wait.join().expect("no panic")
    })
}

#[test]
fn a_release_by_another_store_wakes_a_blocking_waiter() {
    let db = TestDb::create();
    let (answer, waited) = blocking_wait_for_release(&db, Listen::StoreUrl);
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(waited < WAIT / 2, "granted after {waited:?}: not woken");
}

/// A schema name of the longest length allowed (63 bytes), with quotes, spaces and non-ASCII
/// letters: the channel is named after the lock table's oid, not the schema, so it still fits
/// and needs no quoting.
#[test]
fn a_waiter_in_a_schema_with_a_long_odd_name_is_woken() {
    let db = TestDb::create();
    let schema = "Größe \"quoted\" 'and' a long name, to reach sixty-three bytes!";
    assert_eq!(schema.len(), 63);
    let (answer, waited) = blocking_wait_in(&db, schema, Listen::StoreUrl);
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(waited < WAIT / 2, "granted after {waited:?}: not woken");
}

/// The negative control: the same without a listener is granted only by the attempt at the
/// deadline.
#[test]
fn without_a_listener_a_blocking_waiter_is_granted_only_at_its_deadline() {
    let db = TestDb::create();
    let (answer, waited) = blocking_wait_for_release(&db, Listen::Off);
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(
        waited >= WAIT,
        "granted after {waited:?}: something woke it"
    );
}

/// The async twin of [`blocking_wait_for_release`].
async fn async_wait_for_release(db: &TestDb, listen: Listen) -> (Result<Acquire, Error>, Duration) {
    let listens = listen != Listen::Off;
    let holder = AsyncPgStore::connect_with(db.url(), holding())
        .await
        .expect("a store");
    let waiter = AsyncPgStore::connect_with(db.url(), waiting(listen))
        .await
        .expect("a store");
    let lease = granted(holder.try_acquire("r", "holder", ms(60_000)).await);
    let wait = async {
        let started = Instant::now();
        let answer = waiter.acquire_for("r", "waiter", ms(60_000), WAIT).await;
        (answer, started.elapsed())
    };
    let release = async {
        if listens {
            // pg_stat_activity through psql, a process of its own: this runtime keeps running.
            let db_name = db.name().to_owned();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let sql = format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_name}' \
                     AND application_name = '{LISTENER}' AND state = 'idle' \
                     AND query LIKE '%pg_listening_channels%'"
                );
                if db.psql(&sql).trim() != "0" {
                    break;
                }
                assert!(Instant::now() < deadline, "no listener subscribed");
                tokio::time::sleep(ms(20)).await;
            }
        } else {
            tokio::time::sleep(ms(300)).await;
        }
        holder.release(&lease).await.expect("release")
    };
    let ((answer, waited), released) = tokio::join!(wait, release);
    assert_eq!(released, Release::Released);
    (answer, waited)
}

#[test]
fn a_release_by_another_store_wakes_an_async_waiter() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (answer, waited) = runtime.block_on(async_wait_for_release(&db, Listen::StoreUrl));
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(waited < WAIT / 2, "granted after {waited:?}: not woken");
}

#[test]
fn without_a_listener_an_async_waiter_is_granted_only_at_its_deadline() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (answer, waited) = runtime.block_on(async_wait_for_release(&db, Listen::Off));
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(
        waited >= WAIT,
        "granted after {waited:?}: something woke it"
    );
}

#[test]
fn an_eviction_by_another_store_wakes_a_waiter() {
    let db = TestDb::create();
    let holder = PgStore::connect_with(db.url(), holding()).expect("a store");
    let waiter = PgStore::connect_with(db.url(), waiting(Listen::StoreUrl)).expect("a store");
    granted(holder.try_acquire("r", "holder", ms(60_000)));
    let (answer, waited) = thread::scope(|scope| {
        let wait = scope.spawn(|| {
            let started = Instant::now();
            let answer = waiter.acquire_for("r", "waiter", ms(60_000), WAIT);
            (answer, started.elapsed())
        });
        listener_subscribed(&db);
        assert!(matches!(holder.evict("r"), Ok(Evict::Evicted(_))));
        wait.join().expect("no panic")
    });
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(waited < WAIT / 2, "granted after {waited:?}: not woken");
}

/// The schema's channel, as the statements name it: `leasehold_` and the lock table's oid.
fn channel(client: &mut postgres::Client) -> String {
    let oid: u32 = client
        .query_one("SELECT 'leasehold.leasehold_locks'::regclass::oid", &[])
        .expect("the lock table")
        .get(0);
    format!("leasehold_{oid}")
}

/// The payloads `client` is notified of, up to and including `last`.
fn payloads_until(client: &mut postgres::Client, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut notifications = client.notifications();
    let mut arriving = notifications.timeout_iter(Duration::from_secs(10));
    while let Some(notification) = arriving.next().expect("the listening connection") {
        seen.push(notification.payload().to_owned());
        if notification.payload() == last {
            return seen;
        }
    }
    panic!("no notification for {last:?} within 10 s; saw {seen:?}");
}

/// Only a transition that freed a lease notifies: a release of a valid lease and an eviction.
/// A release after the expiry and a refused release do not. (Notifications arrive in commit
/// order, so everything before a marker's has arrived with it.)
#[test]
fn only_a_release_or_an_eviction_that_freed_a_lease_notifies() {
    let db = TestDb::create();
    let (store, clock) = db.store_at(1_000);
    let mut client = db.client();
    let channel = channel(&mut client);
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .expect("LISTEN");
    let expired = granted(store.try_acquire("expired", "o", ms(100)));
    let valid = granted(store.try_acquire("valid", "o", ms(60_000)));
    clock.advance(ms(200));
    assert_eq!(store.release(&expired).expect("release"), Release::Expired);
    assert!(matches!(
        store.release(&expired),
        Ok(Release::NotHolder(_) | Release::Expired)
    ));
    assert!(matches!(store.evict("expired"), Ok(Evict::NotHeld)));
    assert_eq!(store.release(&valid).expect("release"), Release::Released);
    assert_eq!(payloads_until(&mut client, "valid"), ["valid"]);
    granted(store.try_acquire("evicted", "o", ms(60_000)));
    assert!(matches!(store.evict("evicted"), Ok(Evict::Evicted(_))));
    assert_eq!(payloads_until(&mut client, "evicted"), ["evicted"]);
}

/// `Options::notify(false)`: the store's releases and evictions free leases and send nothing; a
/// notifying store's release after them is the first payload a listening client sees.
#[test]
fn a_store_told_not_to_notify_sends_nothing() {
    let db = TestDb::create();
    let quiet = PgStore::connect_with(db.url(), Options::new().notify(false)).expect("a store");
    let loud = db.store();
    let mut client = db.client();
    let channel = channel(&mut client);
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .expect("LISTEN");
    let released = granted(quiet.try_acquire("released", "o", ms(60_000)));
    assert_eq!(
        quiet.release(&released).expect("release"),
        Release::Released
    );
    granted(quiet.try_acquire("evicted", "o", ms(60_000)));
    assert!(matches!(quiet.evict("evicted"), Ok(Evict::Evicted(_))));
    granted(loud.try_acquire("evicted", "o", ms(60_000)));
    let marker = granted(loud.try_acquire("marker", "o", ms(60_000)));
    assert_eq!(loud.release(&marker).expect("release"), Release::Released);
    assert_eq!(payloads_until(&mut client, "marker"), ["marker"]);
}

/// The listener's connection is terminated while a caller waits: the waiter is still granted
/// (by its polls), and the listener connects again by itself.
#[test]
fn a_waiter_outlives_its_listener_being_terminated_and_the_listener_comes_back() {
    let db = TestDb::create();
    let holder = PgStore::connect_with(db.url(), holding()).expect("a store");
    let waiter = PgStore::connect(db.url()).expect("a store");
    let lease = granted(holder.try_acquire("r", "holder", ms(60_000)));
    let answer = thread::scope(|scope| {
        let wait = scope.spawn(|| waiter.acquire_for("r", "waiter", ms(60_000), ms(20_000)));
        let first = listener_subscribed(&db);
        let terminated: bool = db
            .client()
            .query_one("SELECT pg_terminate_backend($1)", &[&first])
            .expect("pg_terminate_backend")
            .get(0);
        assert!(terminated);
        assert_eq!(holder.release(&lease).expect("release"), Release::Released);
        let answer = wait.join().expect("no panic");
        let again = listener_subscribed(&db);
        assert_ne!(again, first, "the terminated listener is still there");
        assert_eq!(backends(&db, LISTENER), [again], "one listener per store");
        answer
    });
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
}

/// A throwaway cluster with a database `locks`, and PgBouncer in transaction mode in front of it
/// with a pool of two server connections.
fn cluster_behind_pgbouncer() -> (Cluster, PgBouncer) {
    let cluster = Cluster::start().expect("a cluster of its own");
    cluster.psql("CREATE DATABASE locks").expect("a database");
    let bouncer = PgBouncer::builder()
        .pool_size(2)
        .start(&cluster)
        .expect("pgbouncer (apt-get install pgbouncer)");
    (cluster, bouncer)
}

/// Through PgBouncer in transaction mode (which does not keep a `LISTEN`), waiting still works
/// with the default options, without an error; a listener pointed straight at the server
/// (`Listen::Url`) wakes the waiter as without a pooler.
#[test]
fn waiting_works_through_pgbouncer_in_transaction_mode() {
    let (cluster, bouncer) = cluster_behind_pgbouncer();
    let pooled = bouncer.url_for("locks");
    let holder = PgStore::connect_with(&pooled, holding()).expect("a store");
    // The default: the listener goes through the pooler too, and waiters poll.
    let waiter = PgStore::connect(&pooled).expect("a store");
    for round in 0..3 {
        let lease = granted(holder.try_acquire("r", "holder", ms(60_000)));
        let answer = thread::scope(|scope| {
            let wait = scope.spawn(|| waiter.acquire_for("r", "waiter", ms(60_000), ms(10_000)));
            thread::sleep(ms(300));
            assert_eq!(holder.release(&lease).expect("release"), Release::Released);
            wait.join().expect("no panic")
        });
        let lease = granted(answer);
        assert_eq!(
            waiter.release(&lease).expect("release"),
            Release::Released,
            "{round}"
        );
    }
    // Statements through the pooler, the listener straight to the server.
    let direct = Listen::Url(cluster.url_for("locks"));
    let waiter = PgStore::connect_with(&pooled, waiting(direct)).expect("a store");
    let lease = granted(holder.try_acquire("r", "holder", ms(60_000)));
    let (answer, waited) = thread::scope(|scope| {
        let wait = scope.spawn(|| {
            let started = Instant::now();
            let answer = waiter.acquire_for("r", "waiter", ms(60_000), WAIT);
            (answer, started.elapsed())
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let subscribed = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{LISTENER}' \
             AND state = 'idle' AND query LIKE '%pg_listening_channels%'"
        );
        while cluster.psql_in("locks", &subscribed).expect("psql").trim() == "0" {
            assert!(Instant::now() < deadline, "no listener subscribed");
            thread::sleep(ms(20));
        }
        assert_eq!(holder.release(&lease).expect("release"), Release::Released);
        wait.join().expect("no panic")
    });
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(waited < WAIT / 2, "granted after {waited:?}: not woken");
}

/// A holder that never releases (a crashed process): a waiter that hears nothing and polls
/// rarely still tries at the holder's expiry, and is granted then, well before its deadline.
#[test]
fn a_waiter_nobody_wakes_tries_at_the_holders_expiry() {
    let db = TestDb::create();
    let holder = PgStore::connect_with(db.url(), holding()).expect("a store");
    let waiter = PgStore::connect_with(db.url(), waiting(Listen::Off)).expect("a store");
    granted(holder.try_acquire("r", "crashed", ms(1_000)));
    let started = Instant::now();
    let answer = waiter.acquire_for("r", "waiter", ms(60_000), WAIT);
    let waited = started.elapsed();
    assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
    assert!(
        waited < WAIT / 2,
        "granted after {waited:?}: not at the expiry"
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let holder = AsyncPgStore::connect_with(db.url(), holding())
            .await
            .expect("a store");
        let waiter = AsyncPgStore::connect_with(db.url(), waiting(Listen::Off))
            .await
            .expect("a store");
        granted(holder.try_acquire("s", "crashed", ms(1_000)).await);
        let started = Instant::now();
        let answer = waiter.acquire_for("s", "waiter", ms(60_000), WAIT).await;
        let waited = started.elapsed();
        assert!(matches!(answer, Ok(Acquire::Granted(_))), "{answer:?}");
        assert!(
            waited < WAIT / 2,
            "granted after {waited:?}: not at the expiry"
        );
    });
}

/// The listener is one more connection, so it is opened only when a caller has to wait: not by
/// an `acquire_for` granted at once, and never with `Listen::Off`.
#[test]
fn the_listener_connects_only_when_a_caller_waits() {
    let db = TestDb::create();
    let holder = PgStore::connect_with(db.url(), holding()).expect("a store");
    let store = PgStore::connect(db.url()).expect("a store");
    let lease = granted(store.acquire_for("free", "o", ms(60_000), ms(1_000)));
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    granted(holder.try_acquire("held", "holder", ms(60_000)));
    let answer = holder.acquire_for("held", "other", ms(60_000), ms(300));
    assert!(matches!(answer, Ok(Acquire::Busy(_))), "{answer:?}");
    thread::sleep(ms(300));
    assert!(
        backends(&db, LISTENER).is_empty(),
        "a listener nobody needed"
    );
    let answer = store.acquire_for("held", "waiter", ms(60_000), ms(100));
    assert!(matches!(answer, Ok(Acquire::Busy(_))), "{answer:?}");
    listener_subscribed(&db);
    assert_eq!(backends(&db, LISTENER).len(), 1);
}
