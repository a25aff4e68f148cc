//! A guard in a process stopped with SIGSTOP past its ttl knows it lost the lease as soon as it
//! resumes, while another holder has the resource: it never reports itself valid after resuming.
//! The guard runs in a child process (this test binary again, as its ignored `sigstop_child`
//! test) that reports over a pipe.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use leasehold::{Acquire, ErrorKind, Options, StoreError};

use crate::support::{Scratch, Stopped, wall_ms};

/// The child's environment variable: the database it holds its lease in.
const CHILD_DB: &str = "LEASEHOLD_TEST_SIGSTOP_DB";
const TTL: Duration = Duration::from_millis(600);

/// The child: hold a lease, then report every 10 ms whether the guard says it is valid — the
/// wall-clock time read **before** asking — until the guard reports the loss.
#[test]
#[ignore = "the child process of the SIGSTOP test"]
fn sigstop_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LH {line}").expect("the parent reads");
        out.flush().expect("the parent reads");
    };
    let store = leasehold::open(&db).expect("open");
    let guard = store
        .hold("r", "stopped", TTL, Duration::ZERO)
        .expect("hold")
        .expect("free");
    say(format!("held {}", guard.token().get()));
    loop {
        let at = wall_ms();
        if let Some(reason) = guard.try_lost() {
            say(format!("lost {reason:?} {at}"));
            break;
        }
        let state = if guard.is_valid() { "valid" } else { "invalid" };
        say(format!("{state} {at}"));
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_guard_stopped_past_its_ttl_knows_it_lost_the_lease_as_soon_as_it_resumes() {
    let scratch = Scratch::new();
    let options = Options::new().busy_timeout(Duration::from_millis(200));
    let store = leasehold::open_with(scratch.db().to_str().expect("utf-8"), options).expect("open");
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "sigstop::sigstop_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, scratch.db())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(line) = line.strip_prefix("LH ") {
                let _ = tx.send(line.to_owned());
            }
        }
    });
    let held = lines
        .recv_timeout(Duration::from_secs(20))
        .expect("the child holds");
    assert!(held.starts_with("held "), "{held}");
    thread::sleep(TTL / 2);
    let stopped = Stopped::new(child.id());
    thread::sleep(TTL * 5 / 2);
    // The child's lease has expired on the store's clock meanwhile: another holder takes it —
    // unless the child was stopped inside a renewal, holding SQLite's write lock (the store then
    // stays busy until it resumes: SQLite's limit, not the guard's).
    match store.try_acquire("r", "successor", Duration::from_secs(10)) {
        Ok(taken) => assert!(matches!(taken, Acquire::Granted(_)), "{taken:?}"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Busy, "{e}"),
    }
    let resumed_at = wall_ms();
    drop(stopped);
    let mut before_stop = 0;
    let lost = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the child reports");
        let (state, at) = line.rsplit_once(' ').expect("state and time");
        let at: u64 = at.parse().expect("a time");
        if state.starts_with("lost") {
            break (state.to_owned(), at);
        }
        if state == "valid" {
            assert!(
                at < resumed_at,
                "the guard said valid after it resumed ({at} ≥ {resumed_at})"
            );
            before_stop += 1;
        }
    };
    assert!(
        before_stop > 0,
        "the child never reported its lease valid before the stop"
    );
    assert_eq!(lost.0, "lost DeadlinePassed");
    let after = lost.1.saturating_sub(resumed_at);
    assert!(after < 1_000, "lost {after} ms after resuming");
    let status = child.wait().expect("the child exits");
    assert!(status.success(), "{status:?}");
}
