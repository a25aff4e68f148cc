//! `leasehold __watchdog`: the small process between `run` and its command, which makes sure the
//! command's process group does not outlive the lease, whatever happens to the supervisor.
//!
//! The supervisor keeps the lease; if it dies without a word (SIGKILL, the OOM killer), nobody
//! renews and the lease expires within a ttl — while the command, left alone, would run on; if
//! it is stopped (SIGSTOP, Ctrl-Z) or hangs, the same happens while it is still there. So:
//!
//! - the supervisor sends the watchdog every deadline the keeper confirms, through a pipe, and
//!   says when it starts stopping the command itself. Unless told so, the watchdog sends its
//!   whole group SIGTERM [`TERM_LAG`] after the last deadline it heard, and in any case SIGKILL
//!   `grace` after it — the moment the supervisor itself would — whether or not the supervisor
//!   is still able to;
//! - the watchdog learns of the supervisor's death three ways: the kernel's SIGTERM when its
//!   parent dies (`PR_SET_PDEATHSIG`, asked for before anything else, then a check that the
//!   parent is still the supervisor in case it died before the request), the end of the deadline
//!   pipe (only the supervisor holds its write end), and a look at its parent every 100 ms. Then
//!   it sends the group SIGTERM at once and SIGKILL `grace` later, or at the last deadline's kill
//!   time if that is sooner.
//!
//! Signals the supervisor forwards reach the command through the group; the watchdog ignores
//! them. It passes the command's exit status up as its own.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use rustix::process::{
    Signal, getppid, kill_current_process_group, set_parent_process_death_signal,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::args::WatchdogArgs;
use crate::exit;
use crate::run::child::shell_status;
use crate::time::monotonic_ns;

/// How often the watchdog checks its parent, besides the parent-death signal and the pipe.
const PARENT_CHECK: Duration = Duration::from_millis(100);

/// How long after a deadline the watchdog sends SIGTERM itself, when the supervisor has not said
/// it is stopping the command (it would have, at the deadline, were it able to).
const TERM_LAG: u64 = 50_000_000;

/// What the supervisor writes on the pipe when it starts stopping the command.
pub(crate) const STOPPING: &str = "stopping";

/// What the watchdog reacts to.
enum Note {
    /// A deadline from the supervisor, in nanoseconds on `CLOCK_MONOTONIC`.
    Deadline(u64),
    /// The supervisor is stopping the command (it sent SIGTERM).
    Stopping,
    /// The supervisor is gone.
    Orphaned,
    /// The command exited.
    Exited(std::io::Result<ExitStatus>),
}

/// Runs the command `args` names under the supervisor `args.supervisor`; returns the command's
/// exit status.
pub(crate) fn watchdog(args: &WatchdogArgs) -> u8 {
    if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
        eprintln!("leasehold: cannot ask for a signal on the supervisor's death: {e}");
        return exit::OS;
    }
    // Handlers first: from here on a SIGTERM is a question (is the supervisor gone?), not death.
    let signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("leasehold: cannot handle signals: {e}");
            return exit::OS;
        }
    };
    if !supervisor_alive(args.supervisor) {
        // It died before the death signal was armed; nothing has been started.
        return exit::OS;
    }
    // The inherited read end, opened again by path: taking over a raw descriptor needs `unsafe`.
    let deadlines = match File::open(format!("/proc/self/fd/{}", args.deadlines)) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("leasehold: cannot read the supervisor's deadlines: {e}");
            return exit::OS;
        }
    };
    let Some((program, rest)) = args.command.split_first() else {
        return exit::USAGE;
    };
    let mut child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(e) => return cannot_run(program, &e),
    };
    let (notes, inbox) = mpsc::channel();
    watch_signals(signals, args.supervisor, notes.clone());
    read_deadlines(deadlines, notes.clone());
    thread::spawn(move || notes.send(Note::Exited(child.wait())));
    let grace = u64::try_from(Duration::from_millis(args.grace_ms).as_nanos()).unwrap_or(u64::MAX);
    Watch {
        supervisor: args.supervisor,
        grace,
        deadline: Some(args.deadline_ns),
        orphaned_at: None,
        terminated: false,
    }
    .run(&inbox)
}

/// The watchdog's state. Times are nanoseconds on `CLOCK_MONOTONIC`.
struct Watch {
    supervisor: u32,
    grace: u64,
    /// The last deadline the supervisor sent (at first the one on the command line).
    deadline: Option<u64>,
    /// When the watchdog found the supervisor gone.
    orphaned_at: Option<u64>,
    /// Whether the group was sent SIGTERM (by the supervisor, or by the watchdog).
    terminated: bool,
}

impl Watch {
    fn run(mut self, inbox: &Receiver<Note>) -> u8 {
        loop {
            match inbox.recv_timeout(self.timeout()) {
                Ok(Note::Exited(Ok(status))) => return shell_status(status),
                Ok(Note::Exited(Err(_))) | Err(RecvTimeoutError::Disconnected) => return exit::OS,
                Ok(Note::Deadline(deadline)) => self.deadline = Some(deadline),
                Ok(Note::Stopping) => self.terminated = true,
                Ok(Note::Orphaned) => self.orphaned(),
                Err(RecvTimeoutError::Timeout) => {
                    if !supervisor_alive(self.supervisor) {
                        self.orphaned();
                    }
                }
            }
            self.act(monotonic_ns());
        }
    }

    /// SIGTERM, then SIGKILL, to the whole group (this process included) when they are due.
    fn act(&mut self, now: u64) {
        if self.term_at().is_some_and(|at| now >= at) {
            self.terminated = true;
            // Reaches this process too, whose handler takes it as a question it has answered.
            let _ = kill_current_process_group(Signal::TERM);
        }
        if self.kill_at().is_some_and(|at| now >= at) {
            let _ = kill_current_process_group(Signal::KILL);
        }
    }

    /// When the watchdog sends SIGTERM: at once when orphaned, else [`TERM_LAG`] after the last
    /// deadline (never after the SIGKILL); `None` once sent, by either.
    fn term_at(&self) -> Option<u64> {
        if self.terminated {
            return None;
        }
        let lagged = self.deadline.map(|d| d.saturating_add(TERM_LAG));
        earliest(earliest(self.orphaned_at, lagged), self.kill_at())
    }

    /// When the watchdog sends SIGKILL: `grace` after the last deadline, or after it found the
    /// supervisor gone, whichever is sooner.
    fn kill_at(&self) -> Option<u64> {
        let after = |at: Option<u64>| at.map(|at| at.saturating_add(self.grace));
        earliest(after(self.deadline), after(self.orphaned_at))
    }

    /// Until the next parent check, or the next signal if sooner.
    fn timeout(&self) -> Duration {
        let next = earliest(self.term_at(), self.kill_at());
        let until = next.map_or(PARENT_CHECK, |at| {
            Duration::from_nanos(at.saturating_sub(monotonic_ns()))
        });
        PARENT_CHECK.min(until)
    }

    fn orphaned(&mut self) {
        self.orphaned_at.get_or_insert_with(monotonic_ns);
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Notes the supervisor's death when a signal arrives and the parent is no longer it.
fn watch_signals(mut signals: Signals, supervisor: u32, notes: Sender<Note>) {
    thread::spawn(move || {
        for _ in signals.forever() {
            if !supervisor_alive(supervisor) && notes.send(Note::Orphaned).is_err() {
                break;
            }
        }
    });
}

/// Forwards every deadline and the supervisor's `stopping`; the end of the pipe (or a line that is
/// neither) means the supervisor is gone.
fn read_deadlines(deadlines: File, notes: Sender<Note>) {
    thread::spawn(move || {
        for line in BufReader::new(deadlines).lines() {
            let note = match line {
                Ok(line) if line.trim() == STOPPING => Note::Stopping,
                Ok(line) => match line.trim().parse() {
                    Ok(deadline) => Note::Deadline(deadline),
                    Err(_) => break,
                },
                Err(_) => break,
            };
            if notes.send(note).is_err() {
                return;
            }
        }
        let _ = notes.send(Note::Orphaned);
    });
}

/// Whether the watchdog's parent is still `supervisor` (an orphan is adopted by another process).
fn supervisor_alive(supervisor: u32) -> bool {
    getppid().is_some_and(|parent| parent.as_raw_nonzero().get().unsigned_abs() == supervisor)
}

/// The exit status for a command that could not be started, as shells report it.
fn cannot_run(program: &std::ffi::OsString, error: &std::io::Error) -> u8 {
    eprintln!(
        "leasehold: cannot run {}: {error}",
        program.to_string_lossy()
    );
    match error.kind() {
        ErrorKind::NotFound => exit::NOT_FOUND,
        _ => exit::CANNOT_EXECUTE,
    }
}
