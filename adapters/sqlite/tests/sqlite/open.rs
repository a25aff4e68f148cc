//! Opening: every database this build must refuse gets a typed error and is left as it was;
//! a version-1 database is upgraded; concurrent first openers all succeed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use leasehold_sqlite::{Acquire, Error, Options, SqliteStore};

use super::support::{files, granted, is_root, ms, raw, row_count, rows};

/// A closed database at `dir/locks.db` with the leasehold schema and one granted lease.
fn existing_database(dir: &Path) -> PathBuf {
    let path = dir.join("locks.db");
    let store = SqliteStore::open(&path).expect("created");
    granted(store.try_acquire("r", "o", ms(60_000)));
    path
}

/// Opens `path` and expects it refused with `matches`, the directory's files unchanged.
fn refused_untouched(path: &Path, matches: impl FnOnce(&Error) -> bool) {
    let dir = path.parent().expect("a directory");
    let before = files(dir);
    let result = SqliteStore::open(path);
    match &result {
        Err(e) if matches(e) => {}
        other => panic!("unexpected: {other:?}"),
    }
    drop(result);
    assert_eq!(
        files(dir),
        before,
        "the file changed, or -wal/-shm appeared"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.txt");
    let bytes: Vec<u8> = (0..8_192_u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &bytes).expect("written");
    refused_untouched(
        &path,
        |e| matches!(e, Error::NotADatabase { path: p } if *p == path),
    );
}

#[test]
fn a_truncated_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = existing_database(dir.path());
    // Checkpointed and closed: the whole database is in the main file. Keep its header and cut
    // the rest, as a copy interrupted half-way would.
    let bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 4_096, "{} bytes", bytes.len());
    std::fs::write(&path, &bytes[..1_000]).expect("truncated");
    refused_untouched(&path, |e| {
        matches!(e, Error::Corrupt(_) | Error::NotADatabase { .. })
    });
}

#[test]
fn a_database_with_a_damaged_page_is_refused_or_reported_never_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = existing_database(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    // Overwrite every page after the first (the schema page stays readable) with garbage.
    for (i, byte) in bytes.iter_mut().enumerate().skip(4_096) {
        *byte = u8::try_from(i % 251).expect("small");
    }
    std::fs::write(&path, &bytes).expect("damaged");
    match SqliteStore::open(&path) {
        // The schema page survived: the damage shows at the first read of a lock row.
        Ok(store) => {
            let read = store.holder("r");
            assert!(matches!(read, Err(Error::Corrupt(_))), "{read:?}");
        }
        Err(e) => assert!(matches!(e, Error::Corrupt(_)), "{e:?}"),
    }
}

#[test]
fn a_newer_schema_version_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = existing_database(dir.path());
    raw(&path)
        .execute(
            "UPDATE leasehold_meta SET value = 3 WHERE key = 'schema_version'",
            [],
        )
        .expect("bumped");
    refused_untouched(&path, |e| {
        matches!(
            e,
            Error::SchemaTooNew {
                found: 3,
                supported: 2
            }
        )
    });
}

#[test]
fn version_zero_and_missing_meta_rows_are_refused_untouched() {
    let edits = [
        "UPDATE leasehold_meta SET value = 0 WHERE key = 'schema_version'",
        "DELETE FROM leasehold_meta WHERE key = 'schema_version'",
        "DELETE FROM leasehold_meta WHERE key = 'pruned_high_water'",
        "DELETE FROM leasehold_meta WHERE key = 'store_id'",
        "UPDATE leasehold_meta SET value = -5 WHERE key = 'pruned_high_water'",
    ];
    for edit in edits {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = existing_database(dir.path());
        raw(&path).execute(edit, []).expect("edited");
        refused_untouched(&path, |e| matches!(e, Error::SchemaMismatch { .. }));
    }
}

#[test]
fn a_leasehold_table_of_another_shape_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    // The shape of the lock table in the bug report: text timestamps, no token.
    raw(&path)
        .execute_batch(
            "CREATE TABLE leasehold_locks (resource TEXT PRIMARY KEY, owner TEXT, expires TEXT);
             INSERT INTO leasehold_locks VALUES ('plan/42', 'worker-a', '2026-04-10T19:04:33Z');",
        )
        .expect("app schema");
    refused_untouched(&path, |e| {
        matches!(e, Error::SchemaMismatch { object: "leasehold_locks", found: Some(sql) }
            if sql.contains("expires TEXT"))
    });
}

/// The exact schema version 1 wrote, with a lease and a prune behind it.
fn version_1_database(path: &Path) {
    let v1 = "CREATE TABLE leasehold_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
CREATE TABLE leasehold_locks (
  resource    TEXT    PRIMARY KEY,
  owner       TEXT    NOT NULL,
  token       INTEGER NOT NULL CHECK (token > 0),
  request_id  BLOB    NOT NULL CHECK (length(request_id) = 16),
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  status      INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER leasehold_locks_keep_high_water AFTER DELETE ON leasehold_locks BEGIN
  UPDATE leasehold_meta SET value = MAX(value, OLD.token) WHERE key = 'pruned_high_water';
END;
INSERT INTO leasehold_meta (key, value) VALUES ('schema_version', 1), ('pruned_high_water', 7);
INSERT INTO leasehold_locks VALUES ('kept', 'o', 4, zeroblob(16), 0, 10, 1);";
    raw(path).execute_batch(v1).expect("a version-1 database");
}

#[test]
fn a_version_1_database_is_upgraded_and_its_tokens_continue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v1.db");
    version_1_database(&path);
    let store = SqliteStore::open(&path).expect("upgraded");
    let version: i64 = raw(&path)
        .query_row(
            "SELECT value FROM leasehold_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("version");
    assert_eq!(version, 2);
    let kept = granted(store.try_acquire("kept", "a", ms(1_000)));
    assert_eq!(kept.token().get(), 5, "a recorded resource continues");
    let vacant = granted(store.try_acquire("vacant", "a", ms(1_000)));
    assert_eq!(
        vacant.token().get(),
        8,
        "a vacant one starts above the mark"
    );
    // A second store of the same file sees the same id.
    let again = SqliteStore::open(&path).expect("reopened");
    assert_eq!(again.store_id(), store.store_id());
}

#[test]
fn concurrent_openers_of_a_new_file_all_succeed_and_agree_on_the_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = Arc::new(dir.path().join("new.db"));
    let barrier = Arc::new(Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                SqliteStore::open(path.as_path()).map(|store| store.store_id())
            })
        })
        .collect();
    let ids: Vec<_> = openers
        .into_iter()
        .map(|opener| opener.join().expect("no panic").expect("opened"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] == pair[1]), "{ids:?}");
    let meta_rows: i64 = raw(path.as_path())
        .query_row("SELECT count(*) FROM leasehold_meta", [], |r| r.get(0))
        .expect("count");
    assert_eq!(meta_rows, 3, "the schema was created once");
}

#[test]
fn a_busy_timeout_of_duration_max_means_wait_as_long_as_it_takes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locks.db");
    let options = Options::new().busy_timeout(Duration::MAX);
    let store = SqliteStore::open_with(&path, options).expect("no overflow");
    // A write lock held for a while is waited out, not reported.
    let blocker = raw(&path);
    blocker.execute_batch("BEGIN IMMEDIATE").expect("locked");
    let acquired = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| store.try_acquire("r", "a", ms(1_000)));
        std::thread::sleep(Duration::from_millis(100));
        blocker.execute_batch("COMMIT").expect("released");
        waiter.join().expect("no panic")
    });
    assert!(matches!(acquired, Ok(Acquire::Granted(_))), "{acquired:?}");
}

#[test]
fn an_in_memory_database_cannot_be_put_in_wal_mode_and_is_refused() {
    let result = SqliteStore::open(":memory:");
    assert!(
        matches!(&result, Err(Error::UnsafeSetting { found, .. }) if found == "memory"),
        "{result:?}"
    );
}

#[test]
fn a_new_database_tokens_start_above_its_creation_instant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locks.db");
    let first = SqliteStore::open(&path).expect("created");
    let lease = granted(first.try_acquire("r", "a", ms(60_000)));
    let created_ms = lease.acquired_at().as_millis();
    // Created at most a few seconds before the grant, in microseconds.
    assert!(
        lease.token().get() > (created_ms - 10_000) * 1_000,
        "{lease:?}"
    );
    assert!(lease.token().get() <= created_ms * 1_000 + 1, "{lease:?}");
    drop(first);
    // Deleted and created again: a new id, and tokens above every old one.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::thread::sleep(Duration::from_millis(2));
    let second = SqliteStore::open(&path).expect("created again");
    let again = granted(second.try_acquire("r", "b", ms(60_000)));
    assert!(again.token() > lease.token(), "{again:?} after {lease:?}");
    assert_ne!(second.store_id(), lease.store_id());
    let refused = second.release(&lease);
    assert!(
        matches!(refused, Err(Error::ForeignLease { .. })),
        "{refused:?}"
    );
    assert_eq!(rows(&second).records().count(), 1);
    assert_eq!(row_count(&second), 1);
}

// Read-only file and directory. Root ignores permission bits, so as root the checks run in a
// child process (this test binary, copied where anyone can run it) as user `nobody`, via
// util-linux `setpriv`. Without root they run in this process. They never skip.

const CHILD_DIR: &str = "LEASEHOLD_READ_ONLY_DIR";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs the check `name` on `dir` without privileges, in a child process when we are root.
fn unprivileged(name: &str, dir: &Path, check: fn(&Path)) {
    if !is_root() {
        return check(dir);
    }
    let exe = dir.parent().expect("parent").join("leasehold-test-child");
    std::fs::copy(std::env::current_exe().expect("test binary"), &exe).expect("copied");
    chmod(&exe, 0o755);
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", name, "--ignored", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .output()
        .expect("setpriv runs (util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The directory handed to a child check; `None` when run by hand without a parent.
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR).map(PathBuf::from)
}

fn expect_read_only(path: &Path) {
    refused_untouched(path, |e| matches!(e, Error::ReadOnly));
}

#[test]
fn a_read_only_file_is_refused_untouched() {
    let root = tempfile::tempdir().expect("temp dir");
    chmod(root.path(), 0o755);
    let dir = root.path().join("rw");
    std::fs::create_dir(&dir).expect("dir");
    let path = existing_database(&dir);
    chmod(&path, 0o444);
    chmod(&dir, 0o777); // only the file is read-only
    unprivileged("open::child_read_only_file", &dir, |dir| {
        expect_read_only(&dir.join("locks.db"));
    });
}

#[test]
fn a_read_only_directory_is_refused_untouched() {
    let root = tempfile::tempdir().expect("temp dir");
    chmod(root.path(), 0o755);
    let dir = root.path().join("ro");
    std::fs::create_dir(&dir).expect("dir");
    let path = existing_database(&dir);
    chmod(&path, 0o666); // the file is writable; WAL's -shm and -wal cannot be created
    chmod(&dir, 0o555);
    unprivileged("open::child_read_only_directory", &dir, |dir| {
        expect_read_only(&dir.join("locks.db"));
        expect_read_only(&dir.join("new.db"));
    });
}

#[test]
#[ignore = "run by a_read_only_file_is_refused_untouched in an unprivileged child"]
fn child_read_only_file() {
    if let Some(dir) = child_dir() {
        expect_read_only(&dir.join("locks.db"));
    }
}

#[test]
#[ignore = "run by a_read_only_directory_is_refused_untouched in an unprivileged child"]
fn child_read_only_directory() {
    if let Some(dir) = child_dir() {
        expect_read_only(&dir.join("locks.db"));
        expect_read_only(&dir.join("new.db"));
    }
}
