//! What `run` tells on stderr: one JSON event per line with `--json`; otherwise one line for a
//! person when something went wrong, and an updating line while waiting on a terminal.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use leasehold::{Holder, LossReason, LostReason, Release};
use serde_json::{Map, Value, json};

use crate::{duration, time};

/// The reporter of one `run`.
pub(crate) struct Reporter {
    json: bool,
    terminal: bool,
    resource: String,
    /// Whether the updating waiting line is on the terminal now.
    line_open: Cell<bool>,
}

impl Reporter {
    pub(crate) fn new(json: bool, resource: &str) -> Self {
        Self {
            json,
            terminal: std::io::stderr().is_terminal(),
            resource: resource.to_owned(),
            line_open: Cell::new(false),
        }
    }

    /// One JSON event (with `--json`): `event`, `ts_ms`, `resource`, and `fields`.
    pub(crate) fn event(&self, event: &str, fields: Value) {
        if !self.json {
            return;
        }
        let mut object = Map::new();
        object.insert("event".into(), event.into());
        object.insert("ts_ms".into(), time::now_ms().into());
        object.insert("resource".into(), self.resource.clone().into());
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        // A closed stderr must not stop the supervisor: its job is the lease and the command.
        let _ = writeln!(std::io::stderr().lock(), "{}", Value::Object(object));
    }

    /// A line for a person (without `--json`).
    pub(crate) fn say(&self, text: &str) {
        if self.json {
            return;
        }
        self.clear_line();
        let _ = writeln!(std::io::stderr().lock(), "leasehold: {text}");
    }

    /// The waiting line on a terminal (without `--json`), rewritten in place.
    pub(crate) fn waiting_line(&self, holder: &Holder, waited: Duration) {
        if self.json || !self.terminal {
            return;
        }
        let text = format!(
            "\r\x1b[2Kleasehold: waiting for {}: held by {} (token {}) until {}; waited {}",
            self.resource,
            holder.owner(),
            holder.token(),
            time::rfc3339(holder.expires_at().as_millis()),
            duration::show(waited),
        );
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        self.line_open.set(true);
    }

    /// Clears the waiting line, if it is there.
    pub(crate) fn clear_line(&self) {
        if self.line_open.replace(false) {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
        }
    }
}

/// A holder's fields in JSON events and output.
pub(crate) fn holder_fields(holder: &Holder) -> Value {
    json!({
        "owner": holder.owner().as_str(),
        "token": holder.token().get(),
        "acquired_at_ms": holder.acquired_at().as_millis(),
        "expires_at_ms": holder.expires_at().as_millis(),
    })
}

/// `a` with the fields of `b` added.
pub(crate) fn merged(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

/// How a lease ended, as the JSON events and output name it.
pub(crate) fn lost_reason(reason: LostReason) -> &'static str {
    match reason {
        LostReason::Expired => "expired",
        LostReason::Released => "released",
        LostReason::Evicted => "evicted",
        LostReason::NotCurrent => "replaced",
    }
}

/// Why a keeper gave its lease up, as the JSON events name it.
pub(crate) fn loss_reason(reason: LossReason) -> &'static str {
    match reason {
        LossReason::Refused(reason) => lost_reason(reason),
        LossReason::DeadlinePassed => "deadline",
    }
}

/// A release's answer, as the JSON events and output name it.
pub(crate) fn release_answer(answer: &Release) -> &'static str {
    match answer {
        Release::Released => "released",
        Release::Expired => "expired",
        Release::NotHolder(_) => "not_holder",
    }
}

/// The name of the signals `run` handles and sends.
pub(crate) fn signal_name(signal: i32) -> String {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};
    match signal {
        SIGHUP => "SIGHUP".into(),
        SIGINT => "SIGINT".into(),
        SIGKILL => "SIGKILL".into(),
        SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}
