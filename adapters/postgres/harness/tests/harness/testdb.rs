//! Fresh databases and schemas: distinct, isolated, and dropped afterwards; on the shared server
//! and on a server given by URL.

use leasehold_pg_harness::{
    Cluster, TestDb, fresh_database, fresh_schema, psql, shared_server_url,
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
