//! Streaming replication: replay, catch-up through the slot, promotion; and that a synchronous
//! standby makes commits wait while an asynchronous one does not (each the other's control).

use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, Error, PsqlSession, Replication};

const REPLAY: Duration = Duration::from_secs(30);

#[test]
fn an_async_standby_replays_catches_up_and_is_promoted() {
    let started = Instant::now();
    let primary = Cluster::start().expect("a primary");
    let primary_ready = started.elapsed();
    let mut standby = primary
        .start_standby(Replication::Async)
        .expect("a standby");
    println!(
        "primary: {primary_ready:?}, standby (pg_basebackup + start + streaming): {:?}",
        started.elapsed() - primary_ready
    );

    primary
        .psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .expect("a write");
    let lsn = standby
        .wait_for_replay(&primary, REPLAY)
        .expect("the standby replays it");
    assert!(standby.replay_lsn().expect("a position") >= lsn);
    assert_eq!(
        standby
            .cluster()
            .psql("SELECT x FROM t")
            .expect("a read on the standby"),
        "1"
    );
    let refused = standby.cluster().psql("INSERT INTO t VALUES (9)");
    assert!(
        matches!(&refused, Err(Error::Query { stderr, .. }) if stderr.contains("read-only")),
        "{refused:?}"
    );

    // Negative control for the synchronous test: with the standby down, a commit does not wait.
    standby.cluster_mut().stop().expect("stop the standby");
    let mut session = PsqlSession::open(&primary.url()).expect("a session");
    let committing = Instant::now();
    session
        .run("INSERT INTO t VALUES (2)")
        .expect("an async commit needs no standby");
    assert!(
        committing.elapsed() < Duration::from_secs(1),
        "took {:?}",
        committing.elapsed()
    );
    assert!(
        standby.replay_lag_bytes(&primary).is_err(),
        "a stopped standby has no replay position"
    );

    standby
        .cluster_mut()
        .restart()
        .expect("restart the standby");
    standby
        .wait_for_replay(&primary, REPLAY)
        .expect("it catches up from the slot");
    assert_eq!(standby.replay_lag_bytes(&primary).expect("both run"), 0);

    let promoting = Instant::now();
    let promoted = standby.promote().expect("promotion");
    println!("promote: {:?}", promoting.elapsed());
    assert_eq!(
        promoted
            .psql("SELECT pg_is_in_recovery()")
            .expect("a query"),
        "f"
    );
    promoted
        .psql("INSERT INTO t VALUES (3)")
        .expect("the promoted standby takes writes");
    assert_eq!(
        promoted.psql("SELECT x FROM t ORDER BY x").expect("a read"),
        "1\n2\n3"
    );
}

#[test]
fn a_sync_standby_makes_commits_wait_until_it_is_back() {
    let primary = Cluster::start().expect("a primary");
    let mut standby = primary
        .start_standby(Replication::Sync)
        .expect("a sync standby");
    assert_eq!(
        primary
            .psql("SHOW synchronous_standby_names")
            .expect("a setting"),
        format!("\"{}\"", standby.cluster().name())
    );
    primary
        .psql("CREATE TABLE t (x int)")
        .expect("a commit with the standby up");

    standby.cluster_mut().stop().expect("stop the standby");
    let mut session = PsqlSession::open(&primary.url()).expect("a session");
    let pid = session.run("SELECT pg_backend_pid()").expect("a pid");
    session
        .send("INSERT INTO t VALUES (1)")
        .expect("send the insert");
    let waited = session.receive_for(Duration::from_secs(1));
    assert!(
        matches!(waited, Err(Error::Timeout { .. })),
        "the commit waits for the standby: {waited:?}"
    );
    let wait_event = primary.psql(&format!(
        "SELECT wait_event FROM pg_stat_activity WHERE pid = {pid}"
    ));
    assert_eq!(wait_event.expect("the session's state"), "SyncRep");

    standby
        .cluster_mut()
        .restart()
        .expect("restart the standby");
    session
        .receive_for(REPLAY)
        .expect("the commit completes once the standby is back");
    standby.wait_for_replay(&primary, REPLAY).expect("replay");
    assert_eq!(
        standby.cluster().psql("SELECT x FROM t").expect("a read"),
        "1"
    );

    // Dropping the standby releases the primary: commits stop waiting for it.
    drop(standby);
    session
        .send("INSERT INTO t VALUES (2)")
        .expect("send an insert");
    session
        .receive_for(Duration::from_secs(5))
        .expect("no standby to wait for");
}
