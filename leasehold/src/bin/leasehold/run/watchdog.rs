//! `leasehold __watchdog`: the small process between `run` and its command, which makes sure
//! the command's process group does not outlive the supervisor.
//!
//! The supervisor keeps the lease; if it dies without a word (SIGKILL, the OOM killer), nobody
//! renews and the lease expires within a ttl — while the command, left alone, would run on.
//! So the watchdog asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), checks
//! that its parent is still the supervisor (it may have died before that call), and when either
//! says the supervisor is gone it SIGKILLs its whole group — the command and everything the
//! command started in it — at once. It also looks at its parent every 100 ms, in case the signal
//! is ever missed. Signals the supervisor forwards reach the command through the group; the
//! watchdog ignores them and passes the command's exit status up.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::process::{
    Signal, getppid, kill_current_process_group, set_parent_process_death_signal,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit;
use crate::run::child::shell_status;

/// How often the watchdog checks its parent, besides the parent-death signal.
const PARENT_CHECK: Duration = Duration::from_millis(100);

/// Runs `command` under the supervisor `supervisor`; returns the command's exit status.
pub(crate) fn watchdog(supervisor: u32, command: &[OsString]) -> u8 {
    if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
        eprintln!("leasehold: cannot ask for a signal on the supervisor's death: {e}");
        return exit::OS;
    }
    // Handlers first: from here on a SIGTERM is a question (is the supervisor gone?), not death.
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("leasehold: cannot handle signals: {e}");
            return exit::OS;
        }
    };
    if !supervisor_alive(supervisor) {
        // It died before the death signal was armed; nothing has been started.
        return exit::OS;
    }
    let Some((program, args)) = command.split_first() else {
        return exit::USAGE;
    };
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => return cannot_run(program, &e),
    };
    thread::spawn(move || {
        for _ in signals.forever() {
            kill_group_if_orphaned(supervisor);
        }
    });
    let (done, exited) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    loop {
        match exited.recv_timeout(PARENT_CHECK) {
            Ok(Ok(status)) => return shell_status(status),
            Ok(Err(_)) => return exit::OS,
            Err(_) => kill_group_if_orphaned(supervisor),
        }
    }
}

/// Whether the watchdog's parent is still `supervisor` (an orphan is adopted by another process).
fn supervisor_alive(supervisor: u32) -> bool {
    getppid().is_some_and(|parent| parent.as_raw_nonzero().get().unsigned_abs() == supervisor)
}

/// SIGKILLs the whole group, this process included, when the supervisor is gone.
fn kill_group_if_orphaned(supervisor: u32) {
    if !supervisor_alive(supervisor) {
        let _ = kill_current_process_group(Signal::KILL);
    }
}

/// The exit status for a command that could not be started, as shells report it.
fn cannot_run(program: &OsString, error: &std::io::Error) -> u8 {
    eprintln!(
        "leasehold: cannot run {}: {error}",
        program.to_string_lossy()
    );
    match error.kind() {
        ErrorKind::NotFound => exit::NOT_FOUND,
        _ => exit::CANNOT_EXECUTE,
    }
}
