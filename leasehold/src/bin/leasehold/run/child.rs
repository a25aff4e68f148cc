//! The supervised process tree: the watchdog (`leasehold __watchdog`) in a process group of its
//! own, and the command under it in the same group. The supervisor signals the whole group, and
//! reaps the watchdog only after killing what is left of the group, so the group id it signals
//! can never belong to anyone else. It also sends the watchdog every deadline the keeper
//! confirms, through a pipe, so that the watchdog can enforce the last one on its own.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use rustix::io::{FdFlags, fcntl_setfd};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process_group, waitid};

use crate::run::Event;
use crate::{exit, time};

/// The watchdog process and its group.
pub(crate) struct Child {
    process: std::process::Child,
    group: Pid,
    /// The write end of the watchdog's deadline pipe: one line per deadline, in nanoseconds on
    /// `CLOCK_MONOTONIC`. Only the supervisor holds it, so the watchdog reads end-of-file the
    /// moment the supervisor dies.
    deadlines: File,
}

impl Child {
    /// Starts `leasehold __watchdog` for `command` in a new process group, with `env` added to
    /// its environment. The watchdog is given `deadline` (the acquire's) on its command line,
    /// before it starts the command: a supervisor stopped or killed before it writes a line on
    /// the pipe cannot leave the command running without a limit.
    ///
    /// Must be called on the thread that lives as long as the supervisor (the main thread): the
    /// watchdog's parent-death signal fires when the thread that forked it exits.
    pub(crate) fn start(
        command: &[OsString],
        env: &[(&str, String)],
        grace: Duration,
        deadline: Instant,
    ) -> io::Result<Self> {
        let (reader, writer) = rustix::pipe::pipe()?;
        // The write end stays in this process alone; the read end is inherited.
        fcntl_setfd(&writer, FdFlags::CLOEXEC)?;
        let process = Command::new(own_binary()?)
            .arg("__watchdog")
            .arg("--supervisor")
            .arg(std::process::id().to_string())
            .arg("--deadlines")
            .arg(reader.as_raw_fd().to_string())
            .arg("--grace-ms")
            .arg(grace.as_millis().to_string())
            .arg("--deadline-ns")
            .arg(time::monotonic_ns_of(deadline).to_string())
            .arg("--")
            .args(command)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .spawn()?;
        drop(reader);
        // A child's pid is positive; its group id is its pid (`process_group(0)`).
        let group = Pid::from_child(&process);
        Ok(Self {
            process,
            group,
            deadlines: File::from(writer),
        })
    }

    /// Tells the watchdog that the supervisor is stopping the command itself (so the watchdog's
    /// own SIGTERM is not needed; its SIGKILL still is, if the supervisor fails to send it).
    pub(crate) fn send_stopping(&self) {
        let _ = writeln!(&self.deadlines, "{}", crate::run::watchdog::STOPPING);
    }

    /// Tells the watchdog the keeper's deadline (when the command is due SIGTERM unless a
    /// renewal moves it); the watchdog SIGKILLs the group `grace` after the last one it heard.
    pub(crate) fn send_deadline(&self, deadline: Instant) {
        // A watchdog that has exited cannot read it, and needs nothing more.
        let _ = writeln!(&self.deadlines, "{}", time::monotonic_ns_of(deadline));
    }

    /// The watchdog's pid, which is the group's id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Sends `signal` to every process of the group (nothing if none is left).
    pub(crate) fn signal_group(&self, signal: Signal) {
        // `kill(-1)` would signal every process we may signal: never let a group id of 1 through.
        if self.group != Pid::INIT {
            let _ = kill_process_group(self.group, signal);
        }
    }

    /// Sends [`Event::ChildExited`] on `events` when the watchdog has exited, leaving it
    /// unreaped (a zombie keeps its pid, and so its group id, from being reused).
    pub(crate) fn notify_exit(&self, events: Sender<Event>) {
        let pid = self.group;
        thread::spawn(move || {
            // Interrupted by a signal: wait again; any other answer means it has exited (or
            // is not ours to wait for, which the supervisor then finds out when it reaps).
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
            while let Err(rustix::io::Errno::INTR) = waitid(WaitId::Pid(pid), options) {}
            let _ = events.send(Event::ChildExited);
        });
    }

    /// Kills whatever is left of the group (the command's own children, say) and waits until
    /// none of it runs, then reaps the watchdog and returns the command's exit status as a shell
    /// reports it. Only then may the lease be released.
    pub(crate) fn finish(mut self) -> u8 {
        self.signal_group(Signal::KILL);
        // SIGKILL is delivered asynchronously: a process may run on for a moment after `kill`
        // returned. Dead processes are zombies until whoever adopted them reaps them.
        let end = Instant::now() + GROUP_DEATH;
        while group_has_live_members(self.group) && Instant::now() < end {
            thread::sleep(Duration::from_millis(2));
        }
        match self.process.wait() {
            Ok(status) => shell_status(status),
            Err(_) => exit::OS,
        }
    }
}

/// This program, to start as the watchdog. On Linux `/proc/self/exe`, which opens the running
/// image even after its file was replaced by rename (a package manager, `cargo install`):
/// `current_exe()` then names a path that no longer exists (`… (deleted)`).
fn own_binary() -> io::Result<std::path::PathBuf> {
    if cfg!(target_os = "linux") {
        Ok("/proc/self/exe".into())
    } else {
        std::env::current_exe()
    }
}

/// How long `finish` waits for a SIGKILLed group to die before it goes on regardless.
const GROUP_DEATH: Duration = Duration::from_secs(1);

/// Whether a process of group `group` is alive (neither gone nor a zombie), as `/proc` says.
fn group_has_live_members(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    let group = group.as_raw_nonzero().get().to_string();
    entries.filter_map(Result::ok).any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid pgrp …`: the command name may hold spaces and parentheses.
        let fields: Vec<&str> = stat.rsplit_once(") ").map_or(Vec::new(), |(_, rest)| {
            rest.split(' ').take(3).collect()
        });
        matches!(fields.as_slice(), [state, _, pgrp] if *pgrp == group && !matches!(*state, "Z" | "X"))
    })
}

/// An exit status as a shell reports it: the code, or 128 + N for a signal N.
pub(crate) fn shell_status(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => exit::code(code),
        (None, Some(signal)) => exit::signaled(signal),
        (None, None) => exit::OS,
    }
}

/// The `rustix` signal for a signal number `run` handles.
pub(crate) fn signal(number: i32) -> Option<Signal> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match number {
        SIGHUP => Some(Signal::HUP),
        SIGINT => Some(Signal::INT),
        SIGTERM => Some(Signal::TERM),
        _ => None,
    }
}
