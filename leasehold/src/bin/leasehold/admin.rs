//! The subcommands other than `run`: one store call each, a line or a table for people, one JSON
//! value on stdout with `--json`.

use std::io::Write;
use std::time::Duration;

use leasehold::{Acquire, Error, Evict, FencingToken, Holder, Release, Renew, Store, StoreError};
use serde_json::{Value, json};

use crate::args::{AcquireArgs, PruneArgs, ReleaseArgs, RenewArgs, ResourceArg};
use crate::report::{holder_fields, lost_reason, merged, release_answer};
use crate::{exit, owner, time};

/// How a subcommand prints.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// `value` with `--json`, else `text` (nothing if empty), on stdout; `Err` with the exit code
    /// ([`exit::OS`]) after saying why on stderr when stdout refuses it (a closed pipe, say:
    /// `println!` would panic).
    fn print(self, value: &Value, text: &str) -> Result<(), u8> {
        let line = if self.json {
            value.to_string()
        } else {
            text.to_owned()
        };
        if line.is_empty() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(|e| {
                complain(&format!("cannot write the answer on stdout: {e}"));
                exit::OS
            })
    }
}

/// One line on stderr; a stderr that refuses it has no one to tell.
fn complain(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "leasehold: {text}");
}

/// Reports `error` and returns its exit code: one line on stderr, or with `--json` one value on
/// stdout, `{"error": {"kind": …, "message": …}}` (the kind as `run`'s `error` events name it).
pub(crate) fn fail(error: &Error, out: Output) -> u8 {
    if out.json {
        let value =
            json!({"error": {"kind": error.kind().to_string(), "message": error.to_string()}});
        // The exit code says it failed even when stdout refuses the details.
        let _ = out.print(&value, "");
    } else {
        complain(&error.to_string());
    }
    exit::for_error(error)
}

pub(crate) fn acquire(store: &Store, args: &AcquireArgs, out: Output) -> u8 {
    let lease = &args.lease;
    let owner = lease.owner.clone().unwrap_or_else(owner::default_owner);
    match store.acquire_for(&lease.resource, &owner, lease.ttl, lease.wait) {
        Ok(Acquire::Granted(granted)) => {
            let value = merged(
                json!({"resource": lease.resource, "acquired": true}),
                holder_fields(granted.holder()),
            );
            if let Err(code) = out.print(&value, &granted.token().get().to_string()) {
                // Nobody learnt the token: the lease would be held, unusable, for a whole ttl.
                let _ = store.release(&granted);
                return code;
            }
            exit::OK
        }
        Ok(Acquire::Busy(holder)) => {
            let value = merged(
                json!({"resource": lease.resource, "acquired": false}),
                holder_fields(&holder),
            );
            if let Err(code) = out.print(&value, "") {
                return code;
            }
            if !out.json {
                complain(&held_by(&holder));
            }
            exit::NOT_ACQUIRED
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn renew(store: &Store, args: &RenewArgs, out: Output) -> u8 {
    let Some(token) = token(args.token) else {
        return exit::USAGE;
    };
    match store.renew_by_token(&args.resource, token, args.ttl) {
        Ok(Renew::Renewed(lease)) => {
            let value = merged(
                json!({"resource": args.resource, "renewed": true}),
                holder_fields(lease.holder()),
            );
            let until = time::rfc3339(lease.expires_at().as_millis());
            if let Err(code) = out.print(
                &value,
                &format!("renewed {} (token {token}) until {until}", args.resource),
            ) {
                return code;
            }
            exit::OK
        }
        Ok(Renew::Lost(lost)) => {
            let reason = lost_reason(lost.reason());
            let value = json!({"resource": args.resource, "renewed": false, "token": token.get(), "reason": reason});
            if let Err(code) = out.print(&value, "") {
                return code;
            }
            if !out.json {
                complain(&format!(
                    "the lease on {} with token {token} is lost ({reason})",
                    args.resource
                ));
            }
            exit::LOST
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn release(store: &Store, args: &ReleaseArgs, out: Output) -> u8 {
    let Some(token) = token(args.token) else {
        return exit::USAGE;
    };
    match store.release_by_token(&args.resource, token) {
        Ok(answer) => {
            let name = release_answer(&answer);
            let value = json!({"resource": args.resource, "token": token.get(), "answer": name});
            if let Err(code) = out.print(&value, "") {
                return code;
            }
            match answer {
                Release::Released => exit::OK,
                Release::Expired | Release::NotHolder(_) => {
                    if !out.json {
                        complain(&format!(
                            "the lease on {} with token {token} was not held: {name}",
                            args.resource
                        ));
                    }
                    exit::LOST
                }
            }
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn status(store: &Store, args: &ResourceArg, out: Output) -> u8 {
    match store.holder(&args.resource) {
        Ok(Some(holder)) => {
            let value = merged(
                json!({"resource": args.resource, "held": true}),
                holder_fields(&holder),
            );
            if let Err(code) = out.print(&value, &held_by(&holder)) {
                return code;
            }
            exit::OK
        }
        Ok(None) => {
            let value = json!({"resource": args.resource, "held": false});
            if let Err(code) = out.print(&value, &format!("{} is free", args.resource)) {
                return code;
            }
            exit::NOT_HELD
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn list(store: &Store, out: Output) -> u8 {
    match store.holders() {
        Ok(holders) => {
            let values: Vec<Value> = holders
                .iter()
                .map(|h| merged(json!({"resource": h.resource().as_str()}), holder_fields(h)))
                .collect();
            if let Err(code) = out.print(&Value::Array(values), &table(&holders)) {
                return code;
            }
            exit::OK
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn evict(store: &Store, args: &ResourceArg, out: Output) -> u8 {
    match store.evict(&args.resource) {
        Ok(Evict::Evicted(holder)) => {
            let value = merged(
                json!({"resource": args.resource, "evicted": true}),
                holder_fields(&holder),
            );
            let text = format!(
                "evicted {} (token {}) from {}",
                holder.owner(),
                holder.token(),
                args.resource
            );
            if let Err(code) = out.print(&value, &text) {
                return code;
            }
            exit::OK
        }
        Ok(Evict::NotHeld) => {
            let value = json!({"resource": args.resource, "evicted": false});
            if let Err(code) = out.print(&value, &format!("{} was not held", args.resource)) {
                return code;
            }
            exit::NOT_HELD
        }
        Err(e) => fail(&e, out),
    }
}

pub(crate) fn prune(store: &Store, args: &PruneArgs, out: Output) -> u8 {
    match store.prune(args.idle) {
        Ok(pruned) => {
            if let Err(code) = out.print(
                &json!({"pruned": pruned}),
                &format!("pruned {pruned} records"),
            ) {
                return code;
            }
            exit::OK
        }
        Err(e) => fail(&e, out),
    }
}

/// A token from the command line; `None` (after saying why) for 0 or one past
/// [`FencingToken::MAX`].
fn token(value: u64) -> Option<FencingToken> {
    let token = FencingToken::new(value);
    if token.is_none() {
        complain(&format!(
            "--token must be an integer from 1 to {}, as acquire printed it",
            FencingToken::MAX.get()
        ));
    }
    token
}

/// "R is held by O (token N) until T (in 12.3s)".
fn held_by(holder: &Holder) -> String {
    format!(
        "{} is held by {} (token {}) until {} ({})",
        holder.resource(),
        holder.owner(),
        holder.token(),
        time::rfc3339(holder.expires_at().as_millis()),
        left(holder),
    )
}

/// How long until `holder` expires, by this host's clock (the SQLite store's clock).
fn left(holder: &Holder) -> String {
    let ms = holder
        .expires_at()
        .as_millis()
        .saturating_sub(time::now_ms());
    format!("in {}", crate::duration::show(Duration::from_millis(ms)))
}

/// The table `list` prints.
fn table(holders: &[Holder]) -> String {
    let mut rows = vec![["RESOURCE", "OWNER", "TOKEN", "EXPIRES (UTC)", "LEFT"].map(String::from)];
    rows.extend(holders.iter().map(|h| {
        [
            h.resource().to_string(),
            h.owner().to_string(),
            h.token().to_string(),
            time::rfc3339(h.expires_at().as_millis()),
            left(h),
        ]
    }));
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect();
    lines.join("\n")
}
