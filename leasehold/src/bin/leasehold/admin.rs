//! The subcommands other than `run`: one store call each, a line or a table for people, one JSON
//! value on stdout with `--json`.

use std::time::Duration;

use leasehold::{Acquire, Error, Evict, FencingToken, Holder, Release, Renew, Store};
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
    /// `value` with `--json`, else `text` (nothing if empty), on stdout.
    fn print(self, value: &Value, text: &str) {
        if self.json {
            println!("{value}");
        } else if !text.is_empty() {
            println!("{text}");
        }
    }
}

/// Prints `error` as one line and returns its exit code.
pub(crate) fn fail(error: &Error) -> u8 {
    eprintln!("leasehold: {error}");
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
            out.print(&value, &granted.token().get().to_string());
            exit::OK
        }
        Ok(Acquire::Busy(holder)) => {
            let value = merged(
                json!({"resource": lease.resource, "acquired": false}),
                holder_fields(&holder),
            );
            out.print(&value, "");
            if !out.json {
                eprintln!("leasehold: {}", held_by(&holder));
            }
            exit::NOT_ACQUIRED
        }
        Err(e) => fail(&e),
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
            out.print(
                &value,
                &format!("renewed {} (token {token}) until {until}", args.resource),
            );
            exit::OK
        }
        Ok(Renew::Lost(lost)) => {
            let reason = lost_reason(lost.reason());
            let value = json!({"resource": args.resource, "renewed": false, "token": token.get(), "reason": reason});
            out.print(&value, "");
            if !out.json {
                eprintln!(
                    "leasehold: the lease on {} with token {token} is lost ({reason})",
                    args.resource
                );
            }
            exit::LOST
        }
        Err(e) => fail(&e),
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
            out.print(&value, "");
            match answer {
                Release::Released => exit::OK,
                Release::Expired | Release::NotHolder(_) => {
                    if !out.json {
                        eprintln!(
                            "leasehold: the lease on {} with token {token} was not held: {name}",
                            args.resource
                        );
                    }
                    exit::LOST
                }
            }
        }
        Err(e) => fail(&e),
    }
}

pub(crate) fn status(store: &Store, args: &ResourceArg, out: Output) -> u8 {
    match store.holder(&args.resource) {
        Ok(Some(holder)) => {
            let value = merged(
                json!({"resource": args.resource, "held": true}),
                holder_fields(&holder),
            );
            out.print(&value, &held_by(&holder));
            exit::OK
        }
        Ok(None) => {
            let value = json!({"resource": args.resource, "held": false});
            out.print(&value, &format!("{} is free", args.resource));
            exit::NOT_HELD
        }
        Err(e) => fail(&e),
    }
}

pub(crate) fn list(store: &Store, out: Output) -> u8 {
    match store.holders() {
        Ok(holders) => {
            let values: Vec<Value> = holders
                .iter()
                .map(|h| merged(json!({"resource": h.resource().as_str()}), holder_fields(h)))
                .collect();
            out.print(&Value::Array(values), &table(&holders));
            exit::OK
        }
        Err(e) => fail(&e),
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
            out.print(&value, &text);
            exit::OK
        }
        Ok(Evict::NotHeld) => {
            let value = json!({"resource": args.resource, "evicted": false});
            out.print(&value, &format!("{} was not held", args.resource));
            exit::NOT_HELD
        }
        Err(e) => fail(&e),
    }
}

pub(crate) fn prune(store: &Store, args: &PruneArgs, out: Output) -> u8 {
    match store.prune(args.idle) {
        Ok(pruned) => {
            out.print(
                &json!({"pruned": pruned}),
                &format!("pruned {pruned} records"),
            );
            exit::OK
        }
        Err(e) => fail(&e),
    }
}

/// A token from the command line; `None` (after saying why) for 0.
fn token(value: u64) -> Option<FencingToken> {
    let token = FencingToken::new(value);
    if token.is_none() {
        eprintln!("leasehold: --token must be a positive integer, as acquire printed it");
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
