//! Regression: the watchdog knows its first deadline before it starts the command.
//!
//! Interleaving: `run` acquires, spawns the watchdog (which starts the command at once), and is
//! stopped (SIGSTOP) — or dies — before it writes the acquire's deadline on the pipe. The
//! watchdog then had no deadline at all, and the command ran on with no limit, past the lease's
//! expiry. Cause: the first deadline travelled on the pipe, after the spawn. Fix: the supervisor
//! passes it on the watchdog's command line (`--deadline-ns`), so it is enforced from the start.
//! The window is forced open with the `test-util` hook `LEASEHOLD_TEST_STOP_AFTER_WATCHDOG`.

use std::time::Duration;

use rustix::process::Signal;

use crate::support::{Running, Scratch, eventually, is_dead, leasehold, read_pid, signal};

#[test]
fn a_run_stopped_before_it_sends_a_deadline_still_has_its_command_killed_by_the_first_one() {
    let scratch = Scratch::new();
    let mut command = leasehold(&scratch);
    command
        .args([
            "--json", "run", "w", "--ttl", "2s", "--grace", "200ms", "--",
        ])
        .args(["sh", "-c", "echo $$ > c.pid; exec sleep 30"])
        .env("LEASEHOLD_TEST_STOP_AFTER_WATCHDOG", "1");
    let running = Running::start(command);
    let pid = read_pid(&scratch.path("c.pid"));
    // The deadline is about 2 s − 0.3 s after the acquire; the watchdog kills at most `grace`
    // after it. Without a first deadline the command would sleep its 30 s.
    let gone = eventually(Duration::from_secs(4), || is_dead(pid));
    // The supervisor is stopped: SIGKILL ends it all the same.
    signal(running.pid(), Signal::KILL);
    let _ = running.finish(Duration::from_secs(5));
    if !gone {
        // The watchdog may have killed it meanwhile, on its supervisor's death.
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("a pid"));
        let _ = rustix::process::kill_process(pid.expect("positive"), Signal::KILL);
    }
    assert!(gone, "the command outlived the lease's first deadline");
}
