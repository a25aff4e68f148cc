//! Bad arguments: one clear line on stderr, exit code 2, nothing acquired.

use crate::support::{Scratch, leasehold, leasehold_without_db};

#[test]
fn bad_arguments_are_one_clear_line_and_exit_2() {
    let scratch = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "r"], "<COMMAND>"),
        (&["run", "r", "--ttl", "5x", "--", "true"], "unknown unit"),
        (
            &["run", "r", "--ttl", "0s", "--", "true"],
            "longer than zero",
        ),
        (
            &["run", "r", "--ttl", "1s", "--grace", "1s", "--", "true"],
            "--grace",
        ),
        (
            &["run", "r", "--ttl", "3s", "--grace", "2s", "--", "true"],
            "too long",
        ),
        // Regressions: the message names the real constraint ("--grace 0ms is not shorter than
        // --ttl 1ms" was true but not the reason), and a token past the range says the range.
        (
            &["run", "r", "--ttl", "1ms", "--grace", "0s", "--", "true"],
            "--grace + 0.1s",
        ),
        (
            &["renew", "r", "--token", "9223372036854775808"],
            "9223372036854775807",
        ),
        (&["bogus"], "bogus"),
        (&["renew", "r", "--token", "abc"], "--token"),
        (&["renew", "r", "--token", "0"], "--token"),
        (&["status", ""], "name"),
        (&[], "subcommand"),
    ];
    for (args, mentions) in cases {
        let output = leasehold(&scratch).args(*args).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("leasehold: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{args:?} does not mention {mentions:?}: {stderr}"
        );
    }
    let output = leasehold_without_db(&scratch)
        .args(["--db", "mysql://h/db", "list"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("leasehold: ") && stderr.contains("mysql"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let list = leasehold(&scratch)
        .args(["--json", "list"])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "[]",
        "nothing was acquired"
    );
}
