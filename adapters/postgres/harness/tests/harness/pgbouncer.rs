//! PgBouncer in transaction pooling mode really moves a client between server connections, which
//! breaks session-level prepared statements; in session mode (the control) it does not.

use std::time::Instant;

use leasehold_pg_harness::{Cluster, Error, PgBouncer, PoolMode, PsqlSession, psql};

/// Client A prepares a statement in a transaction; client B then opens a transaction, taking the
/// only server connection that exists; A executes the statement. Returns A's two backend pids,
/// B's pid, and the outcome of A's `EXECUTE`.
fn prepare_then_execute_while_another_client_holds_a_transaction(
    url: &str,
) -> (String, String, String, Result<String, Error>) {
    let mut a = PsqlSession::open(url).expect("client A");
    let mut b = PsqlSession::open(url).expect("client B");
    let a_first = a
        .run("BEGIN; PREPARE p AS SELECT 42; SELECT pg_backend_pid(); COMMIT")
        .expect("A prepares");
    let b_pid = b
        .run("BEGIN; SELECT pg_backend_pid()")
        .expect("B holds a transaction");
    let executed = a.run("EXECUTE p");
    let a_second = a
        .run("SELECT pg_backend_pid()")
        .expect("A's next transaction");
    b.run("COMMIT").expect("B commits");
    (a_first, a_second, b_pid, executed)
}

#[test]
fn transaction_pooling_moves_a_client_between_backends_and_breaks_prepared_statements() {
    let cluster = Cluster::start().expect("a cluster");
    let started = Instant::now();
    let bouncer = PgBouncer::builder()
        .pool_size(2)
        .start(&cluster)
        .expect("pgbouncer starts");
    println!("pgbouncer start: {:?}", started.elapsed());
    assert_eq!(
        psql(&bouncer.url(), "SELECT 1").expect("a query through pgbouncer"),
        "1"
    );

    let (a_first, a_second, b_pid, executed) =
        prepare_then_execute_while_another_client_holds_a_transaction(&bouncer.url());
    assert_eq!(
        b_pid, a_first,
        "B's transaction runs on the server connection A used"
    );
    assert_ne!(
        a_second, a_first,
        "A's next transaction runs on another backend"
    );
    let Err(Error::Query { stderr, .. }) = executed else {
        panic!("EXECUTE p must fail: {executed:?}")
    };
    assert!(
        stderr.contains("prepared statement \"p\" does not exist"),
        "{stderr}"
    );

    // The control: in session mode A keeps its server connection, so the statement is there.
    let session_mode = PgBouncer::builder()
        .pool_mode(PoolMode::Session)
        .pool_size(2)
        .start(&cluster);
    let session_mode = session_mode.expect("pgbouncer in session mode");
    let (a_first, a_second, b_pid, executed) =
        prepare_then_execute_while_another_client_holds_a_transaction(&session_mode.url());
    assert_ne!(b_pid, a_first);
    assert_eq!(a_second, a_first, "A keeps its backend");
    assert_eq!(executed.expect("EXECUTE p works in session mode"), "42");

    let pid = bouncer.pid().expect("running");
    drop(bouncer);
    assert!(
        !leasehold_pg_harness::group_alive(pid),
        "pgbouncer is gone after drop"
    );
}
