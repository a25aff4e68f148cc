//! Regression: the subcommands other than `run` on a closed stdout
//! (`leasehold acquire r --ttl 30s | true`).
//!
//! Interleaving: the reader of the pipe exits before leasehold writes its answer. They printed
//! with `println!`, which panics on EPIPE (exit 101); `acquire` left its lease held, its token
//! printed nowhere. Fix: the answer is written with error handling; a failed write is one line
//! on stderr and exit 71, and `acquire` releases the lease it just got first.

use std::process::{Output, Stdio};

use crate::support::{Scratch, leasehold};

/// `args` with stdout a pipe whose read end was closed before leasehold started.
fn closed_stdout(scratch: &Scratch, args: &[&str]) -> Output {
    let (reader, writer) = rustix::pipe::pipe().expect("a pipe");
    drop(reader);
    leasehold(scratch)
        .args(args)
        .stdout(Stdio::from(writer))
        .output()
        .expect("run leasehold")
}

fn assert_os_error(args: &[&str], output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(71), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("leasehold: "), "{stderr}");
}

#[test]
fn acquire_on_a_closed_stdout_releases_its_lease_and_exits_71() {
    let scratch = Scratch::new();
    for json in [false, true] {
        let mut args = vec!["acquire", "r", "--ttl", "30s"];
        if json {
            args.push("--json");
        }
        assert_os_error(&args, &closed_stdout(&scratch, &args));
        let status = leasehold(&scratch)
            .args(["status", "r"])
            .output()
            .expect("status");
        assert_eq!(status.status.code(), Some(1), "still held: {status:?}");
    }
}

#[test]
fn the_other_subcommands_on_a_closed_stdout_exit_71() {
    let scratch = Scratch::new();
    let acquired = leasehold(&scratch)
        .args(["acquire", "held", "--ttl", "30s"])
        .output()
        .expect("acquire");
    let token = String::from_utf8(acquired.stdout).expect("utf-8");
    let token = token.trim();
    let cases: [&[&str]; 7] = [
        &["status", "held"],
        &["status", "free"],
        &["list"],
        &["renew", "held", "--token", token],
        &["--json", "release", "nothing", "--token", "1"],
        &["evict", "held"],
        &["prune"],
    ];
    for args in cases {
        assert_os_error(args, &closed_stdout(&scratch, args));
    }
}
