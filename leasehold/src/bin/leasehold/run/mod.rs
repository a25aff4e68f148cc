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

use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::{Duration, Instant};

use leasehold::{
    Error, Guard, GuardEvent, HoldOptions, KeeperConfig, KeeperConfigError, StoreError, Ttl,
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
    let want = &args.lease;
    let grace = args
        .grace
        .unwrap_or_else(|| DEFAULT_GRACE.min(want.ttl / 5));
    let config = match keeper_config(want.ttl, grace) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("leasehold: {message} (see leasehold run --help)");
            return exit::USAGE;
        }
    };
    let report = Reporter::new(json, &want.resource);
    let (sender, events) = mpsc::channel();
    if let Err(e) = receive_signals(sender.clone()) {
        eprintln!("leasehold: cannot handle signals: {e}");
        return exit::OS;
    }
    let store = match leasehold::open(db) {
        Ok(store) => store,
        Err(e) => return failed(&report, &e),
    };
    let owner = want.owner.clone().unwrap_or_else(owner::default_owner);
    let ttl = config.ttl.as_duration();
    let lease_wanted = Want {
        resource: &want.resource,
        owner: &owner,
        ttl,
        wait: want.wait,
    };
    let started = Instant::now();
    let lease = match wait::acquire(&store, &lease_wanted, &events, &report) {
        Waited::Granted(lease) => lease,
        Waited::Busy(holder) => {
            report.clear_line();
            let waited = json!({"waited_ms": millis(started.elapsed())});
            report.event("not_acquired", merged(holder_fields(&holder), waited));
            report.say(&format!(
                "{} is held by {} (token {}); gave up after {}",
                want.resource,
                holder.owner(),
                holder.token(),
                duration::show(started.elapsed())
            ));
            return finish(&report, exit::NOT_ACQUIRED);
        }
        Waited::Interrupted(signal) => {
            report.clear_line();
            report.event(
                "signal",
                json!({"signal": signal_name(signal), "forwarded": false}),
            );
            return finish(&report, exit::signaled(signal));
        }
        Waited::Failed(e) => return failed(&report, &e),
    };
    report.clear_line();
    let acquired = merged(
        holder_fields(lease.holder()),
        json!({"waited_ms": millis(started.elapsed())}),
    );
    let observer = sender.clone();
    let options = HoldOptions::new(config).on_event(move |event| {
        let _ = observer.send(Event::Keeper(event.clone()));
    });
    let guard = match store.keep(lease, options) {
        Ok(guard) => guard,
        Err(e) => return failed(&report, &e),
    };
    let deadline_ms = time::wall_ms(guard.deadline());
    report.event(
        "acquired",
        merged(acquired, json!({"deadline_ms": deadline_ms})),
    );
    let env = [
        ("LEASEHOLD_RESOURCE", want.resource.clone()),
        ("LEASEHOLD_TOKEN", guard.token().get().to_string()),
        ("LEASEHOLD_OWNER", owner.clone()),
        ("LEASEHOLD_DEADLINE", time::rfc3339(deadline_ms)),
        ("LEASEHOLD_DEADLINE_MS", deadline_ms.to_string()),
        ("LEASEHOLD_DB", db.to_owned()),
    ];
    let child = match Child::start(&args.command, &env) {
        Ok(child) => child,
        Err(e) => {
            eprintln!("leasehold: cannot start the command's watchdog: {e}");
            let _ = guard.release();
            return finish(&report, exit::OS);
        }
    };
    report.event("started", json!({"pid": child.pid()}));
    child.notify_exit(sender);
    let lost = Supervision::new(&guard, &child, &report, grace).run(&events);
    let status = child.finish();
    report.event("child_exited", json!({"status": status}));
    release(&report, guard);
    finish(&report, if lost.is_some() { exit::LOST } else { status })
}

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
                "--grace {} is not shorter than --ttl {}",
                duration::show(grace),
                duration::show(ttl)
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

/// Releases the lease and reports the store's answer.
fn release(report: &Reporter, guard: Guard) {
    let token = guard.token().get();
    match guard.release() {
        Ok(answer) => {
            let answer = release_answer(&answer);
            report.event("released", json!({"token": token, "answer": answer}));
        }
        Err(e) => {
            report.event(
                "error",
                json!({"kind": e.kind().to_string(), "message": e.to_string()}),
            );
            report.say(&format!("cannot release the lease: {e}"));
        }
    }
}

/// Reports a store error and returns its exit code.
fn failed(report: &Reporter, error: &Error) -> u8 {
    let kind = error.kind().to_string();
    report.event("error", json!({"kind": kind, "message": error.to_string()}));
    report.say(&error.to_string());
    finish(report, exit::for_error(error))
}

/// The last event: the exit code.
fn finish(report: &Reporter, code: u8) -> u8 {
    report.event("exit", json!({"code": code}));
    code
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
