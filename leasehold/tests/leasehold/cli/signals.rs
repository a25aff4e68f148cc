//! Signals and the supervisor's death, with the real binary and real process trees: Ctrl-C
//! (SIGINT) of a waiting run ends it at once without a lease; a holder's Ctrl-C ends its command
//! and releases, so the next waiter starts within a second; a SIGKILLed run leaves no process of
//! its command behind, and the next run proceeds once the lease expires (with a negative control:
//! a supervisor without the watchdog leaves its tree running, and the check sees it); a run
//! stopped with SIGSTOP cannot renew, and its watchdog kills the command before the store's
//! expiry; a watchdog whose supervisor is already gone starts nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::support::{
    Running, Scratch, Stopped, events, eventually, is_dead, leasehold, leasehold_without_db, names,
    read_pid, signal, wall_ms,
};

/// A command with a child of its own: writes its pid and its child's pid, then waits.
const TREE: &str = "echo $$ > c.pid; sleep 30 & echo $! > g.pid; wait";

#[test]
fn ctrl_c_ends_a_wait_without_a_lease_and_a_holders_ctrl_c_lets_the_next_start_at_once() {
    let scratch = Scratch::new();
    // A long ttl: only a release can let the next run in quickly.
    let run = |extra: &[&str]| {
        let mut command = leasehold(&scratch);
        command
            .args(["--json", "run", "h", "--ttl", "30s", "--wait", "60s"])
            .args(extra);
        Running::start(command)
    };
    let mut holder = run(&["--", "sleep", "30"]);
    holder.wait_event("started", Duration::from_secs(10));
    let mut next = run(&["--", "true"]);
    next.wait_event("waiting", Duration::from_secs(10));
    let mut impatient = run(&["--", "true"]);
    impatient.wait_event("waiting", Duration::from_secs(10));

    signal(impatient.pid(), Signal::INT);
    let sent = Instant::now();
    let (status, exited, lines) = impatient.finish(Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{lines:#?}");
    assert!(
        exited - sent < Duration::from_secs(1),
        "took {:?}",
        exited - sent
    );
    assert!(
        !names(&events(&lines)).contains(&"acquired".to_owned()),
        "{lines:#?}"
    );

    signal(holder.pid(), Signal::INT);
    let sent = Instant::now();
    let (acquired, _) = next.wait_event("acquired", Duration::from_secs(5));
    assert!(
        acquired - sent < Duration::from_secs(1),
        "the next run started {:?} later",
        acquired - sent
    );
    let (status, _, lines) = holder.finish(Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(130),
        "the command's own status: {lines:#?}"
    );
    let events = events(&lines);
    let forwarded = events
        .iter()
        .any(|e| e["event"] == "signal" && e["forwarded"] == true);
    assert!(forwarded, "{lines:#?}");
    let released = events
        .iter()
        .find(|e| e["event"] == "released")
        .expect("released");
    assert_eq!(released["answer"], "released");
    let (status, _, lines) = next.finish(Duration::from_secs(10));
    assert!(status.success(), "{lines:#?}");
}

#[test]
fn a_killed_run_leaves_no_process_behind_and_the_next_run_proceeds_after_the_ttl() {
    let scratch = Scratch::new();
    let ttl = Duration::from_millis(1_500);
    let mut killed = Running::start({
        let mut command = leasehold(&scratch);
        command.args([
            "--json", "run", "k", "--ttl", "1500ms", "--", "sh", "-c", TREE,
        ]);
        command
    });
    killed.wait_event("started", Duration::from_secs(10));
    let command = read_pid(&scratch.path("c.pid"));
    let grandchild = read_pid(&scratch.path("g.pid"));
    let mut next = Running::start({
        let mut command = leasehold(&scratch);
        command.args([
            "--json", "run", "k", "--ttl", "5s", "--wait", "20s", "--", "true",
        ]);
        command
    });
    next.wait_event("waiting", Duration::from_secs(10));

    killed.child.kill().expect("SIGKILL the supervisor");
    let at = Instant::now();
    let gone = eventually(Duration::from_secs(1), || {
        is_dead(command) && is_dead(grandchild)
    });
    assert!(
        gone,
        "the command ({command}) or its child ({grandchild}) outlived its supervisor"
    );
    let (acquired_at, acquired) = next.wait_event("acquired", Duration::from_secs(10));
    assert!(
        acquired_at - at < ttl + Duration::from_secs(2),
        "{:?}",
        acquired_at - at
    );
    // The killed run's last known expiry: the next grant came after it (the store's exclusion).
    let last_expiry = killed
        .events()
        .iter()
        .filter_map(|(_, e)| e["expires_at_ms"].as_u64())
        .max()
        .expect("the killed run reported its lease");
    assert!(acquired["acquired_at_ms"].as_u64().expect("a time") >= last_expiry);
    let (status, _, lines) = next.finish(Duration::from_secs(10));
    assert!(status.success(), "{lines:#?}");
    let _ = killed.child.wait();
}

/// A supervisor without the watchdog: `sh` running the same tree, in `scratch`'s directory;
/// it and the pids of the tree.
fn plain_supervisor(scratch: &Scratch) -> (std::process::Child, u32, u32) {
    for pid_file in ["c.pid", "g.pid"] {
        let _ = std::fs::remove_file(scratch.path(pid_file));
    }
    let supervisor = Command::new("sh")
        .args(["-c", &format!("sh -c '{TREE}' & wait")])
        .current_dir(scratch.dir.path())
        .spawn()
        .expect("start sh");
    let command = read_pid(&scratch.path("c.pid"));
    let grandchild = read_pid(&scratch.path("g.pid"));
    (supervisor, command, grandchild)
}

#[test]
fn negative_control_a_supervisor_without_a_watchdog_leaves_its_tree_running() {
    let scratch = Scratch::new();
    let (mut killed, command, grandchild) = plain_supervisor(&scratch);
    killed.kill().expect("SIGKILL the supervisor");
    let _ = killed.wait();
    let gone = eventually(Duration::from_secs(1), || {
        is_dead(command) && is_dead(grandchild)
    });
    let (mut stopped, stopped_command, stopped_grandchild) = plain_supervisor(&scratch);
    signal(stopped.id(), Signal::STOP);
    std::thread::sleep(Duration::from_secs(1));
    let ran_on = !is_dead(stopped_command) && !is_dead(stopped_grandchild);
    for pid in [command, grandchild, stopped_command, stopped_grandchild] {
        if !is_dead(pid) {
            signal(pid, Signal::KILL);
        }
    }
    let _ = stopped.kill();
    let _ = stopped.wait();
    assert!(!gone, "the check did not see the orphaned tree");
    assert!(
        ran_on,
        "the check did not see the tree of a stopped supervisor run on"
    );
}

#[test]
fn a_stopped_run_cannot_renew_and_its_watchdog_kills_the_command_before_the_expiry() {
    let scratch = Scratch::new();
    let mut stopped = Running::start({
        let mut command = leasehold(&scratch);
        let args = [
            "--json", "run", "s", "--ttl", "2s", "--grace", "200ms", "--", "sh", "-c",
        ];
        command.args(args).arg(TREE);
        command
    });
    stopped.wait_event("started", Duration::from_secs(10));
    let command = read_pid(&scratch.path("c.pid"));
    let grandchild = read_pid(&scratch.path("g.pid"));
    let pause = Stopped::new(stopped.pid());
    // Stopped, the supervisor renews no more: this is the store's last expiry of its lease.
    let status = leasehold(&scratch)
        .args(["--json", "status", "s"])
        .output()
        .expect("status");
    let held: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let expiry = held["expires_at_ms"].as_u64().expect("held");
    // The watchdog SIGKILLs the group at the last deadline plus the grace, 0.1 s before the
    // lease's own deadline; look 10 ms before the store's expiry.
    let check_at = expiry - 10;
    while wall_ms() < check_at {
        std::thread::sleep(Duration::from_millis(5));
    }
    let checked = wall_ms();
    let gone = is_dead(command) && is_dead(grandchild);
    drop(pause);
    assert!(
        gone,
        "the command ran on at {checked}, {} ms before the expiry",
        expiry - checked.min(expiry)
    );
    if checked >= expiry {
        eprintln!(
            "note: looked {} ms after the expiry (a loaded machine)",
            checked - expiry
        );
    }
    let (status, _, lines) = stopped.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(76), "{lines:#?}");
    let events = events(&lines);
    let lost = events.iter().find(|e| e["event"] == "lost").expect("lost");
    assert_eq!(lost["reason"], "deadline");
    // The watchdog's own SIGTERM ended the command (sh dies of it): the graceful way, first.
    let exited = events
        .iter()
        .find(|e| e["event"] == "child_exited")
        .expect("child_exited");
    assert_eq!(exited["status"], 128 + 15, "{lines:#?}");
}

#[test]
fn a_watchdog_whose_supervisor_is_already_gone_starts_nothing() {
    let scratch = Scratch::new();
    // Its parent is this test, not pid 1: as if the supervisor had died and it had been adopted.
    let status = leasehold_without_db(&scratch)
        .args([
            "__watchdog",
            "--supervisor",
            "1",
            "--deadlines",
            "0",
            "--grace-ms",
            "100",
            "--deadline-ns",
            "0",
            "--",
        ])
        .args(["sh", "-c", "touch started"])
        .status()
        .expect("run the watchdog");
    assert_eq!(status.code(), Some(71));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!scratch.path("started").exists(), "the command was started");
}
