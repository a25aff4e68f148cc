//! The other subcommands with the real binary: what they print for people and for programs,
//! and their exit codes; `--db` as a relative `sqlite://` URL and from `$LEASEHOLD_DB`.

use std::process::Output;

use serde_json::Value;

use crate::support::{Scratch, leasehold, leasehold_without_db};

fn run(scratch: &Scratch, args: &[&str]) -> Output {
    leasehold(scratch)
        .args(args)
        .output()
        .expect("run leasehold")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

#[test]
fn acquire_renew_release_status_list_evict_prune() {
    let scratch = Scratch::new();
    let acquired = run(
        &scratch,
        &["acquire", "job", "--ttl", "30s", "--owner", "cron"],
    );
    assert_eq!(code(&acquired), 0, "{acquired:?}");
    let token = String::from_utf8(acquired.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(
        token.parse::<u64>().is_ok(),
        "acquire prints the token alone: {token:?}"
    );

    let busy = run(&scratch, &["--json", "acquire", "job", "--wait", "0s"]);
    assert_eq!(code(&busy), 75, "{busy:?}");
    let busy = json(&busy);
    assert_eq!(busy["acquired"], false);
    assert_eq!(busy["owner"], "cron");

    let status = run(&scratch, &["status", "job", "--json"]);
    assert_eq!(code(&status), 0);
    let status = json(&status);
    assert_eq!(
        (status["held"].clone(), status["token"].to_string()),
        (Value::Bool(true), token.clone())
    );
    let people = run(&scratch, &["status", "job"]);
    let line = String::from_utf8(people.stdout).expect("utf-8");
    assert!(line.starts_with("job is held by cron (token #"), "{line}");

    let list = json(&run(&scratch, &["list", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["resource"], "job");
    let table = String::from_utf8(run(&scratch, &["list"]).stdout).expect("utf-8");
    assert!(
        table.starts_with("RESOURCE") && table.contains("cron"),
        "{table}"
    );

    assert_eq!(
        code(&run(
            &scratch,
            &["renew", "job", "--token", &token, "--ttl", "1m"]
        )),
        0
    );
    let released = run(&scratch, &["--json", "release", "job", "--token", &token]);
    assert_eq!(
        (code(&released), json(&released)["answer"].clone()),
        (0, Value::from("released"))
    );
    let lost = run(&scratch, &["--json", "renew", "job", "--token", &token]);
    assert_eq!(code(&lost), 76);
    assert_eq!(json(&lost)["reason"], "released");
    assert_eq!(code(&run(&scratch, &["status", "job"])), 1, "free: exit 1");

    assert_eq!(
        code(&run(&scratch, &["evict", "job"])),
        1,
        "nothing to evict: exit 1"
    );
    assert_eq!(code(&run(&scratch, &["acquire", "job"])), 0);
    let evicted = run(&scratch, &["--json", "evict", "job"]);
    assert_eq!(
        (code(&evicted), json(&evicted)["evicted"].clone()),
        (0, Value::Bool(true))
    );
    // Prune deletes records whose lease ended (by expiry) longer ago than --idle.
    assert_eq!(
        code(&run(&scratch, &["acquire", "brief", "--ttl", "10ms"])),
        0
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    let pruned = run(&scratch, &["--json", "prune", "--idle", "0s"]);
    assert_eq!(code(&pruned), 0);
    assert!(json(&pruned)["pruned"].as_u64() >= Some(1), "{pruned:?}");
}

#[test]
fn the_db_is_a_relative_sqlite_url_or_comes_from_leasehold_db() {
    let scratch = Scratch::new();
    let status = leasehold_without_db(&scratch)
        .args(["--db", "sqlite://sub.db", "acquire", "x"])
        .status()
        .expect("run");
    assert!(status.success());
    assert!(
        scratch.path("sub.db").exists(),
        "relative to the working directory"
    );
    let output = leasehold_without_db(&scratch)
        .args(["status", "x"])
        .env("LEASEHOLD_DB", "sub.db")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let default = leasehold_without_db(&scratch)
        .args(["acquire", "y"])
        .status()
        .expect("run");
    assert!(default.success());
    assert!(
        scratch.path("leasehold.db").exists(),
        "./leasehold.db by default"
    );
}
