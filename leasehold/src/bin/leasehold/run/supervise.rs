//! The supervisor's loop while the command runs: forward signals, report renewals, and when the
//! keeper gives the lease up, SIGTERM the command's group and SIGKILL it `grace` later.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use leasehold::{Guard, GuardEvent, LossReason};
use rustix::process::Signal;
use serde_json::json;

use crate::report::{Reporter, loss_reason, signal_name};
use crate::run::Event;
use crate::run::child::{self, Child};
use crate::time;

/// How long the loop sleeps when it only waits for the group to die (after SIGKILL).
const IDLE: Duration = Duration::from_secs(1);

/// One supervision.
pub(crate) struct Supervision<'a> {
    pub(crate) guard: &'a Guard,
    pub(crate) child: &'a Child,
    pub(crate) report: &'a Reporter,
    pub(crate) grace: Duration,
    /// When the group gets SIGKILL, once the lease is being lost.
    kill_at: Option<Instant>,
    killed: bool,
    lost: Option<LossReason>,
}

impl<'a> Supervision<'a> {
    pub(crate) fn new(
        guard: &'a Guard,
        child: &'a Child,
        report: &'a Reporter,
        grace: Duration,
    ) -> Self {
        Self {
            guard,
            child,
            report,
            grace,
            kill_at: None,
            killed: false,
            lost: None,
        }
    }

    /// Supervises until the watchdog exits; returns why the lease was lost, if it was.
    pub(crate) fn run(mut self, events: &Receiver<Event>) -> Option<LossReason> {
        loop {
            match events.recv_timeout(self.timeout()) {
                Ok(Event::ChildExited) | Err(RecvTimeoutError::Disconnected) => {
                    // Killed by the watchdog while this process could not act (stopped, say):
                    // the keeper knows the lease was lost meanwhile.
                    if self.lost.is_none()
                        && let Some(reason) = self.guard.try_lost()
                    {
                        self.report_loss(reason);
                    }
                    return self.lost;
                }
                Ok(Event::Signal(number)) => self.forward(number),
                Ok(Event::Keeper(event)) => self.keeper(&event),
                Err(RecvTimeoutError::Timeout) => self.tick(),
            }
        }
    }

    /// Until the next thing to check: the SIGKILL, or the keeper's deadline (which passes
    /// without an event if the keeper's thread is stuck in a store call).
    fn timeout(&self) -> Duration {
        let now = Instant::now();
        match self.kill_at {
            Some(at) if !self.killed => at.saturating_duration_since(now),
            Some(_) => IDLE,
            None => self
                .guard
                .deadline()
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        }
    }

    fn tick(&mut self) {
        match self.kill_at {
            Some(at) if !self.killed && Instant::now() >= at => {
                self.child.signal_group(Signal::KILL);
                self.killed = true;
                self.report.event("stopping", json!({"signal": "SIGKILL"}));
            }
            Some(_) => {}
            None => {
                if let Some(reason) = self.guard.try_lost() {
                    self.lose(reason);
                }
            }
        }
    }

    fn report_loss(&mut self, reason: LossReason) {
        self.lost = Some(reason);
        let token = self.guard.token().get();
        self.report.event(
            "lost",
            json!({"reason": loss_reason(reason), "token": token}),
        );
        self.report.say(&format!(
            "the lease was lost ({reason}); stopping the command"
        ));
    }

    fn forward(&self, number: i32) {
        if let Some(signal) = child::signal(number) {
            self.child.signal_group(signal);
        }
        let name = signal_name(number);
        self.report
            .event("signal", json!({"signal": name, "forwarded": true}));
    }

    fn keeper(&mut self, event: &GuardEvent) {
        match event {
            GuardEvent::Renewed { lease, deadline } => {
                self.child.send_deadline(*deadline);
                self.report.event(
                    "renewed",
                    json!({
                        "token": lease.token().get(),
                        "expires_at_ms": lease.expires_at().as_millis(),
                        "deadline_ms": time::wall_ms(*deadline),
                    }),
                );
            }
            GuardEvent::RenewFailed { kind, message } => self.report.event(
                "renew_failed",
                json!({"kind": kind.to_string(), "error": message}),
            ),
            GuardEvent::Lost(reason) => self.lose(*reason),
            _ => {}
        }
    }

    /// The lease is being lost: SIGTERM now, SIGKILL after the grace (once).
    fn lose(&mut self, reason: LossReason) {
        if self.lost.is_some() {
            return;
        }
        self.report_loss(reason);
        self.child.send_stopping();
        self.child.signal_group(Signal::TERM);
        self.report.event("stopping", json!({"signal": "SIGTERM"}));
        self.kill_at = Some(Instant::now() + self.grace);
    }
}
