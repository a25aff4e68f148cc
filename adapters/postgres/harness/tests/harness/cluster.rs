//! A cluster's life: start, stop, restart, crash and recovery, drop; and what a dying test
//! process leaves behind (nothing).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Binaries, Cluster, SynchronousCommit, group_alive, psql};

use super::support::{listening, processes_mentioning};

#[test]
fn a_cluster_stops_restarts_survives_a_crash_and_leaves_nothing_when_dropped() {
    let started = Instant::now();
    let mut cluster = Cluster::builder()
        .fsync(true)
        .synchronous_commit(SynchronousCommit::Local)
        .conf_line("max_connections = 42")
        .start()
        .expect("a cluster starts");
    println!("initdb + start: {:?}", started.elapsed());
    let settings = cluster.psql("SHOW fsync; SHOW synchronous_commit; SHOW max_connections");
    assert_eq!(settings.expect("settings"), "on\nlocal\n42");
    let over_socket = format!(
        "host={} port={} user=postgres dbname=postgres",
        cluster.socket_dir().display(),
        cluster.port()
    );
    assert_eq!(
        psql(&over_socket, "SELECT 1").expect("the unix socket works"),
        "1"
    );

    let (port, pid, name) = (
        cluster.port(),
        cluster.pid().expect("running"),
        cluster.name(),
    );
    cluster
        .psql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
        .expect("a write");

    let stopping = Instant::now();
    cluster.stop().expect("a fast shutdown");
    println!("stop: {:?}", stopping.elapsed());
    assert_eq!(cluster.pid(), None);
    assert!(!group_alive(pid), "no server process outlives stop()");
    assert!(!listening(port));
    assert!(
        cluster.psql("SELECT 1").is_err(),
        "a stopped server answers nothing"
    );

    let restarting = Instant::now();
    cluster.restart().expect("a restart after stop");
    println!("start (existing data): {:?}", restarting.elapsed());
    assert_eq!(cluster.port(), port, "same port");
    cluster
        .psql("INSERT INTO kept VALUES (2)")
        .expect("a write after restart");

    let pid = cluster.pid().expect("running again");
    // A backend busy computing checks for its postmaster's death only at its next wait: only a
    // signal of its own ends it (it is not in the postmaster's process group).
    let url = cluster.url();
    let busy = thread::spawn(move || {
        psql(
            &url,
            "SELECT count(*) FROM generate_series(1, 100000000000)",
        )
    });
    let computing = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND query LIKE '%generate_series(1, 1000%'";
    while cluster.psql(computing).expect("a read") == "0" {
        thread::sleep(Duration::from_millis(10));
    }
    cluster.kill().expect("a crash");
    assert!(!group_alive(pid), "SIGKILL reached every server process");
    assert_eq!(
        processes_mentioning(&name),
        Vec::<u32>::new(),
        "a server process outlived kill()"
    );
    assert!(!listening(port));
    assert!(
        busy.join().expect("no panic").is_err(),
        "the busy query was cut off"
    );
    let recovering = Instant::now();
    cluster.restart().expect("crash recovery");
    println!("crash recovery: {:?}", recovering.elapsed());
    assert_eq!(
        cluster
            .psql("SELECT x FROM kept ORDER BY x")
            .expect("a read"),
        "1\n2"
    );
    let log = std::fs::read_to_string(cluster.log_path()).expect("the server log");
    assert!(
        log.contains("not properly shut down"),
        "the restart ran crash recovery:\n{log}"
    );

    let (dir, pid) = (cluster.data_dir(), cluster.pid().expect("running"));
    let dropping = Instant::now();
    drop(cluster);
    println!("drop: {:?}", dropping.elapsed());
    assert_nothing_left(pid, &dir, port, &name);
}

/// The server's process group is gone, no process mentions `name`, nothing listens on its port,
/// and its directory (the parent of `data_dir`) is removed.
fn assert_nothing_left(pid: u32, data_dir: &Path, port: u16, name: &str) {
    assert!(!group_alive(pid), "the server's process group is gone");
    assert_eq!(
        processes_mentioning(name),
        Vec::<u32>::new(),
        "no process of {name} is left"
    );
    assert!(!listening(port), "nothing listens on {port}");
    let temp_dir = data_dir
        .parent()
        .expect("the data directory is inside the cluster's directory");
    assert!(!temp_dir.exists(), "{} is removed", temp_dir.display());
}

#[test]
fn the_server_binaries_are_found() {
    let bins = Binaries::find().expect("this machine has PostgreSQL");
    assert!(bins.program("initdb").is_file() && bins.program("pg_basebackup").is_file());
}

/// The variable that makes [`child_process_holding_clusters`] run (it is `#[ignore]`d, and
/// without the variable it returns at once, so `cargo test -- --ignored` does not hang).
const CHILD: &str = "LEASEHOLD_HARNESS_TEST_CHILD";

#[test]
#[ignore = "run by a_test_process_killed_with_clusters_leaves_nothing_behind"]
fn child_process_holding_clusters() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // One cluster as `fresh_database` keeps its own (in a static, never dropped), one on the
    // stack: the parent kills this process before either could be dropped.
    static HELD: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    let held = HELD.get_or_init(|| Cluster::start().expect("a cluster starts"));
    let local = Cluster::start().expect("a cluster starts");
    for cluster in [held, &local] {
        let pid = cluster.pid().expect("running");
        println!(
            "cluster {pid} {} {} {}",
            cluster.port(),
            cluster.name(),
            cluster.data_dir().display()
        );
    }
    // PgBouncer's command line names its configuration file, in its directory.
    let bouncer = leasehold_pg_harness::PgBouncer::start(&local).expect("pgbouncer starts");
    let dir = bouncer
        .log_path()
        .parent()
        .expect("the log is in its directory")
        .to_owned();
    let pid = bouncer.pid().expect("running");
    let ini = dir.join("pgbouncer.ini");
    println!(
        "cluster {pid} {} {} {}",
        bouncer.port(),
        ini.display(),
        ini.display()
    );
    println!("ready");
    thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_test_process_killed_with_clusters_leaves_nothing_behind() {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "harness::cluster::child_process_holding_clusters",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary runs again");
    let stdout = child.stdout.take().expect("piped");
    let mut clusters = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "ready" {
            break;
        }
        if let Some(rest) = line.strip_prefix("cluster ") {
            let fields: Vec<String> = rest.split(' ').map(str::to_owned).collect();
            clusters.push(fields);
        }
    }
    assert_eq!(
        clusters.len(),
        3,
        "the child started two clusters and a pgbouncer"
    );
    for fields in &clusters {
        assert!(
            listening(fields[1].parse().expect("a port")),
            "{fields:?} runs before the kill"
        );
    }
    let child_pid = child.id();
    child.kill().expect("SIGKILL the child");
    let _ = child.wait();

    // The watchdogs: shutdown signal, one second, SIGKILL, removal. Allow a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    for fields in &clusters {
        let (pid, port, name, dir) = (&fields[0], &fields[1], &fields[2], Path::new(&fields[3]));
        let pid: u32 = pid.parse().expect("a pid");
        while (group_alive(pid) || dir.exists()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert_nothing_left(pid, dir, port.parse().expect("a port"), name);
    }
    // The child's initdb template, removed by its exit hook.
    let template = format!("leasehold-pg-template-{child_pid}-");
    let left = || {
        let bases = [std::env::temp_dir(), "/tmp".into()];
        bases
            .iter()
            .filter_map(|base| std::fs::read_dir(base).ok())
            .flatten()
            .any(|entry| {
                entry
                    .ok()
                    .is_some_and(|e| e.file_name().to_string_lossy().starts_with(&template))
            })
    };
    while left() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!left(), "the child's template {template}* was left behind");
}
