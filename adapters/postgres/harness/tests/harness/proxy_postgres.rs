//! The fault proxy in front of a real cluster, with `psql` as the client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, Error, FaultProxy, PsqlSession, psql};

#[test]
fn psql_through_the_proxy_times_out_in_a_blackhole_is_reset_and_recovers_on_heal() {
    // Lets a backend busy in a query notice that its client is gone (PostgreSQL 14 and later).
    let cluster = Cluster::builder()
        .conf_line("client_connection_check_interval = 100")
        .start();
    let cluster = cluster.expect("a cluster");
    let target = SocketAddr::from(([127, 0, 0, 1], cluster.port()));
    let proxy = FaultProxy::start(target).expect("a proxy");
    let url = format!("{}?connect_timeout=2", proxy.url_for("postgres"));
    assert_eq!(
        psql(&url, "SELECT 1").expect("a query through the proxy"),
        "1"
    );
    let mut session = PsqlSession::open(&url).expect("a session through the proxy");

    proxy.blackhole();
    let connecting = Instant::now();
    let refused = psql(&url, "SELECT 1");
    let waited = connecting.elapsed();
    assert!(
        matches!(&refused, Err(Error::Query { stderr, .. }) if stderr.contains("timeout expired")),
        "{refused:?}"
    );
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    session.send("SELECT 7").expect("send on the open session");
    let silent = session.receive_for(Duration::from_secs(1));
    assert!(
        matches!(silent, Err(Error::Timeout { .. })),
        "no answer in a blackhole: {silent:?}"
    );

    proxy.heal();
    assert_eq!(
        session
            .receive_for(Duration::from_secs(10))
            .expect("the held query is answered"),
        "7"
    );
    assert_eq!(psql(&url, "SELECT 2").expect("healed"), "2");

    session.send("SELECT pg_sleep(30)").expect("a long query");
    let sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'";
    wait_for(|| cluster.psql(sleeping).expect("a catalog query") == "1");
    let resetting = Instant::now();
    assert_eq!(proxy.reset(), 1, "one connection was open");
    let reset = session.receive_for(Duration::from_secs(10));
    // libpq words a reset and an end-of-file alike; the echo test tells RST from FIN.
    let Err(Error::Query { stderr, .. }) = reset else {
        panic!("psql must see the reset: {reset:?}")
    };
    assert!(
        stderr.contains("server closed the connection unexpectedly"),
        "{stderr}"
    );
    assert!(
        resetting.elapsed() < Duration::from_secs(5),
        "not after the 30 s query"
    );
    wait_for(|| cluster.psql(sleeping).expect("a catalog query") == "0");
    assert_eq!(
        psql(&url, "SELECT 3").expect("new connections after a reset"),
        "3"
    );
    let stats = proxy.stats();
    assert!(
        stats.accepted >= 5 && stats.reset >= 1 && stats.bytes_to_client > 0,
        "{stats:?}"
    );
}

/// Polls `condition` every 20 ms for up to 10 s; panics if it never holds.
fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}
