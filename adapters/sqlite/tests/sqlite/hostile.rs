//! Hostile-but-legal setups: an application's connection in a state, or with a setting, under
//! which the store could not keep its promises is refused with a typed error before anything is
//! written; leases of another database are refused; shadowing objects are never consulted.

use std::path::{Path, PathBuf};

use leasehold_sqlite::{Error, Fenced, Release, Renew, SqliteStore};
use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;

use super::support::{granted, ms, raw, row_count};

/// A database at `dir/app.db` that already has the leasehold schema.
fn database(dir: &Path) -> PathBuf {
    let path = dir.join("app.db");
    drop(SqliteStore::open(&path).expect("created"));
    path
}

/// What a database holds, read through a fresh connection: its schema, its rows and its journal
/// mode. (Its bytes can change without anyone writing: closing the last connection of a WAL
/// database checkpoints it.)
fn content(path: &Path) -> Vec<String> {
    let conn = raw(path);
    let mut lines: Vec<String> = Vec::new();
    let mut dump = |sql: &str| {
        let mut statement = conn.prepare(sql).expect("a query");
        let rows = statement
            .query_map([], |row| {
                Ok(format!("{:?}", (row.get_ref(0)?, row.get_ref(1)?)))
            })
            .expect("rows");
        lines.extend(rows.map(|row| row.expect("a row")));
    };
    dump("SELECT name, sql FROM main.sqlite_schema ORDER BY name");
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM main.sqlite_schema WHERE name = 'leasehold_meta'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    if has_meta {
        dump("SELECT key, value FROM main.leasehold_meta ORDER BY key");
        dump("SELECT resource, token FROM main.leasehold_locks ORDER BY resource");
    }
    dump("SELECT 'journal_mode', journal_mode FROM pragma_journal_mode");
    lines
}

/// Hands `conn` to `from_connection` and expects `matches`, with nothing written.
fn refused(path: &Path, conn: Connection, matches: impl FnOnce(&Error) -> bool) {
    let before = content(path);
    let result = SqliteStore::from_connection(conn);
    match &result {
        Err(e) if matches(e) => {}
        other => panic!("unexpected: {other:?}"),
    }
    drop(result);
    assert_eq!(
        content(path),
        before,
        "a refused connection wrote something"
    );
}

fn unsafe_setting(setting: &str) -> impl FnOnce(&Error) -> bool + '_ {
    move |e| matches!(e, Error::UnsafeSetting { setting: s, .. } if s.contains(setting))
}

/// The audit's first bug: a connection left inside a transaction would run every "atomic"
/// statement inside the application's transaction, invisible to other stores, and roll the
/// grant back when the connection went away — the same token then issued to a second holder.
#[test]
fn a_connection_inside_a_transaction_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let conn = raw(&path);
    conn.execute_batch("BEGIN").expect("an open transaction");
    refused(&path, conn, |e| matches!(e, Error::InTransaction));
    // And the scenario the audit reproduced cannot happen: the first grant is the only one.
    let store = SqliteStore::open(&path).expect("store");
    let first = granted(store.try_acquire("r", "alice", ms(60_000)));
    let other = SqliteStore::open(&path).expect("another store");
    let busy = other.try_acquire("r", "bob", ms(60_000));
    assert!(
        matches!(&busy, Ok(leasehold_sqlite::Acquire::Busy(h)) if h.token() == first.token()),
        "{busy:?}"
    );
}

#[test]
fn a_connection_with_triggers_disabled_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let conn = raw(&path);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)
        .expect("triggers off");
    refused(&path, conn, unsafe_setting("triggers"));
}

#[test]
fn a_connection_that_ignores_check_constraints_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let conn = raw(&path);
    conn.execute_batch("PRAGMA ignore_check_constraints = ON")
        .expect("set");
    refused(&path, conn, unsafe_setting("ignore_check_constraints"));
}

#[test]
fn a_connection_that_replaces_a_built_in_function_is_refused() {
    for name in ["max", "min", "length"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = database(dir.path());
        let conn = raw(&path);
        conn.create_scalar_function(name, 2, FunctionFlags::SQLITE_UTF8, |_| Ok(0_i64))
            .expect("registered");
        refused(
            &path,
            conn,
            |e| matches!(e, Error::UnsafeSetting { found, .. } if found == name),
        );
    }
}

#[test]
fn temp_objects_that_shadow_or_intercept_leasehold_tables_are_refused() {
    let setups = [
        "CREATE TEMP TABLE leasehold_locks (resource TEXT PRIMARY KEY)",
        "CREATE TEMP TABLE leasehold_meta (key TEXT, value INTEGER)",
        "CREATE TEMP TRIGGER sneaky AFTER UPDATE ON main.leasehold_locks BEGIN SELECT 1; END",
        "CREATE TEMP VIEW leasehold_view AS SELECT * FROM main.leasehold_locks",
    ];
    for setup in setups {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = database(dir.path());
        let conn = raw(&path);
        conn.execute_batch(setup).expect("temp object");
        refused(&path, conn, unsafe_setting("TEMP"));
    }
}

/// The audit's third setup: a `TEMP` table named `leasehold_locks` on a store's connection made
/// after it was handed over (here by a fenced closure) is never consulted — every statement
/// names `main` — so two stores still cannot both grant.
#[test]
fn a_shadowing_temp_table_created_later_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let first = SqliteStore::open(&path).expect("store");
    let lease = granted(first.try_acquire("guard", "a", ms(60_000)));
    let created = first.with_fence(&lease, |tx| {
        tx.execute_batch(
            "CREATE TEMP TABLE leasehold_locks (resource TEXT PRIMARY KEY, owner TEXT, \
             token INTEGER, request_id BLOB, acquired_at INTEGER, expires_at INTEGER, \
             status INTEGER)",
        )?;
        Ok::<_, Error>(())
    });
    assert!(matches!(created, Ok(Fenced::Committed(()))), "{created:?}");
    let second = SqliteStore::open(&path).expect("another store");
    granted(first.try_acquire("r", "a", ms(60_000)));
    let busy = second.try_acquire("r", "b", ms(60_000));
    assert!(
        matches!(busy, Ok(leasehold_sqlite::Acquire::Busy(_))),
        "{busy:?}"
    );
    assert!(first.holder("r").expect("read").is_some());
}

#[test]
fn a_connection_without_a_rollback_journal_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let conn = raw(&path);
    // WAL cannot be switched off while it is in use; a fresh rollback-journal file can.
    drop(conn);
    let plain = dir.path().join("plain.db");
    let conn = raw(&plain);
    conn.execute_batch("PRAGMA journal_mode = OFF")
        .expect("no journal");
    refused(&plain, conn, unsafe_setting("journal_mode"));
}

#[test]
fn a_query_only_connection_is_read_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = database(dir.path());
    let conn = raw(&path);
    conn.execute_batch("PRAGMA query_only = ON").expect("set");
    refused(&path, conn, |e| matches!(e, Error::ReadOnly));
}

/// The audit's fifth setup: a lease issued by one database renewed, released and fenced in
/// another with the same resource name and token number. Each is refused; nothing changes.
#[test]
fn a_lease_of_another_database_is_refused_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let here = SqliteStore::open(dir.path().join("here.db")).expect("store");
    let there = SqliteStore::open(dir.path().join("there.db")).expect("store");
    let theirs = granted(there.try_acquire("r", "a", ms(60_000)));
    let ours = granted(here.try_acquire("r", "a", ms(60_000)));
    assert_ne!(here.store_id(), there.store_id());
    let foreign = |e: &Error| {
        matches!(e, Error::ForeignLease { lease, store }
        if *lease == there.store_id() && *store == here.store_id())
    };
    let renewed = here.renew(&theirs, ms(1_000));
    assert!(renewed.as_ref().is_err_and(foreign), "{renewed:?}");
    let released = here.release(&theirs);
    assert!(released.as_ref().is_err_and(foreign), "{released:?}");
    let fenced = here.with_fence(&theirs, |_| Ok::<_, Error>(()));
    assert!(fenced.as_ref().is_err_and(foreign), "{fenced:?}");
    // Our own lease is untouched and still ours.
    assert_eq!(
        here.holder("r").expect("read").map(|h| h.token()),
        Some(ours.token())
    );
    assert!(matches!(
        here.renew(&ours, ms(1_000)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(here.release(&ours).expect("released"), Release::Released);
    assert_eq!(row_count(&here), 1);
}

/// A row edited by hand into something the core's types cannot hold (an owner with a control
/// character, which no `CHECK` rules out) is reported as `CorruptRow` naming the resource, by
/// every call that reads it, and nothing is written.
#[test]
fn a_row_edited_by_hand_is_a_typed_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = database(dir.path());
    let store = SqliteStore::open(&path).expect("opened");
    granted(store.try_acquire("r", "alice", ms(60_000)));
    raw(&path)
        .execute(
            "UPDATE leasehold_locks SET owner = 'mallory' || char(10) WHERE resource = 'r'",
            [],
        )
        .expect("edited by hand");
    let before = content(&path);
    let corrupt = |e: Error| match e {
        Error::CorruptRow { resource, reason } => (resource, reason),
        other => panic!("expected CorruptRow, got {other:?}"),
    };
    let expected = ("r".to_owned(), "invalid owner");
    assert_eq!(corrupt(store.holder("r").unwrap_err()), expected);
    assert_eq!(corrupt(store.holders().unwrap_err()), expected);
    assert_eq!(
        corrupt(
            store
                .try_acquire("r", "bob", ms(1_000))
                .expect_err("a refused acquire reads the row")
        ),
        expected
    );
    assert_eq!(content(&path), before, "nothing was written");
}

/// Two names of one database file (a hard link) would give two WAL files and two views of the
/// locks: opening it under either name is refused, and nothing is written.
#[cfg(unix)]
#[test]
fn a_database_file_with_a_second_name_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = database(dir.path());
    let other = dir.path().join("other.db");
    std::fs::hard_link(&path, &other).expect("a hard link");
    let before = content(&path);
    for name in [&path, &other] {
        match SqliteStore::open(name) {
            Err(Error::UnsafeSetting { found, .. }) => {
                assert!(found.contains("2 links"), "{found}");
            }
            other => panic!("expected UnsafeSetting, got {other:?}"),
        }
    }
    let conn = Connection::open(&other).expect("a connection");
    assert!(matches!(
        SqliteStore::from_connection(conn),
        Err(Error::UnsafeSetting { .. })
    ));
    assert_eq!(content(&path), before, "nothing was written");
    std::fs::remove_file(&other).expect("the link removed");
    assert!(SqliteStore::open(&path).is_ok(), "one name again: accepted");
}

/// A trigger of the application's on a leasehold table could rewrite what the statements write
/// (here: reset the pruned high-water mark, so that tokens would restart): refused at open.
#[test]
fn a_trigger_of_the_applications_on_a_leasehold_table_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = database(dir.path());
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER app_meta AFTER UPDATE ON leasehold_meta BEGIN \
             UPDATE leasehold_meta SET value = 0 WHERE key = 'pruned_high_water' \
             AND NEW.value <> 0; END;",
        )
        .expect("a trigger");
    let before = content(&path);
    match SqliteStore::open(&path) {
        Err(Error::SchemaMismatch {
            found: Some(found), ..
        }) => {
            assert!(found.contains("app_meta"), "{found}");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    assert_eq!(content(&path), before, "nothing was written");
}
