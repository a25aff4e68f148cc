//! Regression: `run` starts its watchdog after its own binary was replaced by rename.
//!
//! Interleaving: `run` waits for a busy lease; meanwhile its binary is replaced the way package
//! managers and `cargo install` do it (a new file renamed over the old path); the lease is
//! released and `run` acquires. It then started the watchdog from `current_exe()`, which on Linux
//! reads `/path/leasehold (deleted)` by then: the spawn failed and `run` exited 71 without running
//! the command. Fix: the watchdog is started from `/proc/self/exe`, the running image.

use std::time::Duration;

use crate::support::{Running, Scratch, leasehold};

#[test]
fn run_starts_its_command_after_its_binary_was_replaced_by_rename() {
    let scratch = Scratch::new();
    let copy = scratch.path("leasehold-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_leasehold"), &copy).expect("copy the binary");
    let token = leasehold(&scratch)
        .args(["acquire", "b", "--ttl", "30s"])
        .output()
        .expect("acquire");
    assert!(token.status.success(), "{token:?}");
    let token = String::from_utf8(token.stdout).expect("utf-8");

    let mut command = std::process::Command::new(&copy);
    command
        .current_dir(scratch.path(""))
        .arg("--db")
        .arg(scratch.db())
        .args(["--json", "run", "b", "--wait", "20s", "--", "touch", "ran"]);
    let mut waiter = Running::start(command);
    waiter.wait_event("waiting", Duration::from_secs(10));

    let new = scratch.path("leasehold-new");
    std::fs::copy(env!("CARGO_BIN_EXE_leasehold"), &new).expect("copy the binary again");
    std::fs::rename(&new, &copy).expect("replace the binary by rename");

    let released = leasehold(&scratch)
        .args(["release", "b", "--token", token.trim()])
        .status()
        .expect("release");
    assert!(released.success());
    let (status, _, lines) = waiter.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    assert!(scratch.path("ran").exists(), "the command did not run");
}
