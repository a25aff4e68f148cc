//! Clients that run through a failover with synchronous replication: three take turns on two
//! resources (acquire, fenced write, release, with short leases), two hold a long lease each and
//! renew it, while the primary is killed and the standby promoted. Judged by what they were told:
//! no token granted twice, nothing told that the promoted standby does not know, no committed
//! fenced write missing, no held lease lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, Replication};
use leasehold_postgres::{Acquire, Error, ErrorKind, Fenced, Lease, PgStore, Renew, StoreError};

use super::{follow, pair, store, write};
use crate::support::{StopOnDrop, granted, ms};

/// The resources the turn-takers share, and their leases' ttl.
const SHARED: [&str; 2] = ["r0", "r1"];
const SHORT: Duration = Duration::from_millis(2_000);
/// The holders' ttl: far longer than the failover takes, so no held lease may end.
const LONG: Duration = Duration::from_secs(60);

/// Something a client was told, when its request was sent and its answer received.
#[derive(Debug, Clone)]
struct Told {
    what: What,
    sent: Instant,
    received: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    /// A grant (its lease) of `resource`.
    Granted(Lease),
    /// A fenced write under `token` committed.
    Wrote { owner: String, token: u64 },
    /// The lease of `resource` was renewed, to `Lease`.
    Renewed(Lease),
    /// A holder's lease was lost.
    Lost(String),
}

/// What the clients share: their log, the errors they met, and whether to go on.
struct Run {
    told: Mutex<Vec<Told>>,
    errors: Mutex<Vec<String>>,
    running: AtomicBool,
}

impl Default for Run {
    fn default() -> Self {
        Self {
            told: Mutex::default(),
            errors: Mutex::default(),
            running: AtomicBool::new(true),
        }
    }
}

impl Run {
    fn tell(&self, what: What, sent: Instant) {
        let told = Told {
            what,
            sent,
            received: Instant::now(),
        };
        self.told.lock().expect("not poisoned").push(told);
    }

    /// An operation failed: during a failover, only because the server was unavailable.
    fn failed(&self, e: &Error) {
        let mut errors = self.errors.lock().expect("not poisoned");
        if e.kind() == ErrorKind::Unavailable {
            errors.push(format!("{e}"));
        } else {
            errors.push(format!("UNEXPECTED {e:?}"));
        }
        drop(errors);
        thread::sleep(ms(20));
    }

    fn stopped(&self) -> bool {
        !self.running.load(Ordering::SeqCst)
    }

    fn told(&self) -> Vec<Told> {
        self.told.lock().expect("not poisoned").clone()
    }

    /// How many things matching `what` were told, with requests sent after `since`.
    fn count(&self, since: Instant, what: impl Fn(&What) -> bool) -> usize {
        let told = self.told.lock().expect("not poisoned");
        told.iter()
            .filter(|t| t.sent > since && what(&t.what))
            .count()
    }
}

/// An acquire with one request id, sent again after each failure until it is answered.
fn acquire(store: &PgStore, resource: &str, owner: &str, run: &Run) -> Option<(Acquire, Instant)> {
    let id = store.new_request_id();
    while !run.stopped() {
        let sent = Instant::now();
        match store.try_acquire_with_id(resource, owner, SHORT, id) {
            Ok(answer) => return Some((answer, sent)),
            Err(e) => run.failed(&e),
        }
    }
    None
}

/// Takes turns on the shared resources: acquire, fenced write, release.
fn take_turns(store: &PgStore, owner: &str, run: &Run) {
    for resource in SHARED.iter().cycle() {
        let Some((answer, sent)) = acquire(store, resource, owner, run) else {
            return;
        };
        let Acquire::Granted(lease) = answer else {
            thread::sleep(ms(5));
            continue;
        };
        run.tell(What::Granted(lease.clone()), sent);
        let sent = Instant::now();
        match write(store, &lease) {
            Ok(Fenced::Committed(())) => {
                let token = lease.token().get();
                let owner = owner.to_owned();
                run.tell(What::Wrote { owner, token }, sent);
            }
            Ok(Fenced::Lost(_)) => {}
            Err(e) => run.failed(&e),
        }
        if let Err(e) = store.release(&lease) {
            run.failed(&e);
        }
    }
}

/// Holds a long lease of its own and renews it every 100 ms until told to stop or told it is
/// lost.
fn hold(store: &PgStore, owner: &str, run: &Run) {
    let resource = format!("held/{owner}");
    let sent = Instant::now();
    let mut lease = granted(store.try_acquire(&resource, owner, LONG));
    run.tell(What::Granted(lease.clone()), sent);
    while !run.stopped() {
        thread::sleep(ms(100));
        let sent = Instant::now();
        match store.renew(&lease, LONG) {
            Ok(Renew::Renewed(renewed)) => {
                lease = renewed;
                run.tell(What::Renewed(lease.clone()), sent);
            }
            Ok(Renew::Lost(_)) => {
                run.tell(What::Lost(resource), sent);
                return;
            }
            Err(e) => run.failed(&e),
        }
    }
}

/// Waits up to `limit` for `done`.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return false;
        }
        thread::sleep(ms(20));
    }
    true
}

/// A failover under running clients, as they saw it.
struct Failover {
    run: Run,
    promoted: Cluster,
    killed: Instant,
    promoted_at: Instant,
}

/// Five clients run against a primary and a standby; once they have done some work, the primary
/// is killed and the standby promoted, and they go on until each kind has made progress on the
/// promoted standby. With `standby_away`, the standby is stopped for half a second of the clients'
/// work before the kill (and started again before its promotion): what the primary acknowledged
/// then, the standby never received.
fn failover(replication: Replication, standby_away: bool) -> Failover {
    let (mut primary, mut standby) = pair(replication);
    let url = follow(&primary, standby.cluster());
    let run = Run::default();
    // Connected before the failover, as the clients of a running service are.
    let stores: Vec<PgStore> = (0..5).map(|_| store(&url)).collect();
    let start = Instant::now();
    let (killed, promoted_at, promoted) = thread::scope(|scope| {
        // Stops the clients however this closure ends: a panic here must not leave them running.
        let _stop = StopOnDrop(&run.running);
        for (i, store) in stores.iter().enumerate() {
            let run = &run;
            scope.spawn(move || match i {
                0..3 => take_turns(store, &format!("turns-{i}"), run),
                _ => hold(store, &format!("holder-{}", i - 3), run),
            });
        }
        let busy = wait_for(Duration::from_secs(20), || {
            run.count(start, |w| matches!(w, What::Wrote { .. })) >= 10
        });
        assert!(busy, "too little progress before the failover");
        if standby_away {
            standby.cluster_mut().stop().expect("the standby stopped");
            thread::sleep(ms(500));
        }
        primary.kill().expect("the primary killed");
        let killed = Instant::now();
        if standby_away {
            standby.cluster_mut().restart().expect("the standby back");
        }
        thread::sleep(ms(300));
        let promoted = standby.promote().expect("the standby promoted");
        let promoted_at = Instant::now();
        let recovered = wait_for(Duration::from_secs(20), || {
            run.count(promoted_at, |w| matches!(w, What::Wrote { .. })) >= 6
                && run.count(promoted_at, |w| matches!(w, What::Renewed(_))) >= 4
        });
        assert!(recovered, "too little progress after the failover");
        (killed, promoted_at, promoted)
    });
    Failover {
        run,
        promoted,
        killed,
        promoted_at,
    }
}

#[test]
fn with_synchronous_replication_clients_lose_no_grant_and_no_lease_in_a_failover() {
    let failover = failover(Replication::Sync, false);
    let violations = violations(&failover);
    assert!(violations.is_empty(), "{violations:#?}");
    let errors = failover.run.errors.lock().expect("not poisoned").clone();
    assert!(
        errors.iter().all(|e| !e.starts_with("UNEXPECTED")),
        "{errors:?}"
    );
    assert!(!errors.is_empty(), "the failover cut no operation");
    let told = failover.run.told();
    for holder in ["holder-0", "holder-1"] {
        let renewed_after = told.iter().any(|t| {
            t.sent > failover.promoted_at
                && matches!(&t.what, What::Renewed(l) if l.owner().as_str() == holder)
        });
        assert!(renewed_after, "{holder} never renewed after the failover");
    }
    let grants = told.iter().filter(|t| matches!(t.what, What::Granted(_)));
    let before = told.iter().filter(|t| t.received < failover.killed);
    eprintln!(
        "failover: {} grants, {} answers before the kill, {} operations cut by it",
        grants.count(),
        before.count(),
        errors.len()
    );
}

/// The negative control of [`violations`]: asynchronous replication, and a standby that misses
/// half a second of acknowledged work before the primary dies. Every fenced write acknowledged
/// then is missing, and every grant acknowledged then is either unknown to the promoted standby
/// or, once its tokens have caught up, granted a second time.
#[test]
fn with_asynchronous_replication_the_check_sees_what_a_failover_lost() {
    let failover = failover(Replication::Async, true);
    let violations = violations(&failover);
    let found = |text: &str| violations.iter().any(|v| v.contains(text));
    assert!(found("fenced write"), "{violations:#?}");
    assert!(
        found("granted twice") || found("unknown to the promoted standby"),
        "{violations:#?}"
    );
    eprintln!(
        "caught {} violations, for example: {:?}",
        violations.len(),
        violations.first()
    );
}

/// What the clients were told that the promoted standby contradicts: a token granted twice, a
/// grant it does not know (its last token of the resource is lower), a committed fenced write
/// it lacks, a held lease lost.
fn violations(failover: &Failover) -> Vec<String> {
    let told = failover.run.told();
    let grants: Vec<&Lease> = told
        .iter()
        .filter_map(|t| match &t.what {
            What::Granted(lease) => Some(lease),
            _ => None,
        })
        .collect();
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for lease in &grants {
        let key = (lease.resource().to_string(), lease.token().get());
        if !seen.insert(key) {
            violations.push(format!("{} was granted twice", show(lease)));
        }
    }
    let stored = stored_tokens(&failover.promoted);
    for lease in &grants {
        let resource = lease.resource().to_string();
        if stored
            .get(&resource)
            .is_none_or(|&t| t < lease.token().get())
        {
            violations.push(format!(
                "{} is unknown to the promoted standby",
                show(lease)
            ));
        }
    }
    let rows: BTreeSet<String> = super::rows(&failover.promoted).into_iter().collect();
    for t in &told {
        match &t.what {
            What::Wrote { owner, token } if !rows.contains(&format!("{owner}:{token}")) => {
                violations.push(format!("the fenced write {owner}:{token} was lost"));
            }
            What::Lost(resource) => violations.push(format!("the lease of {resource} was lost")),
            _ => {}
        }
    }
    violations
}

/// A grant, briefly: `resource token owner`.
fn show(lease: &Lease) -> String {
    let (resource, owner) = (lease.resource().as_str(), lease.owner().as_str());
    format!("{resource} {} {owner}", lease.token().get())
}

/// The token of each resource's row on `cluster`.
fn stored_tokens(cluster: &Cluster) -> BTreeMap<String, u64> {
    let text = cluster
        .psql_in(
            "locks",
            "SELECT resource || ' ' || token FROM leasehold.leasehold_locks",
        )
        .expect("the rows");
    text.lines()
        .map(|line| {
            let (resource, token) = line.rsplit_once(' ').expect("resource and token");
            (resource.to_owned(), token.parse().expect("a token"))
        })
        .collect()
}
