//! `leasehold run` with the real binary: two runs on one resource never overlap (with a negative
//! control on two resources), the command's exit code passes through, its environment carries
//! the lease, and `--json` prints the documented events.

use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Running, Scratch, events, leasehold, names};

/// Each run's command: create its marker, keep it for `loops` × 50 ms, and fail (99) if the other
/// run's marker exists meanwhile — leaving its own marker, so that the other run fails too.
const MARKERS: &str = r#"
mine=$1; other=$2; loops=$3
: > "$mine"
i=0
while [ "$i" -lt "$loops" ]; do
  if [ -e "$other" ]; then exit 99; fi
  sleep 0.05
  i=$((i + 1))
done
rm -f "$mine"
"#;

/// Two sides running `rounds` runs each at the same time, side A on `resources[0]` and side B
/// on `resources[1]`; every run's exit code.
fn two_sides(scratch: &Scratch, resources: [&str; 2], loops: u32, rounds: usize) -> Vec<i32> {
    let sides = [("A", "B", resources[0]), ("B", "A", resources[1])];
    thread::scope(|scope| {
        let handles: Vec<_> = sides
            .map(|(mine, other, resource)| {
                scope.spawn(move || {
                    (0..rounds)
                        .map(|_| {
                            let status = leasehold(scratch)
                                .args(["run", resource, "--ttl", "5s", "--wait", "30s", "--"])
                                .args(["sh", "-c", MARKERS, "sh", mine, other])
                                .arg(loops.to_string())
                                .status()
                                .expect("run leasehold");
                            status.code().expect("an exit code")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .into();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a side"))
            .collect()
    })
}

#[test]
fn two_runs_on_one_resource_never_overlap() {
    let scratch = Scratch::new();
    let codes = two_sides(&scratch, ["shared", "shared"], 5, 3);
    assert_eq!(codes, vec![0; 6], "a command saw the other's marker");
}

#[test]
fn negative_control_runs_on_two_resources_overlap_and_are_caught() {
    let scratch = Scratch::new();
    // Up to 3 s each, ended as soon as the other's marker is seen.
    let codes = two_sides(&scratch, ["one", "two"], 60, 1);
    assert!(codes.contains(&99), "not caught: {codes:?}");
}

#[test]
fn the_commands_exit_code_passes_through() {
    let scratch = Scratch::new();
    let code = |command: &[&str]| {
        let output = leasehold(&scratch)
            .args(["run", "codes", "--"])
            .args(command)
            .output()
            .expect("run");
        output.status.code().expect("an exit code")
    };
    assert_eq!(code(&["sh", "-c", "exit 7"]), 7);
    assert_eq!(code(&["true"]), 0);
    assert_eq!(code(&["sh", "-c", "kill -TERM $$"]), 128 + 15);
    assert_eq!(code(&["leasehold-no-such-command"]), 127);
    assert_eq!(code(&["/"]), 126);
}

#[test]
fn the_command_runs_with_the_lease_in_its_environment_and_json_events_parse() {
    let scratch = Scratch::new();
    let env_file = scratch.path("env.txt");
    let mut command = leasehold(&scratch);
    command
        .args(["--json", "run", "env", "--ttl", "600ms", "--grace", "100ms", "--"])
        .args(["sh", "-c", r#"echo "$LEASEHOLD_RESOURCE $LEASEHOLD_TOKEN $LEASEHOLD_DEADLINE_MS $LEASEHOLD_DEADLINE $LEASEHOLD_OWNER" > "$1"; sleep 0.6"#, "sh"])
        .arg(&env_file);
    let (status, _, lines) = Running::start(command).finish(Duration::from_secs(20));
    assert!(status.success(), "{status:?} {lines:#?}");
    let events = events(&lines);
    assert_eq!(
        events.len(),
        lines.len(),
        "every stderr line is a JSON event: {lines:#?}"
    );
    let names = names(&events);
    let expected = [
        "acquired",
        "started",
        "renewed",
        "child_exited",
        "released",
        "exit",
    ];
    for name in expected {
        assert!(
            names.contains(&name.to_owned()),
            "no {name} event in {names:?}"
        );
    }
    assert_eq!(names.first().map(String::as_str), Some("acquired"));
    assert_eq!(names.last().map(String::as_str), Some("exit"));
    for event in &events {
        check_fields(event);
    }
    let acquired = &events[0];
    let seen = std::fs::read_to_string(&env_file).expect("the command wrote its environment");
    let fields: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(fields[0], "env");
    assert_eq!(fields[1], acquired["token"].to_string());
    assert_eq!(fields[2], acquired["deadline_ms"].to_string());
    assert!(
        fields[3].ends_with('Z') && fields[3].contains('T'),
        "RFC 3339: {}",
        fields[3]
    );
    assert_eq!(fields[4], acquired["owner"].as_str().expect("owner"));
    let released = events
        .iter()
        .find(|e| e["event"] == "released")
        .expect("released");
    assert_eq!(released["answer"], "released");
}

/// The fields docs/cli.md promises for each event (besides `event`, `ts_ms`, `resource`).
pub(crate) fn check_fields(event: &Value) {
    let name = event["event"].as_str().expect("a name");
    let fields: &[&str] = match name {
        "waiting" => &["owner", "token", "acquired_at_ms", "expires_at_ms"],
        "not_acquired" => &[
            "owner",
            "token",
            "acquired_at_ms",
            "expires_at_ms",
            "waited_ms",
        ],
        "acquired" => &[
            "owner",
            "token",
            "acquired_at_ms",
            "expires_at_ms",
            "deadline_ms",
            "waited_ms",
        ],
        "started" => &["pid"],
        "renewed" => &["token", "expires_at_ms", "deadline_ms"],
        "renew_failed" => &["kind", "error"],
        "lost" => &["reason", "token"],
        "stopping" | "signal" => &["signal"],
        "child_exited" => &["status"],
        "released" => &["token", "answer"],
        "error" => &["kind", "message"],
        "exit" => &["code"],
        other => panic!("undocumented event {other:?}"),
    };
    for field in ["event", "ts_ms", "resource"].iter().chain(fields) {
        assert!(event.get(field).is_some(), "{name} has no {field}: {event}");
    }
}
