//! Regressions: errors as docs/cli.md describes them. An invalid PostgreSQL connection string
//! (a bad `sslmode`, a bad port) exited 69 ("the store failed") where the exit-code table says
//! 2 for an invalid URL; with `--json`, an error was a plain line on stderr where the docs
//! promise one JSON value on stdout. Fix: the postgres store's `InvalidUrl` maps to 2, and with
//! `--json` an error is `{"error": {"kind": …, "message": …}}` on stdout.

use serde_json::Value;

use crate::support::{Scratch, leasehold_without_db};

fn status(scratch: &Scratch, db: &str, json: bool) -> std::process::Output {
    let mut command = leasehold_without_db(scratch);
    if json {
        command.arg("--json");
    }
    command
        .args(["--db", db, "status", "r"])
        .output()
        .expect("run leasehold")
}

#[test]
fn an_invalid_postgres_url_is_a_usage_error() {
    let scratch = Scratch::new();
    for db in [
        "postgres://x/?sslmode=bogus",
        "postgres://127.0.0.1:99999/test",
        "postgresql://127.0.0.1:port/test",
    ] {
        let output = status(&scratch, db, false);
        assert_eq!(output.status.code(), Some(2), "{db}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("leasehold: "), "{db}: {stderr}");
    }
}

#[test]
fn with_json_an_error_is_one_json_value_on_stdout() {
    let scratch = Scratch::new();
    let directory = scratch.path("");
    let cases = [
        ("postgres://x/?sslmode=bogus", 2),
        (directory.to_str().expect("utf-8"), 69),
    ];
    for (db, code) in cases {
        let output = status(&scratch, db, true);
        assert_eq!(output.status.code(), Some(code), "{db}: {output:?}");
        let value: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{db}: {e}: {output:?}"));
        let error = &value["error"];
        assert!(error["kind"].is_string(), "{value}");
        assert!(error["message"].is_string(), "{value}");
    }
}
