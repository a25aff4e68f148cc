//! `leasehold run`: acquire, start the command under a watchdog in its own process group, keep
//! the lease with the core's keeper, stop the command before the lease can expire, release when
//! it exits, and exit with its code.
//!
//! The keeper is given the grace (plus [`KILL_SLACK`]) as extra margin, so its deadline is the
//! moment to send SIGTERM: the group gets SIGKILL `grace` later, still [`KILL_SLACK`] before
//! the lease's own deadline, which is before the store's expiry.

mod child;
mod supervise;
mod wait;
pub(crate) mod watchdog;

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use leasehold::{
    Error, Guard, GuardEvent, HoldOptions, Holder, KeeperConfig, KeeperConfigError, Lease, Store,
    StoreError, Ttl,
};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::args::RunArgs;
use crate::report::{Reporter, holder_fields, merged, release_answer, signal_name};
use crate::{duration, exit, owner, time};
use child::Child;
use supervise::Supervision;
use wait::{Waited, Want};

/// What the supervisor reacts to, on one channel.
pub(crate) enum Event {
    /// A signal the supervisor received (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
    /// The keeper's thread reported.
    Keeper(GuardEvent),
    /// The watchdog exited (not reaped yet).
    ChildExited,
}

/// Time allowed between SIGKILL and the group's death, and for the supervisor to react.
const KILL_SLACK: Duration = Duration::from_millis(100);
/// The longest default grace.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Runs `args.command` under a lease of the store `db`; returns the exit code.
pub(crate) fn run(db: &str, args: &RunArgs, json: bool) -> u8 {
    let grace = args
        .grace
        .unwrap_or_else(|| DEFAULT_GRACE.min(args.lease.ttl / 5));
    let config = match keeper_config(args.lease.ttl, grace) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("leasehold: {message} (see leasehold run --help)");
            return exit::USAGE;
        }
    };
    let (sender, events) = mpsc::channel();
    if let Err(e) = receive_signals(sender.clone()) {
        eprintln!("leasehold: cannot handle signals: {e}");
        return exit::OS;
    }
    let session = Session {
        db,
        args,
        owner: args
            .lease
            .owner
            .clone()
            .unwrap_or_else(owner::default_owner),
        report: Reporter::new(json, &args.lease.resource),
        grace,
        sender,
        events,
    };
    session.run(config).unwrap_or_else(|code| code)
}

/// One `run`: what it was asked, and the channel everything it reacts to arrives on.
struct Session<'a> {
    db: &'a str,
    args: &'a RunArgs,
    owner: String,
    report: Reporter,
    grace: Duration,
    sender: Sender<Event>,
    events: Receiver<Event>,
}

impl Session<'_> {
    /// Acquire, keep, run the command, release; `Err` carries the exit code of an early end.
    fn run(self, config: KeeperConfig) -> Result<u8, u8> {
        let store = leasehold::open(self.db).map_err(|e| self.failed(&e))?;
        let started = Instant::now();
        let lease = self.acquire(&store, config.ttl.as_duration())?;
        let (guard, deadline_ms) = self.keep(&store, lease, config, started.elapsed())?;
        let child = self.start(&guard, deadline_ms)?;
        child.notify_exit(self.sender.clone());
        let lost = Supervision::new(&guard, &child, &self.report, self.grace).run(&self.events);
        let status = child.finish();
        self.report.event("child_exited", json!({"status": status}));
        self.release(guard);
        Ok(self.finish(if lost.is_some() { exit::LOST } else { status }))
    }

    /// Waits for the lease; reports and returns the exit code when it is not had.
    fn acquire(&self, store: &Store, ttl: Duration) -> Result<Lease, u8> {
        let want = &self.args.lease;
        let wanted = Want {
            resource: &want.resource,
            owner: &self.owner,
            ttl,
            wait: want.wait,
        };
        let started = Instant::now();
        let waited = wait::acquire(store, &wanted, &self.events, &self.report);
        self.report.clear_line();
        match waited {
            Waited::Granted(lease) => Ok(lease),
            Waited::Busy(holder) => Err(self.not_acquired(&holder, started.elapsed())),
            Waited::Interrupted(signal) => {
                let name = signal_name(signal);
                self.report
                    .event("signal", json!({"signal": name, "forwarded": false}));
                Err(self.finish(exit::signaled(signal)))
            }
            Waited::Failed(e) => Err(self.failed(&e)),
        }
    }

    fn not_acquired(&self, holder: &Holder, waited: Duration) -> u8 {
        let fields = json!({"waited_ms": millis(waited)});
        self.report
            .event("not_acquired", merged(holder_fields(holder), fields));
        self.report.say(&format!(
            "{} is held by {} (token {}); gave up after {}",
            holder.resource(),
            holder.owner(),
            holder.token(),
            duration::show(waited)
        ));
        self.finish(exit::NOT_ACQUIRED)
    }

    /// Hands the lease to the keeper, whose events arrive on the session's channel; the guard and
    /// its deadline in wall-clock milliseconds, as reported.
    fn keep(
        &self,
        store: &Store,
        lease: Lease,
        config: KeeperConfig,
        waited: Duration,
    ) -> Result<(Guard, u64), u8> {
        let acquired = merged(
            holder_fields(lease.holder()),
            json!({"waited_ms": millis(waited)}),
        );
        let observer = self.sender.clone();
        let options = HoldOptions::new(config).on_event(move |event| {
            let _ = observer.send(Event::Keeper(event.clone()));
        });
        let guard = store.keep(lease, options).map_err(|e| self.failed(&e))?;
        let deadline_ms = time::wall_ms(guard.deadline());
        self.report.event(
            "acquired",
            merged(acquired, json!({"deadline_ms": deadline_ms})),
        );
        Ok((guard, deadline_ms))
    }

    /// Starts the command under its watchdog, with the lease in its environment (the deadline as
    /// the `acquired` event reported it).
    fn start(&self, guard: &Guard, deadline_ms: u64) -> Result<Child, u8> {
        let env = [
            ("LEASEHOLD_RESOURCE", self.args.lease.resource.clone()),
            ("LEASEHOLD_TOKEN", guard.token().get().to_string()),
            ("LEASEHOLD_OWNER", self.owner.clone()),
            ("LEASEHOLD_DEADLINE", time::rfc3339(deadline_ms)),
            ("LEASEHOLD_DEADLINE_MS", deadline_ms.to_string()),
            ("LEASEHOLD_DB", self.db.to_owned()),
        ];
        match Child::start(&self.args.command, &env, self.grace, guard.deadline()) {
            Ok(child) => {
                stop_for_test();
                self.report.event("started", json!({"pid": child.pid()}));
                Ok(child)
            }
            Err(e) => {
                self.report
                    .say(&format!("cannot start the command's watchdog: {e}"));
                self.report
                    .event("error", json!({"kind": "os", "message": e.to_string()}));
                Err(self.finish(exit::OS))
            }
        }
    }

    /// Releases the lease and reports the store's answer.
    fn release(&self, guard: Guard) {
        let token = guard.token().get();
        match guard.release() {
            Ok(answer) => {
                let answer = release_answer(&answer);
                self.report
                    .event("released", json!({"token": token, "answer": answer}));
            }
            Err(e) => {
                let kind = e.kind().to_string();
                self.report
                    .event("error", json!({"kind": kind, "message": e.to_string()}));
                self.report.say(&format!("cannot release the lease: {e}"));
            }
        }
    }

    /// Reports a store error and returns its exit code.
    fn failed(&self, error: &Error) -> u8 {
        let kind = error.kind().to_string();
        self.report
            .event("error", json!({"kind": kind, "message": error.to_string()}));
        self.report.say(&error.to_string());
        self.finish(exit::for_error(error))
    }

    /// The last event: the exit code.
    fn finish(&self, code: u8) -> u8 {
        self.report.event("exit", json!({"code": code}));
        code
    }
}

/// Test hook (feature `test-util`): with `LEASEHOLD_TEST_STOP_AFTER_WATCHDOG` set, the supervisor
/// stops itself (SIGSTOP) right after starting the watchdog, before it says anything on the pipe.
#[cfg(feature = "test-util")]
fn stop_for_test() {
    if std::env::var_os("LEASEHOLD_TEST_STOP_AFTER_WATCHDOG").is_some() {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
    }
}

#[cfg(not(feature = "test-util"))]
fn stop_for_test() {}

/// The keeper's configuration for `ttl`, with `grace` and [`KILL_SLACK`] added to its margin;
/// a message for a person when they leave nothing to renew in.
fn keeper_config(ttl: Duration, grace: Duration) -> Result<KeeperConfig, String> {
    let ttl_value = Ttl::from_duration(ttl).map_err(|e| format!("--ttl: {e}"))?;
    let mut config = KeeperConfig::new(ttl_value);
    config.margin.fixed = config
        .margin
        .fixed
        .saturating_add(grace)
        .saturating_add(KILL_SLACK);
    config.validate().map_err(|e| match e {
        KeeperConfigError::MarginNotBelowTtl { .. }
        | KeeperConfigError::RenewNotBelowTtl { .. } => {
            format!(
                "--ttl {} leaves no time to renew with --grace {}: --grace + 0.1s (to kill) + \
                 0.1% of --ttl + 1ms (clock margins) must stay under two thirds of --ttl",
                duration::show(ttl),
                duration::show(grace)
            )
        }
        _ => format!(
            "--grace {} is too long for --ttl {}: the command would be stopped before the first \
             renewal is due (keep --grace + 0.1s under two thirds of --ttl)",
            duration::show(grace),
            duration::show(ttl)
        ),
    })?;
    Ok(config)
}

/// Forwards SIGINT, SIGTERM and SIGHUP to `events` from a thread of their own.
fn receive_signals(events: Sender<Event>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::spawn(move || {
        for signal in signals.forever() {
            if events.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });
    Ok(())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
