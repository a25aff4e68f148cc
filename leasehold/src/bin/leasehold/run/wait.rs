//! Waiting for the lease: the store's own waiting acquire, in slices short enough that a signal
//! ends the wait promptly — and never with a lease: one granted as the signal came is released.
//!
//! Each slice is a new acquire and joins the back of the store's line of waiters, so `run`s are
//! not served in arrival order (docs/cli.md says so). One acquire for the whole wait on another
//! thread would keep the place, but a signal could then end `run` in the instant between a grant
//! and its hand-over, leaving a lease nobody holds until its ttl; not done yet.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use leasehold::{Acquire, Error, FencingToken, Holder, Lease, Store};

use crate::report::{Reporter, holder_fields};
use crate::run::Event;

/// The longest a single waiting acquire runs before the signals are looked at again.
const SLICE: Duration = Duration::from_millis(200);

/// How the wait ended.
pub(crate) enum Waited {
    /// The lease.
    Granted(Lease),
    /// `--wait` passed; this is who held it last.
    Busy(Holder),
    /// A signal came; nothing is held.
    Interrupted(i32),
    /// The store failed.
    Failed(Error),
}

/// What is being waited for.
pub(crate) struct Want<'a> {
    pub(crate) resource: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) ttl: Duration,
    pub(crate) wait: Duration,
}

/// Acquires `want`, waiting up to its `wait` (`Duration::MAX`: for as long as it takes), until a
/// signal arrives on `events`.
pub(crate) fn acquire(
    store: &Store,
    want: &Want<'_>,
    events: &Receiver<Event>,
    report: &Reporter,
) -> Waited {
    let started = Instant::now();
    let end = started.checked_add(want.wait);
    let mut seen: Option<FencingToken> = None;
    loop {
        if let Some(signal) = pending_signal(events) {
            return Waited::Interrupted(signal);
        }
        let left = end.map_or(SLICE, |end| end.saturating_duration_since(Instant::now()));
        match store.acquire_for(want.resource, want.owner, want.ttl, left.min(SLICE)) {
            Ok(Acquire::Granted(lease)) => return granted(store, lease, events),
            Ok(Acquire::Busy(holder)) => {
                if seen != Some(holder.token()) {
                    seen = Some(holder.token());
                    report.event("waiting", holder_fields(&holder));
                }
                report.waiting_line(&holder, started.elapsed());
                if end.is_some_and(|end| Instant::now() >= end) {
                    return Waited::Busy(holder);
                }
            }
            Err(e) => return Waited::Failed(e),
        }
    }
}

/// A grant, unless a signal came meanwhile: then the lease is released and the wait interrupted.
fn granted(store: &Store, lease: Lease, events: &Receiver<Event>) -> Waited {
    match pending_signal(events) {
        Some(signal) => {
            let _ = store.release(&lease);
            Waited::Interrupted(signal)
        }
        None => Waited::Granted(lease),
    }
}

/// A signal that arrived, if any (before the command starts, signals are the only events).
fn pending_signal(events: &Receiver<Event>) -> Option<i32> {
    match events.try_recv() {
        Ok(Event::Signal(signal)) => Some(signal),
        _ => None,
    }
}
