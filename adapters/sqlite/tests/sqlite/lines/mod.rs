//! The lines of waiters shared between processes (`<database>-lines/`): for a lease
//! ([`lease`]) and for SQLite's write lock ([`write`]). Each store here stands for a process (its
//! own connection, its own place in line); the killed ones are real processes (this test binary,
//! run as a child) killed with SIGKILL.

mod lease;
mod write;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_sqlite::{Durability, Options, Release, SqliteStore};
use tempfile::TempDir;

use crate::support::{granted, ms};

pub(super) const RESOURCE: &str = "hot";
/// Set in a child process of this binary: `<role>:<database path>`.
const CHILD: &str = "LEASEHOLD_LINES_CHILD";

/// A database file in a fresh directory; stores on it stand for processes.
pub(super) struct Database {
    pub(super) path: PathBuf,
    _dir: TempDir,
}

impl Database {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("locks.db");
        Self { path, _dir: dir }
    }

    pub(super) fn store(&self) -> SqliteStore {
        self.open(Options::new())
    }

    pub(super) fn open(&self, options: Options) -> SqliteStore {
        self.open_durable(options.durability(Durability::Relaxed))
    }

    /// A store with `options` as they are (durable by default: the line for the write lock is
    /// used only where commits are fsynced).
    pub(super) fn open_durable(&self, options: Options) -> SqliteStore {
        SqliteStore::open_with(&self.path, options).expect("the store opens")
    }

    /// The waiters' files of every line of the database.
    pub(super) fn tickets(&self) -> Vec<PathBuf> {
        let root = std::fs::canonicalize(&self.path).expect("the database exists");
        let mut root = root.into_os_string();
        root.push("-lines");
        let Ok(lines) = std::fs::read_dir(&root) else {
            return Vec::new();
        };
        lines
            .flat_map(|line| {
                std::fs::read_dir(line.expect("an entry").path())
                    .into_iter()
                    .flatten()
            })
            .map(|entry| entry.expect("an entry").path())
            .collect()
    }

    /// The waiters' files in the line for the write lock.
    pub(super) fn write_tickets(&self) -> Vec<PathBuf> {
        let root = std::fs::canonicalize(&self.path).expect("the database exists");
        let mut root = root.into_os_string();
        root.push("-lines/write");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Vec::new();
        };
        entries
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| {
                !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect()
    }

    /// Waits until `count` writers are in the line for the write lock.
    pub(super) fn until_writers_in_line(&self, count: usize) {
        let started = Instant::now();
        while self.write_tickets().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no writer joined the line"
            );
            thread::sleep(ms(1));
        }
    }

    /// Waits until `count` waiters are in line.
    pub(super) fn until_in_line(&self, count: usize) {
        let started = Instant::now();
        while self.tickets().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nobody joined the line"
            );
            thread::sleep(ms(2));
        }
    }
}

/// Releases `lease`, which must still be valid.
pub(super) fn released(store: &SqliteStore, lease: &leasehold_sqlite::Lease) {
    assert_eq!(store.release(lease).expect("released"), Release::Released);
}

/// Holds the lease from another store, so that the waiters queue.
pub(super) fn hold(db: &Database) -> (SqliteStore, leasehold_sqlite::Lease) {
    let holder = db.store();
    let lease = granted(holder.try_acquire(RESOURCE, "holder", ms(60_000)));
    (holder, lease)
}

/// This test binary run as a child process in `role` on the database at `path`.
pub(super) fn spawn(role: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "lines::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{role}:{}", path.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts")
}

/// Reads the child's output until it says `word`.
pub(super) fn until_says(child: &mut Child, word: &str) {
    let stdout = child.stdout.as_mut().expect("piped");
    for line in BufReader::new(stdout).lines() {
        // The test harness prints the test's name on the same line, before its output.
        if line.expect("readable").ends_with(word) {
            return;
        }
    }
    panic!("the child ended before saying {word:?}");
}

/// The child's side: does nothing unless run by [`spawn`].
#[test]
fn child_process() {
    let Ok(order) = std::env::var(CHILD) else {
        return;
    };
    let (role, path) = order.split_once(':').expect("role:path");
    let options = Options::new().busy_timeout(ms(60_000));
    let store = SqliteStore::open_with(path, options).expect("the child opens the store");
    match role {
        "waiter" => {
            println!("waiting");
            let _ = store.acquire_for(RESOURCE, "child", ms(60_000), ms(60_000));
        }
        "holder" => {
            granted(store.try_acquire(RESOURCE, "child", ms(300)));
            println!("held");
        }
        "writer" => {
            // Opening needs the write lock a moment: the parent takes it once this is open.
            println!("ready");
            std::io::stdin()
                .read_line(&mut String::new())
                .expect("the parent says go");
            println!("writing");
            let _ = store.try_acquire("child-write", "child", ms(60_000));
        }
        other => panic!("no role {other}"),
    }
    thread::sleep(ms(60_000));
}
