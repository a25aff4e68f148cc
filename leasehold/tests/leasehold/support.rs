//! What the tests share: temporary stores, clocks, process checks, and the real `leasehold`
//! binary driven with its JSON events collected.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A temporary directory with a lock database path in it.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.dir.path().join("locks.db")
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The store at [`Scratch::db`].
    pub(crate) fn store(&self) -> leasehold::Store {
        leasehold::open(self.db().to_str().expect("a UTF-8 temporary path")).expect("open")
    }
}

/// Now on the wall clock (the SQLite store's clock), in microseconds since the Unix epoch.
pub(crate) fn wall_us() -> i128 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i128::try_from(since.as_micros()).expect("fits")
}

/// Now on the wall clock, in milliseconds since the Unix epoch.
pub(crate) fn wall_ms() -> u64 {
    u64::try_from(wall_us() / 1_000).expect("after 1970")
}

/// `instant` (monotonic) on the wall clock, in microseconds: from a pair of readings taken
/// within 200 µs of each other, so the conversion is that exact.
pub(crate) fn wall_us_of(instant: Instant) -> i128 {
    loop {
        let before = Instant::now();
        let wall = wall_us();
        let after = Instant::now();
        if after - before < Duration::from_micros(200) {
            let signed = |d: Duration| i128::try_from(d.as_micros()).expect("fits");
            return if instant >= before {
                wall + signed(instant - before)
            } else {
                wall - signed(before - instant)
            };
        }
    }
}

/// Whether process `pid` is gone: no longer in `/proc`, or a zombie (dead, not yet reaped by
/// whoever adopted it).
pub(crate) fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Polls `done` every 10 ms until it holds or `timeout` passes; whether it held.
pub(crate) fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A pid written to `path` by a shell (`echo $$ > path`), once it is there.
pub(crate) fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    let found = eventually(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    assert!(found, "{} never appeared", path.display());
    pid.expect("found")
}

/// The `leasehold` binary run in `scratch`'s directory, with no `--db` and no `$LEASEHOLD_DB`.
pub(crate) fn leasehold_without_db(scratch: &Scratch) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leasehold"));
    command
        .current_dir(scratch.dir.path())
        .env_remove("LEASEHOLD_DB");
    command
}

/// The `leasehold` binary, with `--db` set to `scratch`'s database and its directory as the
/// working directory.
pub(crate) fn leasehold(scratch: &Scratch) -> Command {
    let mut command = leasehold_without_db(scratch);
    command.arg("--db").arg(scratch.db());
    command
}

/// A running `leasehold` process whose stderr lines are collected as they come.
pub(crate) struct Running {
    pub(crate) child: Child,
    lines: Receiver<(Instant, String)>,
    pub(crate) seen: Vec<(Instant, String)>,
}

impl Running {
    /// Starts `command` with stderr piped (stdout and stdin are left alone).
    pub(crate) fn start(mut command: Command) -> Self {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leasehold");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the JSON event `name`; returns it and when it was read.
    pub(crate) fn wait_event(&mut self, name: &str, timeout: Duration) -> (Instant, Value) {
        if let Some(found) = self.events().into_iter().find(|(_, e)| e["event"] == name) {
            return found;
        }
        let end = Instant::now() + timeout;
        while let Ok((at, line)) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push((at, line.clone()));
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["event"] == name
            {
                return (at, event);
            }
        }
        let _ = self.child.kill();
        panic!(
            "no {name:?} event within {timeout:?}; stderr so far: {:#?}",
            self.seen
        );
    }

    /// Waits up to `timeout` for the process to exit (killing it if it does not); its status,
    /// when the exit was noticed, and every stderr line.
    pub(crate) fn finish(mut self, timeout: Duration) -> (ExitStatus, Instant, Vec<String>) {
        let end = Instant::now() + timeout;
        let (status, at) = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break (status, Instant::now());
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.drain();
                panic!(
                    "leasehold did not exit within {timeout:?}; stderr: {:#?}",
                    self.seen
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        self.drain();
        (status, at, self.seen.into_iter().map(|(_, l)| l).collect())
    }

    /// Every JSON event read so far, with when it was read.
    pub(crate) fn events(&mut self) -> Vec<(Instant, Value)> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter_map(|(at, l)| serde_json::from_str(l).ok().map(|v| (*at, v)))
            .collect()
    }

    /// Reads the rest of stderr (the process has exited, so its end is near).
    fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
    }
}

/// The JSON events among `lines`, in order.
pub(crate) fn events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("event").is_some())
        .collect()
}

/// The names of `events`, in order.
pub(crate) fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().expect("a name").to_owned())
        .collect()
}

/// Sends `signal` to process `pid`.
pub(crate) fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("a pid")).expect("positive");
    rustix::process::kill_process(pid, signal).expect("signal");
}

/// A process stopped with SIGSTOP, resumed when this is dropped — also when the test panics
/// before it means to resume it, so that no stopped process outlives a failed test.
pub(crate) struct Stopped(u32);

impl Stopped {
    pub(crate) fn new(pid: u32) -> Self {
        signal(pid, rustix::process::Signal::STOP);
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // Never a panic here: this may run while a failed test unwinds.
        let pid = i32::try_from(self.0)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        }
    }
}
