//! A lost lease stops the command: evicted from a third process, a `run` whose command ignores
//! SIGTERM kills it with SIGKILL after the grace — the whole group, before the store's expiry of
//! the lease it held — and exits 76.

use std::time::{Duration, Instant};

use crate::support::{Running, Scratch, eventually, is_dead, leasehold, read_pid, wall_us_of};

#[test]
fn an_evicted_run_kills_a_command_that_ignores_sigterm_within_the_grace() {
    let scratch = Scratch::new();
    let script = "trap '' TERM; echo $$ > c.pid; sleep 30 & echo $! > g.pid; wait";
    let mut run = Running::start({
        let mut command = leasehold(&scratch);
        command.args([
            "--json", "run", "e", "--ttl", "3s", "--grace", "300ms", "--", "sh", "-c", script,
        ]);
        command
    });
    run.wait_event("started", Duration::from_secs(10));
    let command = read_pid(&scratch.path("c.pid"));
    let grandchild = read_pid(&scratch.path("g.pid"));
    // The store's expiry of the lease as it stands now; renewals only move it later.
    let status = leasehold(&scratch)
        .args(["--json", "status", "e"])
        .output()
        .expect("status");
    let held: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let expiry = held["expires_at_ms"].as_u64().expect("held");

    let evicted = Instant::now();
    let out = leasehold(&scratch)
        .args(["evict", "e"])
        .output()
        .expect("evict");
    assert!(out.status.success(), "{out:?}");
    let (status, exited, lines) = run.finish(Duration::from_secs(10));
    let exited_wall = u64::try_from(wall_us_of(exited) / 1_000).expect("after 1970");
    assert_eq!(status.code(), Some(76), "{lines:#?}");
    assert!(
        is_dead(command) && is_dead(grandchild),
        "the group outlived the lease"
    );
    // Noticed at the next renewal (a third of the ttl), then the grace.
    assert!(
        exited - evicted < Duration::from_secs(2),
        "took {:?}",
        exited - evicted
    );
    assert!(
        exited_wall < expiry,
        "the command ran until {exited_wall}, past the expiry {expiry}"
    );

    let events = crate::support::events(&lines);
    let lost = events
        .iter()
        .find(|e| e["event"] == "lost")
        .expect("a lost event");
    assert_eq!(lost["reason"], "evicted");
    let stops: Vec<_> = events.iter().filter(|e| e["event"] == "stopping").collect();
    assert_eq!(stops.len(), 2, "SIGTERM, then SIGKILL: {lines:#?}");
    assert_eq!(stops[0]["signal"], "SIGTERM");
    assert_eq!(stops[1]["signal"], "SIGKILL");
    let term = stops[0]["ts_ms"].as_u64().expect("ts");
    let kill = stops[1]["ts_ms"].as_u64().expect("ts");
    assert!(
        kill - term >= 290,
        "SIGKILL {} ms after SIGTERM, grace 300 ms",
        kill - term
    );
    let exited = events
        .iter()
        .find(|e| e["event"] == "child_exited")
        .expect("child_exited");
    assert_eq!(
        exited["status"],
        128 + 9,
        "the watchdog was SIGKILLed with its group"
    );
    assert!(eventually(Duration::from_secs(1), || is_dead(command)));
}
