//! Bad input and faults: each gets a typed error, and each leaves the database as it was.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use leasehold_core::{DecideError, NameError, NameKind, TtlError};
use leasehold_sqlite::{
    Acquire, Durability, Error, Fenced, ManualClock, Options, SqliteStore, Timestamp,
};
use rusqlite::Connection;

use super::support::{
    CountingSeam, granted, is_root, ms, raw, row_count, rows, store_at, store_with_seam,
};

#[test]
fn the_database_busy_past_the_timeout_is_a_distinct_error_with_no_effect() {
    let fixture = store_at(1_000, Durability::Full);
    let lease = granted(fixture.store.try_acquire("r", "a", ms(1_000)));
    let options = Options::new()
        .busy_timeout(Duration::from_millis(50))
        .clock(fixture.clock.clone());
    let store = SqliteStore::open_with(&fixture.path, options).expect("second store");
    let rows_before = rows(&store);

    let blocker = raw(&fixture.path);
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("write lock held");
    let started = Instant::now();
    assert!(matches!(
        store.try_acquire("other", "b", ms(10)),
        Err(Error::Busy)
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "waited the busy timeout"
    );
    assert!(matches!(store.renew(&lease, ms(10)), Err(Error::Busy)));
    assert!(matches!(store.release(&lease), Err(Error::Busy)));
    assert!(matches!(store.evict("r"), Err(Error::Busy)));
    assert!(matches!(store.prune(ms(0)), Err(Error::Busy)));
    let fenced = store.with_fence(&lease, |_| Ok::<_, Error>(()));
    assert!(matches!(fenced, Err(Error::Busy)));
    // Reads do not wait for the writer in WAL mode.
    assert_eq!(rows(&store), rows_before);
    blocker.execute_batch("ROLLBACK").expect("released");
    assert_eq!(rows(&store), rows_before, "no partial effect");
}

#[test]
fn invalid_names_and_ttls_get_the_core_errors_and_send_no_statement() {
    let seam = CountingSeam::default();
    let fixture = store_with_seam(1_000, Durability::Full, seam.clone());
    let store = &fixture.store;
    seam.take();
    let resource = NameKind::Resource;
    let cases = [
        (
            store.try_acquire("", "a", ms(1)),
            Error::InvalidName(NameError::Empty { kind: resource }),
        ),
        (
            store.try_acquire("r", "a\nb", ms(1)),
            Error::InvalidName(NameError::ControlCharacter {
                kind: NameKind::Owner,
                offset: 1,
            }),
        ),
        (
            store.try_acquire(&"x".repeat(256), "a", ms(1)),
            Error::InvalidName(NameError::TooLong {
                kind: resource,
                len: 256,
            }),
        ),
        (
            store.try_acquire("r", "a", Duration::ZERO),
            Error::InvalidTtl(TtlError::Zero),
        ),
        (
            store.try_acquire("r", "a", Duration::MAX),
            Error::InvalidTtl(TtlError::TooLong),
        ),
        (
            store.acquire_for("r", "a", Duration::ZERO, ms(10)),
            Error::InvalidTtl(TtlError::Zero),
        ),
    ];
    for (result, expected) in cases {
        let error = result.expect_err("refused");
        assert_eq!(error.to_string(), expected.to_string());
    }
    let token = leasehold_sqlite::FencingToken::FIRST;
    assert!(matches!(store.holder(""), Err(Error::InvalidName(_))));
    assert!(matches!(store.evict("a\u{7f}"), Err(Error::InvalidName(_))));
    assert!(matches!(
        store.release_by_token("", token),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        store.renew_by_token("r", token, Duration::ZERO),
        Err(Error::InvalidTtl(_))
    ));
    assert_eq!(seam.take(), [], "refused input reached the database");
    assert_eq!(row_count(store), 0);
}

#[test]
fn unstorable_times_are_refused_by_the_core_rules() {
    let max = i64::MAX.unsigned_abs();
    let fixture = store_at(max - 5, Durability::Full);
    let store = &fixture.store;
    let overflow = store.try_acquire("r", "a", ms(10));
    assert!(matches!(
        overflow,
        Err(Error::Rejected(DecideError::ExpiryOverflow { .. }))
    ));
    fixture.clock.set(Timestamp::from_millis(max + 1));
    let out_of_range = store.try_acquire("r", "a", ms(1));
    assert!(matches!(
        out_of_range,
        Err(Error::Rejected(DecideError::ClockOutOfRange { .. }))
    ));
    assert!(matches!(store.holders(), Err(Error::Rejected(_))));
    assert_eq!(row_count(store), 0);
}

#[test]
fn tokens_exhausted_is_refused_and_changes_nothing() {
    let fixture = store_at(1_000, Durability::Full);
    let conn = raw(&fixture.path);
    conn.execute(
        "INSERT INTO leasehold_locks VALUES ('spent', 'o', 9223372036854775807, zeroblob(16), 0, 10, 1)",
        [],
    )
    .expect("seeded");
    let before = rows(&fixture.store);
    let result = fixture.store.try_acquire("spent", "a", ms(10));
    assert!(
        matches!(result, Err(Error::Rejected(DecideError::TokensExhausted))),
        "{result:?}"
    );
    assert_eq!(rows(&fixture.store), before);

    // The same through the high-water mark, for a resource with no row.
    conn.execute("DELETE FROM leasehold_locks", [])
        .expect("deleted by hand");
    let mark = rows(&fixture.store).pruned_high_water();
    assert_eq!(
        mark.map(leasehold_core::FencingToken::get),
        Some(i64::MAX.unsigned_abs()),
        "the trigger kept it"
    );
    let result = fixture.store.try_acquire("fresh", "a", ms(10));
    assert!(
        matches!(result, Err(Error::Rejected(DecideError::TokensExhausted))),
        "{result:?}"
    );
    assert_eq!(row_count(&fixture.store), 0);
}

/// The audit's sixth setup: with the high-water mark at `i64::MAX`, a resource that *has* a row
/// with a small token continues from its own token, as the core says — the store used to refuse
/// it, because the insert's `VALUES` overflowed before the conflict was found.
#[test]
fn a_recorded_resource_is_granted_even_with_the_mark_at_the_limit() {
    use leasehold_core::{AcquireOutcome, Outcome, Owner, Request, Ttl};

    let fixture = store_at(1_000, Durability::Full);
    let first = granted(fixture.store.try_acquire("r", "a", ms(10)));
    raw(&fixture.path)
        .execute(
            "UPDATE leasehold_meta SET value = 9223372036854775807 WHERE key = 'pruned_high_water'",
            [],
        )
        .expect("the mark at the limit");
    fixture.clock.advance(ms(10));
    // The core, on the very state the store holds, grants the next token of the resource.
    let mut reference = rows(&fixture.store);
    let id = fixture.store.new_request_id();
    let request = Request::Acquire {
        owner: Owner::new("b").expect("valid"),
        request_id: id,
        ttl: Ttl::from_millis(10).expect("non-zero"),
    };
    let expected = reference.apply(first.resource(), &request, Timestamp::from_millis(1_010));
    let Ok(Outcome::Acquire(AcquireOutcome::Granted(grant))) = expected else {
        panic!("the core refuses: {expected:?}");
    };
    let next = granted(fixture.store.try_acquire_with_id("r", "b", ms(10), id));
    assert_eq!(next.token(), grant.token);
    assert_eq!(next.token().get(), first.token().get() + 1);
    assert_eq!(rows(&fixture.store), reference);
}

/// The store waits for a write lock held for less than the busy timeout, and the statement then
/// runs: a short hold is waited out, not reported.
#[test]
fn a_write_lock_held_for_less_than_the_busy_timeout_is_waited_out() {
    let fixture = store_at(1_000, Durability::Full);
    let blocker = raw(&fixture.path);
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("write lock held");
    let hold = Duration::from_millis(40);
    let started = Instant::now();
    let acquired = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| fixture.store.try_acquire("r", "a", ms(1_000)));
        std::thread::sleep(hold);
        blocker.execute_batch("COMMIT").expect("released");
        waiter.join().expect("no panic")
    });
    assert!(matches!(acquired, Ok(Acquire::Granted(_))), "{acquired:?}");
    assert!(started.elapsed() >= hold, "the acquire waited for the lock");
}

/// An application's rollback-journal database, with a reader that holds a read transaction: a
/// writer can take the write lock but cannot commit until the reader finishes. Statements and
/// fenced transactions wait for it up to the busy timeout; past it, nothing is changed.
#[test]
fn a_rollback_journal_database_with_a_long_reader_is_waited_out_or_left_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    let options = Options::new()
        .clock(clock)
        .busy_timeout(Duration::from_millis(150));
    let store = SqliteStore::from_connection_with(raw(&path), options).expect("store");
    let lease = granted(store.try_acquire("r", "a", ms(60_000)));
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "delete", "the application's journal mode is kept");

    let reader = raw(&path);
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM leasehold_locks;")
        .expect("a read transaction");
    let before = rows(&store);
    let busy = store.try_acquire("s", "b", ms(60_000));
    assert!(matches!(busy, Err(Error::Busy)), "{busy:?}");
    let fenced = store.with_fence(&lease, |tx| {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS work (step TEXT)")?;
        Ok::<_, Error>(())
    });
    assert!(matches!(fenced, Err(Error::Busy)), "{fenced:?}");
    assert_eq!(rows(&store), before, "nothing changed past the timeout");

    // A reader that finishes within the timeout is waited out, by a statement and by a fence.
    drop(reader);
    let read_briefly = || {
        let reader = raw(&path);
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM leasehold_locks;")
            .expect("a read transaction");
        move || {
            std::thread::sleep(Duration::from_millis(40));
            reader.execute_batch("COMMIT").expect("reader done");
        }
    };
    let done = std::thread::scope(|scope| {
        scope.spawn(read_briefly());
        store.try_acquire("s", "b", ms(60_000))
    });
    assert!(matches!(done, Ok(Acquire::Granted(_))), "{done:?}");
    let fenced = std::thread::scope(|scope| {
        scope.spawn(read_briefly());
        store.with_fence(&lease, |tx| {
            tx.execute_batch("CREATE TABLE work (step TEXT); INSERT INTO work VALUES ('1');")?;
            Ok::<_, Error>(())
        })
    });
    assert!(matches!(fenced, Ok(Fenced::Committed(()))), "{fenced:?}");
    let steps: i64 = raw(&path)
        .query_row("SELECT count(*) FROM work", [], |r| r.get(0))
        .expect("the fenced write committed");
    assert_eq!(steps, 1);
}

#[test]
fn a_fenced_closure_that_ends_the_transaction_itself_is_reported() {
    let fixture = store_at(1_000, Durability::Full);
    let lease = granted(fixture.store.try_acquire("r", "a", ms(60_000)));
    let ended = fixture.store.with_fence(&lease, |tx| {
        tx.execute_batch("COMMIT")?;
        Ok::<_, Error>(())
    });
    assert!(matches!(ended, Err(Error::FenceEnded)), "{ended:?}");
    // The store's connection is usable afterwards.
    assert!(fixture.store.holder("r").expect("read").is_some());
    granted(fixture.store.try_acquire("s", "a", ms(10)));
}

/// A small file system, mounted for the test. Needs root (CI runs as root).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: mounting a small file system needs root (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs as root failed");
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_typed_error_and_loses_nothing_committed() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let path = disk.path().join("locks.db");
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    let options = || {
        Options::new()
            .clock(clock.clone())
            .durability(Durability::Relaxed)
    };
    let store = SqliteStore::open_with(&path, options()).expect("store");
    let filler = "f".repeat(200);
    let mut granted_count = 0_u32;
    let error = loop {
        let name = format!("{granted_count:05}-{filler}");
        match store.try_acquire(&name, &filler, ms(60_000)) {
            Ok(Acquire::Granted(_)) => granted_count += 1,
            Ok(other) => panic!("a fresh resource is free: {other:?}"),
            Err(e) => break e,
        }
        assert!(granted_count < 100_000, "the disk never filled");
    };
    assert!(matches!(error, Error::StorageFull(_)), "{error:?}");
    assert!(granted_count > 50, "only {granted_count} grants fit");
    // Everything granted before is there, and nothing of the failed grant.
    let table = rows(&store);
    assert_eq!(
        table.records().count(),
        usize::try_from(granted_count).expect("small")
    );
    let failed = format!("{granted_count:05}-{filler}");
    assert!(store.holder(&failed).expect("reads work").is_none());
    // A new store on the full disk still opens and reads every lease.
    drop(store);
    let again = SqliteStore::open_with(&path, options()).expect("reopened on a full disk");
    assert_eq!(
        again.holders().expect("read").len(),
        usize::try_from(granted_count).expect("small")
    );
}

#[test]
fn from_connection_keeps_the_application_tables_and_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    let conn = Connection::open(&path).expect("app");
    conn.execute_batch(
        "PRAGMA user_version = 42;
         CREATE TABLE plans (id INTEGER PRIMARY KEY, title TEXT);
         INSERT INTO plans (title) VALUES ('ship it');",
    )
    .expect("app schema");
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    let store =
        SqliteStore::from_connection_with(conn, Options::new().clock(clock)).expect("store");
    granted(store.try_acquire("plans/1", "a", ms(10)));
    drop(store);

    let conn = raw(&path);
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("v");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    let title: String = conn
        .query_row("SELECT title FROM plans", [], |r| r.get(0))
        .expect("row");
    assert_eq!(
        (user_version, mode.as_str(), title.as_str()),
        (42, "delete", "ship it")
    );
    // And the application's database reopens as a lock store.
    assert!(SqliteStore::from_connection(conn).is_ok());
}
