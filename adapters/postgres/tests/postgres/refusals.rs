//! Every bad input and every server or schema the store must refuse gets a typed error, and the
//! database is left as it was.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use leasehold_pg_harness::Cluster;
use leasehold_postgres::{
    AsyncPgStore, Error, ErrorKind, ManualClock, NameError, Options, PgStore, Seam, Statement,
    StoreError, Timestamp, TtlError, Verdict,
};

use super::support::{TestDb, TestRole, granted, ms};

fn refused(result: Result<PgStore, Error>) -> Error {
    match result {
        Ok(store) => panic!("the store was not refused: {store:?}"),
        Err(e) => e,
    }
}

#[test]
fn connection_strings_that_do_not_parse_are_refused_before_anything_is_sent() {
    for url in [
        "postgres://[::1",
        "host=127.0.0.1 port=notaport",
        "postgres://h/db?nonsense=1",
    ] {
        let e = refused(PgStore::connect(url));
        assert!(matches!(e, Error::InvalidUrl(_)), "{url}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::Setup);
    }
}

#[test]
fn a_server_that_is_not_there_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address").port()
    };
    let e = refused(PgStore::connect(&format!(
        "postgres://postgres@127.0.0.1:{port}/db"
    )));
    assert!(matches!(e, Error::Connect(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
}

#[test]
fn a_database_that_does_not_exist_is_refused_and_not_created() {
    let db = TestDb::create();
    let missing = format!("{}_missing", db.name());
    let url = db.url().replace(db.name(), &missing);
    let e = refused(PgStore::connect(&url));
    assert!(matches!(e, Error::NoSuchDatabase(_)), "{e:?}");
    let exists = db.value(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{missing}'"
    ));
    assert_eq!(exists, 0);
}

/// A cluster of its own whose `pg_hba.conf` asks every role but the superuser for a password.
#[test]
fn a_wrong_password_is_refused() {
    let cluster = Cluster::start().expect("a cluster");
    cluster
        .psql("CREATE ROLE app LOGIN PASSWORD 'right'")
        .expect("a role with a password");
    std::fs::write(
        cluster.data_dir().join("pg_hba.conf"),
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\n\
         host all all 127.0.0.1/32 scram-sha-256\n",
    )
    .expect("pg_hba.conf written");
    cluster.psql("SELECT pg_reload_conf()").expect("reloaded");
    let url = |password: &str| {
        format!(
            "postgres://app:{password}@127.0.0.1:{}/postgres",
            cluster.port()
        )
    };
    let e = refused(PgStore::connect(&url("wrong")));
    assert!(matches!(e, Error::Auth(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Setup);
    // The right password gets past authentication (and is refused later: the role may not
    // create the schema in the `postgres` database, which is not this test's business).
    let e = refused(PgStore::connect(&url("right")));
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
}

#[test]
fn a_role_that_may_only_read_is_refused_and_changes_nothing() {
    let db = TestDb::create();
    let reader = TestRole::create(&db);
    // Without the schema: the role may not create it.
    let before = db.dump();
    let e = refused(PgStore::connect(&reader.url(&db)));
    assert!(
        matches!(
            e,
            Error::PermissionDenied {
                source: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(db.dump(), before, "the refused role created something");
    // With the schema, created by its owner: the role may read it, not write it.
    granted(db.store().try_acquire("r", "owner", ms(60_000)));
    db.sql(&format!(
        "GRANT USAGE ON SCHEMA leasehold TO {0}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA leasehold TO {0}",
        reader.name()
    ));
    let before = db.dump();
    let e = refused(PgStore::connect(&reader.url(&db)));
    let Error::PermissionDenied {
        privilege,
        source: None,
    } = &e
    else {
        panic!("{e:?}");
    };
    assert!(privilege.starts_with("INSERT on"), "{privilege}");
    assert_eq!(db.dump(), before);
    // Granted what it lacks, the same role is a store.
    db.sql(&format!(
        "GRANT INSERT, UPDATE, DELETE ON leasehold.leasehold_locks TO {0}; \
         GRANT UPDATE ON leasehold.leasehold_meta TO {0}",
        reader.name()
    ));
    let store = PgStore::connect(&reader.url(&db)).expect("a store with every privilege");
    assert!(store.holder("r").expect("a read").is_some());
}

#[test]
fn a_read_only_session_is_refused() {
    let db = TestDb::create();
    db.store();
    db.sql(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        db.name()
    ));
    let e = refused(PgStore::connect(db.url()));
    assert!(matches!(e, Error::ReadOnly(None)), "{e:?}");
}

/// A database with the schema and one lease in it; `edit` then changes it by hand.
fn edited(edit: &str) -> TestDb {
    let db = TestDb::create();
    let store = db.store();
    granted(store.try_acquire("r", "o", ms(60_000)));
    drop(store);
    db.sql(edit);
    db
}

fn refused_untouched(db: &TestDb, matches: impl FnOnce(&Error) -> bool) {
    let before = db.dump();
    let e = refused(PgStore::connect(db.url()));
    assert!(matches(&e), "{e:?}");
    assert_eq!(db.dump(), before, "the refused schema changed");
}

#[test]
fn a_newer_schema_version_is_refused_untouched() {
    let db = edited("UPDATE leasehold.leasehold_meta SET value = 2 WHERE key = 'schema_version'");
    refused_untouched(&db, |e| {
        matches!(
            e,
            Error::SchemaTooNew {
                found: 2,
                supported: 1
            }
        )
    });
}

#[test]
fn a_schema_of_another_shape_is_refused_untouched() {
    let edits = [
        "DELETE FROM leasehold.leasehold_meta WHERE key = 'store_id'",
        "UPDATE leasehold.leasehold_meta SET value = 0 WHERE key = 'schema_version'",
        "UPDATE leasehold.leasehold_meta SET value = -1 WHERE key = 'pruned_high_water'",
        "ALTER TABLE leasehold.leasehold_locks ADD COLUMN note text",
        "ALTER TABLE leasehold.leasehold_locks DROP CONSTRAINT leasehold_locks_token_check",
        "DROP TRIGGER leasehold_keep_high_water ON leasehold.leasehold_locks",
        "ALTER TABLE leasehold.leasehold_locks DISABLE TRIGGER leasehold_token_guard",
        "CREATE OR REPLACE FUNCTION leasehold.leasehold_keep_high_water() RETURNS trigger \
         LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         RETURN NEW; END $$; CREATE TRIGGER audit BEFORE UPDATE ON leasehold.leasehold_locks \
         FOR EACH ROW EXECUTE FUNCTION public.audit()",
        "ALTER TABLE leasehold.leasehold_locks ENABLE ROW LEVEL SECURITY",
    ];
    for edit in edits {
        let db = edited(edit);
        refused_untouched(&db, |e| matches!(e, Error::SchemaMismatch { .. }));
    }
}

#[test]
fn a_table_of_the_same_name_from_another_program_is_refused_untouched() {
    let db = TestDb::create();
    // The shape of the lock table in the seed bug report: text timestamps, no token.
    db.sql(
        "CREATE SCHEMA leasehold; \
         CREATE TABLE leasehold.leasehold_locks (resource text PRIMARY KEY, owner text, expires text); \
         INSERT INTO leasehold.leasehold_locks VALUES ('plan/42', 'worker-a', '2026-04-10T19:04:33Z')",
    );
    refused_untouched(
        &db,
        |e| matches!(e, Error::SchemaMismatch { object, .. } if object == "leasehold_meta"),
    );
}

/// Counts every statement the store sends.
#[derive(Clone, Debug, Default)]
struct Sent(Arc<AtomicUsize>);

impl Seam for Sent {
    fn answered(&self, _statement: Statement, _succeeded: bool) -> Verdict {
        self.0.fetch_add(1, Ordering::SeqCst);
        Verdict::Deliver
    }
}

#[test]
fn names_over_the_limit_zero_ttls_and_clocks_out_of_range_send_nothing() {
    let db = TestDb::create();
    let sent = Sent::default();
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    let options = Options::new().clock(clock.clone()).seam(sent.clone());
    let store = PgStore::connect_with(db.url(), options).expect("a store");
    let lease = granted(store.try_acquire("r", "o", ms(1_000)));
    let before = (db.dump(), sent.0.load(Ordering::SeqCst));
    let long = "x".repeat(256);
    let name_errors = [
        store.try_acquire(&long, "o", ms(10)).err(),
        store.try_acquire("r", &long, ms(10)).err(),
        store.try_acquire("", "o", ms(10)).err(),
        store.try_acquire("a\nb", "o", ms(10)).err(),
        store.holder(&long).err(),
        store.evict(&long).err(),
        store.release_by_token(&long, lease.token()).err(),
        store.renew_by_token(&long, lease.token(), ms(10)).err(),
    ];
    for e in name_errors {
        assert!(matches!(e, Some(Error::InvalidName(_))), "{e:?}");
    }
    assert!(matches!(
        store.try_acquire(&long, "o", ms(10)),
        Err(Error::InvalidName(NameError::TooLong { len: 256, .. }))
    ));
    for e in [
        store.try_acquire("r", "o", ms(0)).err(),
        store.renew(&lease, ms(0)).err(),
        store.acquire_for("r", "o", ms(0), ms(10)).err(),
    ] {
        assert!(
            matches!(e, Some(Error::InvalidTtl(TtlError::Zero))),
            "{e:?}"
        );
    }
    clock.set(Timestamp::from_millis(u64::MAX));
    for e in [
        store.try_acquire("r", "o", ms(10)).err(),
        store.holders().err(),
        store.prune(ms(0)).err(),
    ] {
        assert!(matches!(e, Some(Error::Rejected(_))), "{e:?}");
    }
    assert_eq!(
        (db.dump(), sent.0.load(Ordering::SeqCst)),
        before,
        "something was sent"
    );
}

#[test]
fn schema_names_the_store_cannot_use_are_refused_before_connecting() {
    // Nothing listens there: a refusal that tried to connect would be a connect error.
    let url = "postgres://postgres@127.0.0.1:1/nowhere";
    for name in ["", "pg_locks", "bad\u{7}name", &"s".repeat(64)] {
        let e = refused(PgStore::connect_with(url, Options::new().schema(name)));
        assert!(
            matches!(e, Error::InvalidSchemaName { .. }),
            "{name:?}: {e:?}"
        );
    }
}

#[test]
fn a_client_inside_a_transaction_is_refused_and_a_closed_one_cannot_be_replaced() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let connect = || async {
            let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
                .await
                .expect("client");
            tokio::spawn(connection);
            client
        };
        let client = connect().await;
        client.batch_execute("BEGIN").await.expect("a transaction");
        let e = AsyncPgStore::from_client(client)
            .await
            .expect_err("refused");
        assert!(matches!(e, Error::InTransaction), "{e:?}");
        let store = AsyncPgStore::from_client(connect().await)
            .await
            .expect("accepted");
        assert!(store.holder("r").await.expect("a read").is_none());
        db.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        tokio::time::sleep(ms(100)).await;
        let e = store.holder("r").await.expect_err("the client is gone");
        assert!(
            matches!(e, Error::ConnectionClosed | Error::Disconnected { .. }),
            "{e:?}"
        );
        let e = store.holder("r").await.expect_err("no reconnection");
        assert!(matches!(e, Error::ConnectionClosed), "{e:?}");
    });
}

/// A `search_path` that puts a schema before `pg_catalog`: an operator there (here a `<=` on
/// `bigint` that is always true, which would make every lease look expired) would replace the
/// built-in one in the statements. Refused at open, with nothing created; the default path,
/// and one that names `pg_catalog` first, are accepted and keep exclusion.
#[test]
fn a_search_path_that_puts_a_schema_before_pg_catalog_is_refused() {
    let db = TestDb::create();
    db.sql(
        "CREATE FUNCTION public.always(bigint, bigint) RETURNS boolean \
         LANGUAGE sql AS 'SELECT true'; \
         CREATE OPERATOR public.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.always)",
    );
    let before = db.dump();
    let with_path = |path: &str| {
        let separator = if db.url().contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{path}", db.url())
    };
    let hijacked = with_path("public,pg_catalog");
    let e = refused(PgStore::connect(&hijacked));
    assert!(
        matches!(&e, Error::UnsupportedServer { setting: "search_path", found, .. } if found.starts_with("public")),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Setup);
    assert_eq!(db.dump(), before, "nothing was created");
    let named_first = with_path("pg_catalog,public");
    let store = PgStore::connect(&named_first).expect("pg_catalog first is accepted");
    granted(store.try_acquire("r", "a", ms(60_000)));
    let other = PgStore::connect(db.url()).expect("the default path is accepted");
    assert!(matches!(
        other.try_acquire("r", "b", ms(60_000)),
        Ok(leasehold_postgres::Acquire::Busy(_))
    ));
}
