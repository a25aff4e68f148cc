//! Fresh databases and schemas: distinct, isolated, and dropped afterwards; on the shared server
//! and on a server given by URL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{
    Cluster, TestDb, URL_VAR, fresh_database, fresh_schema, process_database, psql,
    shared_server_url,
};

fn database_exists(admin_url: &str, name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql(admin_url, &sql).expect("a catalog query") == "1"
}

#[test]
fn fresh_databases_are_distinct_isolated_and_dropped() {
    let first = fresh_database().expect("a database");
    let second = fresh_database().expect("another database");
    assert_ne!(first.name(), second.name());
    first
        .psql("CREATE TABLE t (x int)")
        .expect("a table in the first");
    assert!(
        second.psql("SELECT * FROM t").is_err(),
        "the second does not see it"
    );

    let admin = shared_server_url().expect("the shared server");
    let name = first.name().to_owned();
    assert!(database_exists(&admin, &name));
    drop(first);
    assert!(!database_exists(&admin, &name), "dropped with its value");
}

#[test]
fn a_fresh_schema_is_the_search_path_of_its_url_and_is_dropped() {
    let schema = fresh_schema().expect("a schema");
    schema
        .psql("CREATE TABLE t (x int)")
        .expect("an unqualified table");
    let admin = shared_server_url().expect("the shared server");
    let count = format!(
        "SELECT count(*) FROM pg_tables WHERE schemaname = '{}'",
        schema.name()
    );
    assert_eq!(
        psql(&admin, &count).expect("a catalog query"),
        "1",
        "t went into the schema"
    );
    drop(schema);
    assert_eq!(
        psql(&admin, &count).expect("a catalog query"),
        "0",
        "dropped with what it held"
    );
}

/// The `LEASEHOLD_POSTGRES_URL` path, without touching the environment: a server given by URL.
#[test]
fn a_server_given_by_url_gets_fresh_databases_dropped_with_open_sessions() {
    let server = Cluster::start().expect("a cluster");
    let db = TestDb::create_on(&server.url()).expect("a database on it");
    assert!(db.url().starts_with(&format!(
        "postgres://postgres@127.0.0.1:{}/lh_test_",
        server.port()
    )));
    let mut session = leasehold_pg_harness::PsqlSession::open(db.url()).expect("an open session");
    session.run("SELECT 1").expect("connected");
    let name = db.name().to_owned();
    drop(db);
    assert!(
        !database_exists(&server.url(), &name),
        "dropped even with a session open"
    );
}

/// The variable that makes [`child_process_holding_a_process_database`] run (it is `#[ignore]`d,
/// and without the variable it returns at once).
const CHILD: &str = "LEASEHOLD_HARNESS_TEST_PROCESS_DB_CHILD";

#[test]
#[ignore = "run by a_process_database_on_a_server_given_by_url_is_dropped_when_the_process_dies"]
fn child_process_holding_a_process_database() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let db = process_database().expect("a process database");
    let again = process_database().expect("the same database");
    assert_eq!(db.name(), again.name(), "one database per process");
    psql(db.url(), "CREATE TABLE t (x int)").expect("usable");
    println!("database {}", db.name());
    thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_process_database_on_a_server_given_by_url_is_dropped_when_the_process_dies() {
    let server = Cluster::start().expect("a cluster");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "harness::testdb::child_process_holding_a_process_database",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env(URL_VAR, server.url())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary runs again");
    let stdout = child.stdout.take().expect("piped");
    let name = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("database ").map(str::to_owned))
        .expect("the child names its database");
    assert!(database_exists(&server.url(), &name), "{name} exists");
    child.kill().expect("SIGKILL the child");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while database_exists(&server.url(), &name) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !database_exists(&server.url(), &name),
        "the exit hook dropped {name}"
    );
}
