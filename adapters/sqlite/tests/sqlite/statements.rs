//! Each successful state change is exactly one write statement (one write transaction); each
//! refused one is that write plus one read, and the write changed nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use leasehold_sqlite::{
    Acquire, Durability, Evict, Options, Release, Renew, SqliteStore, Statement, Timestamp,
};
use rusqlite::Connection;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

use super::support::{CountingSeam, ms, store_with_seam};

fn granted(outcome: Acquire) -> leasehold_sqlite::Lease {
    match outcome {
        Acquire::Granted(lease) => lease,
        Acquire::Busy(holder) => panic!("expected a grant, got busy {holder:?}"),
    }
}

#[test]
fn each_operation_sends_one_write_and_at_most_one_read() {
    let seam = CountingSeam::default();
    let fixture = store_with_seam(1_000, Durability::Full, seam.clone());
    let store = &fixture.store;
    seam.take(); // forget opening

    let lease = granted(store.try_acquire("r", "a", ms(100)).expect("acquire"));
    assert_eq!(seam.take(), [Statement::Acquire], "successful acquire");

    assert!(matches!(
        store.try_acquire("r", "b", ms(100)),
        Ok(Acquire::Busy(_))
    ));
    assert_eq!(
        seam.take(),
        [Statement::Acquire, Statement::ReadLock],
        "busy acquire"
    );

    assert!(matches!(
        store.renew(&lease, ms(200)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(seam.take(), [Statement::Renew], "successful renew");

    assert!(matches!(store.evict("r"), Ok(Evict::Evicted(_))));
    assert_eq!(seam.take(), [Statement::Evict], "evict");

    assert!(matches!(store.renew(&lease, ms(200)), Ok(Renew::Lost(_))));
    assert_eq!(
        seam.take(),
        [Statement::Renew, Statement::ReadLock],
        "lost renew"
    );

    assert!(matches!(
        store.release(&lease),
        Ok(Release::NotHolder(None))
    ));
    assert_eq!(
        seam.take(),
        [Statement::Release, Statement::ReadLock],
        "not-holder release"
    );

    let lease = granted(store.try_acquire("r", "b", ms(100)).expect("acquire"));
    seam.take();
    assert!(matches!(store.release(lease), Ok(Release::Released)));
    assert_eq!(seam.take(), [Statement::Release], "successful release");

    assert!(matches!(store.evict("r"), Ok(Evict::NotHeld)));
    assert_eq!(seam.take(), [Statement::Evict], "evict of nothing");

    fixture.clock.advance(ms(10));
    assert_eq!(store.prune(ms(0)).expect("prune"), 1);
    assert_eq!(seam.take(), [Statement::Prune], "prune");
}

/// What SQLite itself saw on one connection: statements started, commits, rows changed.
#[derive(Clone, Default)]
struct SqliteView {
    statements: Arc<Mutex<Vec<String>>>,
    commits: Arc<AtomicUsize>,
}

impl SqliteView {
    fn attach(&self, conn: &mut Connection) {
        let statements = Arc::clone(&self.statements);
        let trace = move |event: TraceEvent<'_>| {
            if let TraceEvent::Stmt(_, sql) = event {
                statements
                    .lock()
                    .expect("not poisoned")
                    .push(sql.to_owned());
            }
        };
        conn.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(trace))
            .expect("trace installed");
        let commits = Arc::clone(&self.commits);
        conn.commit_hook(Some(move || {
            commits.fetch_add(1, Ordering::SeqCst);
            false
        }))
        .expect("hook installed");
    }

    /// `(statements sent, commits)` since the last call.
    fn take(&self) -> (Vec<String>, usize) {
        let statements = std::mem::take(&mut *self.statements.lock().expect("not poisoned"));
        (statements, self.commits.swap(0, Ordering::SeqCst))
    }
}

#[test]
fn sqlite_sees_one_statement_and_one_commit_per_change_and_no_write_when_busy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locks.db");
    let mut conn = Connection::open(&path).expect("open");
    // What `Durability::Full` sets; `from_connection` leaves these to the application.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .expect("pragmas");
    let view = SqliteView::default();
    view.attach(&mut conn);
    let clock = leasehold_sqlite::ManualClock::new(Timestamp::from_millis(5_000));
    let options = Options::new().clock(clock.clone());
    let store = SqliteStore::from_connection_with(conn, options).expect("store");
    view.take();

    let lease = granted(store.try_acquire("r", "a", ms(100)).expect("acquire"));
    let (mut sent, commits) = view.take();
    // SQLite traces the token guard an insert fires as a `-- TRIGGER` comment: not a statement.
    sent.retain(|sql| !sql.starts_with("-- "));
    assert_eq!((sent.len(), commits), (1, 1), "acquire: {sent:?}");
    assert!(
        sent[0].starts_with("INSERT INTO main.leasehold_locks"),
        "{sent:?}"
    );

    let wal = dir.path().join("locks.db-wal");
    let wal_before = std::fs::metadata(&wal).expect("WAL exists").len();
    let other = Connection::open(&path).expect("second connection");
    let version = |c: &Connection| -> i64 {
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
            .expect("data_version")
    };
    let data_before = version(&other);

    assert!(matches!(
        store.try_acquire("r", "b", ms(100)),
        Ok(Acquire::Busy(_))
    ));
    let (sent, _) = view.take();
    assert_eq!(
        sent.len(),
        2,
        "busy acquire sends the write and one read: {sent:?}"
    );
    // SQLite opens (and ends) a write transaction for the refused upsert — the commit hook fires
    // — but it changes no page: no WAL frame is appended, so there is nothing to fsync, and no
    // other connection sees a new version of the database.
    assert_eq!(
        std::fs::metadata(&wal).expect("WAL").len(),
        wal_before,
        "WAL grew"
    );
    assert_eq!(
        version(&other),
        data_before,
        "another connection saw a change"
    );

    assert!(matches!(
        store.renew(&lease, ms(300)),
        Ok(Renew::Renewed(_))
    ));
    let (sent, commits) = view.take();
    assert_eq!((sent.len(), commits), (1, 1), "renew: {sent:?}");
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    let (sent, commits) = view.take();
    assert_eq!((sent.len(), commits), (1, 1), "release: {sent:?}");
    clock.advance(ms(1));
    assert_eq!(store.holder("r").expect("holder"), None);
}

/// `Statement::sql` is published so that other tools (the benchmarks' floor) can run the same
/// statements without the store: it must be the very text SQLite runs for each operation.
#[test]
fn statement_sql_is_the_text_sqlite_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = Connection::open(dir.path().join("locks.db")).expect("open");
    let view = SqliteView::default();
    view.attach(&mut conn);
    let clock = leasehold_sqlite::ManualClock::new(Timestamp::from_millis(5_000));
    let store = SqliteStore::from_connection_with(conn, Options::new().clock(clock.clone()))
        .expect("store");
    view.take();
    let sent = |expected: &[Statement], what: &str| {
        let texts: Vec<_> = expected
            .iter()
            .map(|s| s.sql().expect("one statement"))
            .collect();
        // SQLite also traces the trigger a prune fires, as `-- ` comments: not statements sent.
        let mut ran = view.take().0;
        ran.retain(|sql| !sql.starts_with("-- "));
        assert_eq!(ran, texts, "{what}");
    };

    let lease = granted(store.try_acquire("r", "a", ms(100)).expect("acquire"));
    sent(&[Statement::Acquire], "acquire");
    assert!(matches!(
        store.try_acquire("r", "b", ms(100)),
        Ok(Acquire::Busy(_))
    ));
    sent(&[Statement::Acquire, Statement::ReadLock], "busy acquire");
    assert!(matches!(
        store.renew(&lease, ms(200)),
        Ok(Renew::Renewed(_))
    ));
    sent(&[Statement::Renew], "renew");
    assert_eq!(store.holders().expect("holders").len(), 1);
    sent(&[Statement::ListLocks], "holders");
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    sent(&[Statement::Release], "release");
    assert!(matches!(store.evict("r"), Ok(Evict::NotHeld)));
    sent(&[Statement::Evict], "evict");
    clock.advance(ms(10));
    assert_eq!(store.prune(ms(0)).expect("prune"), 1);
    sent(&[Statement::Prune], "prune");
}

#[test]
fn statements_that_are_not_one_sql_statement_have_no_text() {
    for statement in [
        Statement::ReadRecords,
        Statement::FencedTransaction,
        Statement::Schema,
    ] {
        assert_eq!(statement.sql(), None, "{statement:?}");
    }
}
