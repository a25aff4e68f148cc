//! Processes: who the servers run as, signals, and the watchdog that kills a server and removes its
//! directory when the test process dies without dropping it.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::binaries;
use crate::error::Error;

/// `nobody` on every Linux distribution; `initdb` and `postgres` refuse to run as root.
const NOBODY: u32 = 65534;

/// Who `initdb`, `postgres`, `pg_basebackup` and `pgbouncer` run as.
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    /// Not root: run them as ourselves.
    Current,
    /// Root: drop to `nobody` with util-linux's `setpriv`.
    Nobody { setpriv: PathBuf },
}

impl RunAs {
    /// Root (by `/proc/self`'s owner, which is the effective uid) runs servers as `nobody`.
    pub(crate) fn detect() -> Result<RunAs, Error> {
        let euid = fs::metadata("/proc/self")
            .map(|meta| meta.uid())
            .unwrap_or(u32::MAX);
        if euid == 0 {
            Ok(RunAs::Nobody {
                setpriv: binaries::setpriv()?,
            })
        } else {
            Ok(RunAs::Current)
        }
    }

    /// A command that runs `program` as this user, with a scrubbed environment (see [`scrub`]).
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = match self {
            RunAs::Current => Command::new(program),
            RunAs::Nobody { setpriv } => {
                let mut command = Command::new(setpriv);
                let (uid, gid) = (format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"));
                command
                    .args([uid.as_str(), gid.as_str(), "--clear-groups", "--"])
                    .arg(program);
                command
            }
        };
        scrub(&mut command);
        command
    }

    /// Hands a file or directory we created to the server's user (a no-op unless root).
    pub(crate) fn own(&self, path: &Path) -> Result<(), Error> {
        match self {
            RunAs::Current => Ok(()),
            RunAs::Nobody { .. } => std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY))
                .map_err(Error::io(format!("chown {}", path.display()))),
        }
    }
}

/// Removes the `PG*` variables that would redirect or reconfigure a connection (a developer's
/// `PGHOST`, `PGOPTIONS`, ...), keeping passwords and TLS settings for an external server; and
/// makes messages English so that the harness can recognise them.
pub(crate) fn scrub(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let keep = ["PGPASSWORD", "PGPASSFILE", "PGSSL"]
            .iter()
            .any(|kept| name.starts_with(kept));
        if name.starts_with("PG") && !keep {
            command.env_remove(name.as_ref());
        }
    }
    command.env("LC_ALL", "C").env_remove("LANGUAGE");
}

/// Runs a setup program to completion; a non-zero exit is [`Error::Tool`].
pub(crate) fn run(mut command: Command) -> Result<String, Error> {
    let program = program_name(&command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("spawn {program}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Err(Error::Tool {
            program,
            status: output.status,
            stderr,
        })
    }
}

/// The program a command runs, looking through `setpriv ... --`.
pub(crate) fn program_name(command: &Command) -> String {
    let after_separator = command.get_args().skip_while(|arg| *arg != "--").nth(1);
    let program = after_separator.unwrap_or_else(|| command.get_program());
    Path::new(program)
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy()
        .into_owned()
}

/// Sends a signal (by name: "INT", "KILL", ...) to a process, or to a process group when `target`
/// is negative; a target that is already gone is not an error. Uses the shell's `kill` builtin
/// because std sends only SIGKILL, and only to its own children.
pub(crate) fn signal(signal: &str, target: i64) -> Result<(), Error> {
    let status = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" -- \"$2\" 2>/dev/null; true",
            "sh",
            signal,
        ])
        .arg(target.to_string())
        .status()
        .map_err(Error::io("spawn sh for kill"))?;
    debug_assert!(status.success(), "the script ends with `true`");
    Ok(())
}

/// Sends a signal to every process in `targets` (pids, or process groups when negative) with one
/// `kill`; targets already gone are not an error.
fn signal_all(signal: &str, targets: &[i64]) -> Result<(), Error> {
    if targets.is_empty() {
        return Ok(());
    }
    let status = Command::new("sh")
        .args([
            "-c",
            "s=$1; shift; kill -s \"$s\" -- \"$@\" 2>/dev/null; true",
            "sh",
            signal,
        ])
        .args(targets.iter().map(ToString::to_string))
        .status()
        .map_err(Error::io("spawn sh for kill"))?;
    debug_assert!(status.success(), "the script ends with `true`");
    Ok(())
}

/// The fields of `/proc/PID/stat` after the command name (which is in parentheses and may
/// contain anything): state, ppid, pgrp, ...
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Every live process descended from `pid`, children first.
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let child = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let parent = stat_fields(&child.to_string())?.get(1)?.parse().ok()?;
            Some((child, parent))
        })
        .collect();
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// Whether process `pid` is alive (not a zombie).
fn alive(pid: u32) -> bool {
    stat_fields(&pid.to_string())
        .and_then(|fields| fields.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Whether any live (not zombie) process belongs to process group `pgid`. Zombies count as gone:
/// they hold no files, sockets or shared memory, and on machines whose init does not reap
/// (containers) orphans stay zombies forever.
#[must_use]
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may contain anything.
        let fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let mut fields = fields.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|pgrp| pgrp.parse::<u32>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// Waits for a child to exit, up to `timeout`.
pub(crate) fn wait_for(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => return None,
            // waitpid failed: nothing left to wait for (std caches a status it has seen).
            Err(_) => return child.try_wait().ok().flatten(),
        }
    }
}

/// Waits until process group `pgid` has no live member, up to `timeout`.
pub(crate) fn wait_group_gone(pgid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while group_alive(pgid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A server process, leader of its own process group (so Ctrl-C in a terminal reaches the test,
/// not the server, and one signal reaches all of the server's processes), guarded by a watchdog.
#[derive(Debug)]
pub(crate) struct Daemon {
    child: Child,
    program: String,
    watchdog: Watchdog,
}

impl Daemon {
    /// Spawns `command` in a new process group. If this process dies before [`Daemon::stop`],
    /// the watchdog sends `death_signal` to the group, then SIGKILL, then removes `dir`.
    pub(crate) fn spawn(
        mut command: Command,
        death_signal: &str,
        dir: &Path,
    ) -> Result<Daemon, Error> {
        let program = program_name(&command);
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .map_err(Error::io(format!("spawn {program}")))?;
        match Watchdog::arm(child.id(), death_signal, dir) {
            Ok(watchdog) => Ok(Daemon {
                child,
                program,
                watchdog,
            }),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    }

    /// The leader's pid, which is also the group id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The program's file name, for messages.
    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    /// `Some` exit status if the process has exited (it is then reaped).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` to the leader and waits up to `grace` for it to exit; then SIGKILLs the
    /// whole group. Returns once no process of the group is alive, and disarms the watchdog.
    pub(crate) fn stop(mut self, signal_name: &str, grace: Duration) -> Result<(), Error> {
        // Signal only an unreaped leader: a reaped pid may already belong to someone else.
        if self.exited().is_none() {
            signal(signal_name, i64::from(self.pid()))?;
        }
        if wait_for(&mut self.child, grace).is_none() {
            self.kill_group()?;
        }
        self.finish()
    }

    /// SIGKILLs the leader and every process descended from it at once: a crash of the whole
    /// server. Not a signal to the group alone: PostgreSQL's backends and auxiliary processes each
    /// start a session of their own (`setsid`), so a group signal reaches the postmaster only, and
    /// its children would go on until they notice its death — still attached to the shared
    /// memory, so that a restart right afterwards fails ("pre-existing shared memory block is still
    /// in use"). The leader is stopped first, so that it forks no child after the list is taken.
    pub(crate) fn kill(mut self) -> Result<(), Error> {
        let pid = i64::from(self.pid());
        if self.exited().is_none() {
            signal("STOP", pid)?;
        }
        let descendants = descendants(self.pid());
        let targets: Vec<i64> = descendants.iter().map(|&child| i64::from(child)).collect();
        signal_all("KILL", &targets)?;
        self.kill_group()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while descendants.iter().any(|&child| alive(child)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        self.finish()
    }

    fn kill_group(&mut self) -> Result<(), Error> {
        // The group id stays reserved while the leader is unreaped or any member lives.
        if self.exited().is_none() || group_alive(self.pid()) {
            signal("KILL", -i64::from(self.pid()))?;
        }
        // SIGKILL cannot be caught: the wait ends promptly.
        wait_for(&mut self.child, Duration::from_secs(10));
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        let pgid = self.pid();
        if !wait_group_gone(pgid, Duration::from_secs(10)) && group_alive(pgid) {
            signal("KILL", -i64::from(pgid))?;
            wait_group_gone(pgid, Duration::from_secs(5));
        }
        self.watchdog.disarm();
        Ok(())
    }
}

/// A `sh` process that waits for end-of-file on its stdin, whose other end only this process holds
/// (std opens pipes close-on-exec, so no other child inherits it). The end-of-file comes when this
/// process exits or is killed, however that happens; then the watchdog kills the server's process
/// group and removes its directory. It runs in its own process group so that Ctrl-C does not kill
/// it before it has cleaned up.
#[derive(Debug)]
struct Watchdog {
    child: Child,
    // Held, never written: closing it (by dying) is the trigger.
    _stdin: ChildStdin,
}

const WATCHDOG: &str = r#"trap '' INT HUP TERM QUIT PIPE
read -r line
kill -s "$2" -- "-$1" 2>/dev/null
sleep 1
kill -s KILL -- "-$1" 2>/dev/null
sleep 0.2
rm -rf -- "$3""#;

impl Watchdog {
    fn arm(pgid: u32, death_signal: &str, dir: &Path) -> Result<Watchdog, Error> {
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG, "sh", &pgid.to_string(), death_signal])
            .arg(dir)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io("spawn the watchdog"))?;
        let stdin = child.stdin.take().expect("stdin was piped just above");
        Ok(Watchdog {
            child,
            _stdin: stdin,
        })
    }

    /// The server stopped normally: end the watchdog without letting it act.
    fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command that runs when this process exits, however it exits: a `sh` in its own process group
/// (so that Ctrl-C does not end it first) waits for end-of-file on a pipe only this process holds,
/// then runs the command. Held for the life of the process; never disarmed.
#[derive(Debug)]
pub(crate) struct ExitHook {
    _child: Child,
    // Held, never written: closing it (by exiting or dying) is the trigger.
    _stdin: ChildStdin,
}

const EXIT_HOOK: &str = r#"trap '' INT HUP TERM QUIT PIPE
read -r line
exec "$@""#;

impl ExitHook {
    /// Arms `program` with `args` (the environment scrubbed as for every tool, see [`scrub`]).
    pub(crate) fn arm<A: AsRef<OsStr>>(program: &Path, args: &[A]) -> Result<ExitHook, Error> {
        let mut command = Command::new("sh");
        scrub(&mut command);
        let mut child = command
            .args(["-c", EXIT_HOOK, "sh"])
            .arg(program)
            .args(args)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io("spawn an exit hook"))?;
        let stdin = child.stdin.take().expect("stdin was piped just above");
        Ok(ExitHook {
            _child: child,
            _stdin: stdin,
        })
    }
}

/// The last `lines` lines of a log file ("" if it cannot be read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    let _ = fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
