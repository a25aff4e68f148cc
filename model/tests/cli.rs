//! The `leasehold-check` binary, run for real: exit codes, the report, JSON and progress.

use std::process::{Command, Output};

use leasehold_model::{Config, PropertyKind, Protocol, preset};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasehold-check"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every lock protocol, property and fault, small enough for a test.
const SMALL: [&str; 10] = [
    "--protocol",
    "lock",
    "--clients",
    "2",
    "--ttl",
    "1",
    "--horizon",
    "2",
    "--attempts",
    "2",
];

/// Every holder protocol, property and fault, small enough for a test.
const HOLDER_SMALL: [&str; 6] = ["--protocol", "holder", "--ttl", "6", "--horizon", "8"];

/// The configuration `leasehold-check` checks `protocol` with, given the small arguments above.
fn small_config(protocol: Protocol) -> Config {
    let base = preset("default").expect("preset").config_for(protocol);
    if protocol.is_holder() {
        Config {
            ttl: 6,
            horizon: 8,
            ..base
        }
    } else {
        Config {
            clients: 2,
            ttl: 1,
            horizon: 2,
            attempts: 2,
            ..base
        }
    }
}

#[test]
fn exit_0_when_every_verdict_is_as_expected() {
    let lock = check(&SMALL);
    let holder = check(&HOLDER_SMALL);
    for output in [&lock, &holder] {
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}{}",
            stdout(output),
            stderr(output)
        );
        assert!(
            stdout(output)
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("OK: all "))
        );
    }
    let report = stdout(&lock) + &stdout(&holder);
    for protocol in Protocol::ALL {
        assert!(
            report.contains(protocol.name()),
            "{protocol} missing:\n{report}"
        );
    }
    assert!(report.contains("check-then-act violates \"mutual exclusion\""));
    assert!(report.contains("read lock → free: decides to take it"));
    assert!(report.contains("deadline-from-reply violates \"holder acts only while valid\""));
    assert!(report.contains("renew-every-ttl violates \"answered renewals keep the lease\""));
    assert!(report.contains("reply arrives at 0.75: granted #1 → keeper: valid until"));
}

#[test]
fn exit_1_when_a_verdict_differs() {
    let output = check(&[
        "--preset",
        "baseline",
        "--quiet",
        "--expect-violated",
        "mutual exclusion",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let last = stdout(&output)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(last.starts_with("FAILED: 1 of 1"), "{last}");
    assert!(
        last.contains("atomic / mutual exclusion: expected violated, got holds"),
        "{last}"
    );
}

#[test]
fn exit_2_on_bad_arguments_with_a_clear_message() {
    let cases: [(&[&str], &str); 7] = [
        (&["--clients", "0"], "clients must be 1..=6, not 0"),
        (&["--ttl", "0"], "ttl must be at least 1 tick"),
        (
            &["--ttl", "3", "--horizon", "2"],
            "horizon (2) must be at least ttl (3)",
        ),
        (
            &["--protocol", "optimistic"],
            "unknown protocol \"optimistic\"",
        ),
        (&["--preset", "huge"], "unknown preset \"huge\""),
        (&["--threads", "0"], "threads must be at least 1"),
        (&["--clients", "many"], "invalid value 'many'"),
    ];
    for (args, message) in cases {
        let output = check(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?} printed a report");
    }
}

#[test]
fn exit_3_when_a_run_stops_before_it_can_conclude() {
    for limit in [
        ["--timeout", "0.2"],
        ["--max-states", "1000"],
        ["--max-depth", "5"],
    ] {
        let mut args = vec!["--preset", "large", "--quiet"];
        args.extend(limit);
        let output = check(&args);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{limit:?}: {}",
            stdout(&output)
        );
        let report = stdout(&output);
        assert!(report.contains("incomplete"), "{report}");
        assert!(!report.contains("OK:"), "an incomplete run is never a pass");
    }
}

#[test]
fn json_names_every_protocol_and_property() {
    let mut results = Vec::new();
    for small in [&SMALL[..], &HOLDER_SMALL[..]] {
        let mut args = small.to_vec();
        args.push("--json");
        let output = check(&args);
        assert_eq!(output.status.code(), Some(0));
        assert!(stderr(&output).is_empty(), "--json prints no progress");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["summary"]["exit_code"], 0);
        results.extend(
            report["results"]
                .as_array()
                .expect("results")
                .iter()
                .cloned(),
        );
    }
    for protocol in Protocol::ALL {
        let config = small_config(protocol);
        for property in PropertyKind::ALL {
            let found = results
                .iter()
                .any(|r| r["protocol"] == protocol.name() && r["property"] == property.name());
            assert_eq!(found, config.applies(property), "{protocol} / {property}");
        }
    }
    let violation = results
        .iter()
        .find(|r| r["protocol"] == "check-then-act" && r["property"] == "mutual exclusion")
        .expect("the seed's bug");
    assert_eq!(violation["result"], "violated");
    assert_eq!(
        violation["counterexample"].as_array().map(Vec::len),
        Some(4)
    );
    let holder = results
        .iter()
        .find(|r| {
            r["protocol"] == "no-drift-margin" && r["property"] == "holder acts only while valid"
        })
        .expect("a planted holder bug");
    assert_eq!(holder["result"], "violated");
    assert_eq!(holder["config"]["delay"], 1);
    assert_eq!(holder["config"]["drift"], 1);
    assert_eq!(holder["config"]["renew_failures"], true);
}

#[test]
fn protocols_are_selected_by_name_or_by_family() {
    let output = check(&[
        "--protocol",
        "holder",
        "--protocol",
        "atomic",
        "--preset",
        "baseline",
        "--horizon",
        "8",
        "--ttl",
        "6",
        "--quiet",
    ]);
    let report = stdout(&output);
    let protocols: std::collections::BTreeSet<&str> = report
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut want: Vec<&str> = Protocol::HOLDER.iter().map(|p| p.name()).collect();
    want.push("atomic");
    assert_eq!(protocols, want.into_iter().collect(), "{report}");
    let output = check(&["--clients", "4"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--protocol lock selects the lock protocols alone"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn long_runs_report_progress_on_stderr() {
    let output = check(&["--preset", "large", "--timeout", "4.5"]);
    assert_eq!(output.status.code(), Some(3));
    let progress: Vec<_> = stderr(&output)
        .lines()
        .filter(|l| l.starts_with("[atomic / mutual exclusion]"))
        .map(str::to_owned)
        .collect();
    assert!(progress.len() >= 2, "at least every 2 s: {progress:?}");
    let quiet = check(&["--preset", "large", "--timeout", "2.5", "--quiet"]);
    assert!(stderr(&quiet).is_empty(), "--quiet prints no progress");
}

#[test]
fn explore_serves_the_model_on_localhost() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_leasehold-check"))
        .args(["--explore", &address])
        // The small configuration without `--attempts`: clients, TTL and horizon.
        .args(&SMALL[..6])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        if let Ok(mut stream) = TcpStream::connect(&address) {
            stream
                .write_all(b"GET /.states/0 HTTP/1.0\r\n\r\n")
                .expect("a request");
            let mut response = String::new();
            stream.read_to_string(&mut response).expect("a response");
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "the Explorer never listened on {address}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().expect("the Explorer stops");
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        response.contains("Tick"),
        "the initial state's actions: {response}"
    );

    // An address already in use is a usage error, not a panic.
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken = taken.local_addr().expect("bound").to_string();
    let output = check(&["--explore", &taken]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot listen on"),
        "{}",
        stderr(&output)
    );
}
