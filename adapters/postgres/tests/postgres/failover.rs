//! Failover: a primary and a streaming standby (throwaway clusters of the harness), the primary
//! killed, the standby promoted, and clients that follow it by their URL alone — a libpq-style
//! multi-host URL with `target_session_attrs=read-write`, which connects to whichever of the two
//! accepts writes.
//!
//! With **synchronous** replication a commit is acknowledged only once the standby has it: no
//! grant a client was told about is lost, so no token is issued twice and no lease vanishes
//! (`clients` runs clients through a failover and checks what they were told). With
//! **asynchronous** replication the primary acknowledges first: the negative control below makes
//! a grant the standby never saw happen on purpose (the standby is stopped before it), and shows
//! the promoted standby issuing the same token to someone else — two holders that both pass the
//! fence.

mod clients;

use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, Replication, Standby};
use leasehold_postgres::{
    Acquire, Error, Fenced, Lease, Options, PgStore, Release, Renew, RequestId,
};

use super::support::{granted, ms};

/// A primary with a database `locks` (holding an application table `work`) and a standby of it.
fn pair(replication: Replication) -> (Cluster, Standby) {
    let primary = Cluster::start().expect("a primary");
    primary.psql("CREATE DATABASE locks").expect("a database");
    primary
        .psql_in(
            "locks",
            "CREATE TABLE work (written_by text NOT NULL, token bigint)",
        )
        .expect("the application's table");
    let standby = primary.start_standby(replication).expect("a standby");
    (primary, standby)
}

/// One URL for both servers: clients connect to whichever accepts writes, so after a failover
/// they reach the promoted standby by themselves.
fn follow(primary: &Cluster, standby: &Cluster) -> String {
    format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/locks?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    )
}

/// A store on `url` that gives up on an unreachable server or a lost answer quickly.
fn store(url: &str) -> PgStore {
    let options = Options::new()
        .connect_timeout(ms(1_000))
        .io_timeout(Some(ms(5_000)));
    PgStore::connect_with(url, options).expect("a store")
}

/// Writes one row of `work` as `lease`'s holder, fenced.
fn write(store: &PgStore, lease: &Lease) -> Result<Fenced<()>, Error> {
    store.with_fence(lease, |tx| {
        let token = i64::try_from(lease.token().get()).expect("tokens fit i64");
        tx.execute(
            "INSERT INTO work VALUES ($1, $2)",
            &[&lease.owner().as_str(), &token],
        )?;
        Ok::<_, Error>(())
    })
}

/// The rows of `work` on `cluster`, as `owner:token`.
fn rows(cluster: &Cluster) -> Vec<String> {
    let rows = cluster.psql_in(
        "locks",
        "SELECT written_by || ':' || token FROM work ORDER BY ctid",
    );
    let rows = rows.expect("the rows");
    rows.lines().map(str::to_owned).collect()
}

/// An acquire's answer, and the answer to the fenced write made under it if it was granted.
type Asked = (Result<Acquire, Error>, Option<Result<Fenced<()>, Error>>);

/// What every client was told in [`grant_while_the_standby_is_away`].
struct Window {
    /// worker-a's lease, granted, written under and released while the standby streamed.
    first: Lease,
    /// worker-b's acquire while the standby was stopped, then the primary killed; with its
    /// fenced write's answer if it was granted.
    away: Asked,
    /// worker-c's acquire on the promoted standby.
    after: Lease,
    /// worker-b's acquire retried on the promoted standby with its first request id.
    retried: Result<Acquire, Error>,
    /// worker-b's store, to go on with.
    b: PgStore,
    /// The promoted standby.
    promoted: Cluster,
}

/// How worker-b's commit wait ends, in [`grant_while_the_standby_is_away`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Asynchronous replication: there is no wait.
    None,
    /// Synchronous: the wait lasts until the primary dies (`statement_timeout` does not end it).
    Kept,
    /// Synchronous: the wait is cancelled (`pg_cancel_backend`).
    Cancelled,
}

/// worker-a takes, uses and releases the lease on `job` while the standby streams; the standby is
/// stopped; worker-b asks for `job` (and writes under it if granted); the primary is killed; the
/// standby is started again and promoted; worker-c asks for `job` through the same URL, and
/// worker-b asks again with its first request id.
fn grant_while_the_standby_is_away(wait: Wait) -> Window {
    let replication = match wait {
        Wait::None => Replication::Async,
        Wait::Kept | Wait::Cancelled => Replication::Sync,
    };
    let (mut primary, mut standby) = pair(replication);
    let url = follow(&primary, standby.cluster());
    let a = store(&url);
    let first = granted(a.try_acquire("job", "worker-a", ms(60_000)));
    assert!(matches!(write(&a, &first), Ok(Fenced::Committed(()))));
    assert_eq!(a.release(&first).expect("a release"), Release::Released);
    // For worker-b's session: a timeout far shorter than the wait below.
    primary
        .psql("ALTER DATABASE locks SET statement_timeout = '200ms'")
        .expect("a setting");
    standby
        .wait_for_replay(&primary, Duration::from_secs(30))
        .expect("the standby caught up");
    standby.cluster_mut().stop().expect("the standby stopped");

    let b = store(&url);
    let id = b.new_request_id();
    let away = thread::scope(|scope| {
        let asking = scope.spawn(|| ask_and_write(&b, id));
        let started = Instant::now();
        while !asking.is_finished() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no answer, no wait"
            );
            if waits_for_the_standby(&primary) {
                if wait == Wait::Kept {
                    thread::sleep(ms(500));
                    assert!(waits_for_the_standby(&primary) && !asking.is_finished());
                    break;
                }
                let cancel = "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                              WHERE wait_event = 'SyncRep'";
                primary.psql(cancel).expect("a cancel");
            }
            thread::sleep(ms(10));
        }
        primary.kill().expect("the primary killed");
        asking.join().expect("no panic")
    });

    standby.cluster_mut().restart().expect("the standby back");
    let promoted = standby.promote().expect("the standby promoted");
    let c = store(&url);
    let after = granted(c.try_acquire("job", "worker-c", ms(60_000)));
    let retried = b.try_acquire_with_id("job", "worker-b", ms(60_000), id);
    Window {
        first,
        away,
        after,
        retried,
        b,
        promoted,
    }
}

/// worker-b's acquire, and its fenced write if granted.
fn ask_and_write(b: &PgStore, id: RequestId) -> Asked {
    let answer = b.try_acquire_with_id("job", "worker-b", ms(60_000), id);
    let wrote = match &answer {
        Ok(Acquire::Granted(lease)) => Some(write(b, lease)),
        _ => None,
    };
    (answer, wrote)
}

/// Whether a session on `primary` waits for a synchronous standby to confirm its commit.
fn waits_for_the_standby(primary: &Cluster) -> bool {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
    primary.psql(sql).is_ok_and(|count| count != "0")
}

/// Synchronous replication, the standby away: worker-b's grant is never acknowledged (its
/// commit waits for the standby until the primary dies, `statement_timeout` notwithstanding), so
/// nobody is told a token the promoted standby does not know. The token the promoted standby
/// issues to worker-c was never issued to anyone else, and worker-b, asking again, is told that
/// worker-c holds it.
#[test]
fn with_synchronous_replication_a_grant_the_standby_lacks_is_never_acknowledged() {
    let window = grant_while_the_standby_is_away(Wait::Kept);
    let (answer, wrote) = &window.away;
    assert!(
        matches!(answer, Err(Error::Disconnected { .. })),
        "worker-b must not be told anything: {answer:?}"
    );
    assert!(wrote.is_none());
    assert!(window.after.token() > window.first.token());
    match &window.retried {
        Ok(Acquire::Busy(holder)) => assert_eq!(holder.token(), window.after.token()),
        other => panic!("worker-c holds the lease: {other:?}"),
    }
    assert_eq!(
        rows(&window.promoted),
        [format!("worker-a:{}", window.first.token().get())]
    );
}

/// The negative control. Asynchronous replication, the standby away: the old primary acknowledges
/// worker-b's grant and fenced write, then dies; the promoted standby never saw either. It issues
/// **the same token** to worker-c, and the two holders are indistinguishable: worker-b's renewal
/// and fenced write succeed while worker-c holds the lease. worker-b's earlier write is gone too.
#[test]
fn with_asynchronous_replication_a_failover_issues_an_acknowledged_token_again() {
    issued_again(&grant_while_the_standby_is_away(Wait::None));
}

/// Synchronous replication does not help a commit whose wait for the standby is cancelled:
/// PostgreSQL has committed locally, and reports success (with a warning). worker-b is told its
/// grant and its fenced write, and the failover then loses both, as with asynchronous
/// replication.
#[test]
fn with_synchronous_replication_a_cancelled_wait_acknowledges_what_a_failover_loses() {
    issued_again(&grant_while_the_standby_is_away(Wait::Cancelled));
}

/// What a failover that lost worker-b's acknowledged grant does: worker-c gets the same token,
/// and worker-b can go on using it.
fn issued_again(window: &Window) {
    let (answer, wrote) = &window.away;
    let Ok(Acquire::Granted(lost)) = answer else {
        panic!("the old primary acknowledged worker-b's grant: {answer:?}");
    };
    assert!(
        matches!(wrote, Some(Ok(Fenced::Committed(())))),
        "{wrote:?}"
    );
    assert_eq!(
        window.after.token(),
        lost.token(),
        "the promoted standby issued worker-b's token again, to worker-c"
    );
    assert_ne!(window.after.owner(), lost.owner());
    assert!(
        matches!(window.retried, Ok(Acquire::Busy(_))),
        "{:?}",
        window.retried
    );
    let b = &window.b;
    assert!(
        matches!(b.renew(lost, ms(60_000)), Ok(Renew::Renewed(_))),
        "worker-b renews worker-c's lease as its own"
    );
    assert!(
        matches!(write(b, lost), Ok(Fenced::Committed(()))),
        "worker-b's fenced write passes while worker-c holds the lease"
    );
    let token = lost.token().get();
    assert_eq!(
        rows(&window.promoted),
        [
            format!("worker-a:{}", window.first.token().get()),
            format!("worker-b:{token}")
        ],
        "worker-b's first write, acknowledged by the old primary, is gone"
    );
}
