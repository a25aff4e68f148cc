//! The facade over PostgreSQL (feature `postgres`), against real servers from the test harness:
//! `open` with a `postgres://` URL gives the PostgreSQL store; a guard keeps its lease and loses it
//! when evicted; behind a blackholed connection it loses it at its deadline, which is before the
//! store's expiry by the server's clock; the async guard and the command work the same way.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use leasehold::{
    Acquire, AsyncStore, GuardEvent, HoldOptions, KeeperConfig, Listen, LossReason, LostReason,
    Options, Ttl,
};
use leasehold_pg_harness::{Cluster, FaultProxy, fresh_database};

use crate::support::{Running, Scratch, events, leasehold_without_db, names, wall_us_of};

#[test]
fn a_postgres_url_opens_the_postgresql_store_and_a_guard_keeps_and_loses_its_lease() {
    let db = fresh_database().expect("a database");
    let store = leasehold::open(db.url()).expect("open");
    assert!(store.as_postgres().is_some() && store.as_sqlite().is_none());
    let guard = store
        .hold("r", "a", Duration::from_millis(900), Duration::ZERO)
        .expect("hold")
        .expect("free");
    let first = guard.lease().expires_at().as_millis();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        guard.is_valid(),
        "lost while renewing: {:?}",
        guard.try_lost()
    );
    let holder = store.holder("r").expect("read").expect("held");
    assert_eq!(holder.token(), guard.token());
    assert!(
        holder.expires_at().as_millis() >= first + 900,
        "renewed on the server"
    );
    let admin = leasehold::open(db.url()).expect("open");
    assert!(matches!(admin.evict("r"), Ok(leasehold::Evict::Evicted(_))));
    let lost = guard.lost_for(Duration::from_secs(3));
    assert_eq!(lost, Some(LossReason::Refused(LostReason::Evicted)));
}

/// `Options::listen` reaches the PostgreSQL store: with `Listen::Off` a waiting caller opens no
/// listener connection; with the default, it opens one.
#[test]
fn the_listen_option_reaches_the_postgresql_store() {
    let db = fresh_database().expect("a database");
    let listeners = || {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'leasehold-listener'",
            db.name()
        );
        db.psql(&sql)
            .expect("psql")
            .trim()
            .parse::<i64>()
            .expect("a count")
    };
    let holder = leasehold::open(db.url()).expect("open");
    let held = holder
        .try_acquire("r", "holder", Duration::from_secs(60))
        .expect("acquire");
    assert!(matches!(held, Acquire::Granted(_)), "{held:?}");
    let off = leasehold::open_with(db.url(), Options::new().listen(Listen::Off)).expect("open");
    let waited = off.acquire_for(
        "r",
        "w",
        Duration::from_secs(60),
        Duration::from_millis(200),
    );
    assert!(matches!(waited, Ok(Acquire::Busy(_))), "{waited:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(listeners(), 0, "a listener with Listen::Off");
    let waited = holder.acquire_for(
        "r",
        "w",
        Duration::from_secs(60),
        Duration::from_millis(200),
    );
    assert!(matches!(waited, Ok(Acquire::Busy(_))), "{waited:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while listeners() == 0 {
        assert!(Instant::now() < deadline, "no listener with the default");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn behind_a_blackhole_the_guard_loses_the_lease_at_its_deadline_before_the_servers_expiry() {
    let cluster = Cluster::start().expect("a cluster of its own");
    cluster.psql("CREATE DATABASE locks").expect("a database");
    let address = format!("127.0.0.1:{}", cluster.port())
        .parse()
        .expect("an address");
    let proxy = FaultProxy::start(address).expect("a proxy");
    // A short I/O timeout frees the keeper's thread sooner; the deadline does not depend on it.
    let options = Options::new().io_timeout(Some(Duration::from_millis(300)));
    let store = leasehold::open_with(&proxy.url_for("locks"), options).expect("open");
    let (tx, events) = mpsc::channel();
    let options = HoldOptions::new(KeeperConfig::new(
        Ttl::from_millis(1_500).expect("positive"),
    ))
    .on_event(move |e| {
        let _ = tx.send(e.clone());
    });
    let guard = store
        .hold_with("r", "a", Duration::ZERO, options)
        .expect("hold")
        .expect("free");
    let lease = loop {
        match events
            .recv_timeout(Duration::from_secs(5))
            .expect("a renewal")
        {
            GuardEvent::Renewed { lease, .. } => break lease,
            GuardEvent::RenewFailed { .. } => {}
            other => panic!("expected a renewal, got {other:?}"),
        }
    };
    proxy.blackhole();
    let deadline = guard.deadline();
    let lost = guard.lost_for(Duration::from_secs(5));
    let lost_at = Instant::now();
    assert_eq!(lost, Some(LossReason::DeadlinePassed));
    assert!(lost_at >= deadline && lost_at - deadline < Duration::from_millis(500));
    // The server's clock is this host's: the deadline is before the expiry it wrote.
    let expiry_us = i128::from(lease.expires_at().as_millis()) * 1_000;
    assert!(
        wall_us_of(deadline) < expiry_us,
        "the deadline is after the server's expiry"
    );
    proxy.heal();
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_guard_on_postgresql_resolves_lost_on_eviction() {
    let db = tokio::task::spawn_blocking(|| fresh_database().expect("a database"))
        .await
        .expect("join");
    let store = AsyncStore::open(db.url()).await.expect("open");
    let guard = store
        .hold("r", "a", Duration::from_millis(900), Duration::ZERO)
        .await
        .expect("hold")
        .expect("free");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(guard.is_valid());
    assert!(matches!(
        store.evict("r").await,
        Ok(leasehold::Evict::Evicted(_))
    ));
    let lost = tokio::time::timeout(Duration::from_secs(3), guard.lost())
        .await
        .expect("lost within 3 s");
    assert_eq!(lost, LossReason::Refused(LostReason::Evicted));
    drop(guard);
    tokio::task::spawn_blocking(move || drop(db))
        .await
        .expect("join");
}

#[test]
fn the_command_runs_under_a_postgresql_lease() {
    let db = fresh_database().expect("a database");
    let scratch = Scratch::new();
    let mut command = leasehold_without_db(&scratch);
    command
        .args([
            "--db",
            db.url(),
            "--json",
            "run",
            "pg",
            "--ttl",
            "900ms",
            "--grace",
            "100ms",
        ])
        .args(["--", "sleep", "0.5"]);
    let (status, _, lines) = Running::start(command).finish(Duration::from_secs(20));
    assert!(status.success(), "{lines:#?}");
    let names = names(&events(&lines));
    for name in ["acquired", "renewed", "child_exited", "released", "exit"] {
        assert!(names.contains(&name.to_owned()), "no {name} in {names:?}");
    }
    let status = leasehold_without_db(&scratch)
        .args(["--db", db.url(), "status", "pg"])
        .output()
        .expect("status");
    assert_eq!(status.status.code(), Some(1), "released: {status:?}");
}
