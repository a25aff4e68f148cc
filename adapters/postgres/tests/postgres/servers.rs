//! Tests that need a server of their own (`leasehold-pg-harness`): a reply lost to a real
//! connection reset, a server killed or restarted under running clients, and PgBouncer in
//! transaction pooling mode, also dropping its clients' connections.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, FaultProxy, PgBouncer};
use leasehold_postgres::tokio_postgres::error::SqlState;
use leasehold_postgres::{
    Acquire, AsyncPgStore, Error, Fenced, Options, PgStore, Release, Renew, StoreError,
};

use super::support::{StopOnDrop, granted, ms};

/// A throwaway cluster with a database `locks`.
fn cluster() -> Cluster {
    let cluster = Cluster::start().expect("a cluster of its own");
    cluster.psql("CREATE DATABASE locks").expect("a database");
    cluster
}

fn count(cluster: &Cluster, sql: &str) -> i64 {
    let text = cluster.psql_in("locks", sql).expect("a count");
    text.trim().parse().expect("an integer")
}

#[test]
fn a_grant_whose_reply_a_connection_reset_lost_is_returned_to_the_retry() {
    let cluster = cluster();
    let address = format!("127.0.0.1:{}", cluster.port())
        .parse()
        .expect("an address");
    let proxy = FaultProxy::start(address).expect("a proxy");
    let store = PgStore::connect(&proxy.url_for("locks")).expect("a store through the proxy");
    let id = store.new_request_id();
    // Every chunk now spends 300 ms in the proxy each way: the grant commits while its reply
    // is still held there, and the reset loses it.
    proxy.delay(ms(300));
    let cut = thread::scope(|scope| {
        let acquire = scope.spawn(|| store.try_acquire_with_id("job", "worker-a", ms(60_000), id));
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(&cluster, "SELECT count(*) FROM leasehold.leasehold_locks") == 0 {
            assert!(Instant::now() < deadline, "the grant never committed");
            thread::sleep(ms(10));
        }
        assert!(proxy.reset() >= 1, "no connection to reset");
        acquire.join().expect("no panic")
    });
    let e = cut.expect_err("the reply was lost");
    assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");
    proxy.heal();
    let lease = granted(store.try_acquire_with_id("job", "worker-a", ms(60_000), id));
    let token: i64 = count(&cluster, "SELECT token FROM leasehold.leasehold_locks");
    assert_eq!(
        i64::try_from(lease.token().get()).expect("fits"),
        token,
        "a second grant"
    );
    assert!(matches!(
        store.try_acquire("job", "worker-b", ms(1_000)),
        Ok(Acquire::Busy(_))
    ));
}

/// Clients run while the server is killed (no shutdown checkpoint) and restarted: each client's
/// failed calls are typed errors, every client reconnects by itself, and no token is ever issued
/// twice or below an earlier one.
#[test]
fn tokens_never_regress_across_a_server_crash_and_restart() {
    clients_through(|cluster| {
        cluster.kill().expect("the server killed");
        thread::sleep(ms(200));
        cluster.restart().expect("crash recovery");
    });
}

/// The same through a clean restart (a fast shutdown, which ends every session with a `FATAL`
/// error and refuses connections while it shuts down, then a start).
#[test]
fn tokens_never_regress_across_a_clean_restart() {
    clients_through(|cluster| cluster.restart().expect("a restart"));
}

/// Two clients take turns on one resource while `outage` happens to the server; judged as above.
fn clients_through(outage: impl FnOnce(&mut Cluster)) {
    let mut cluster = cluster();
    let url = cluster.url_for("locks");
    let store = PgStore::connect(&url).expect("a store");
    let id = store.store_id();
    // A pruned resource: its tokens continue from the high-water mark after the restart.
    let pruned = granted(store.try_acquire("pruned", "o", ms(1)));
    thread::sleep(ms(5));
    assert_eq!(store.prune(Duration::ZERO).expect("prune"), 1);
    let tokens = Mutex::new(Vec::new());
    let running = AtomicBool::new(true);
    thread::scope(|scope| {
        // Stops the clients however this closure ends: a panic here must not leave them running.
        let _stop = StopOnDrop(&running);
        for i in 0..2 {
            let (url, tokens, running) = (&url, &tokens, &running);
            scope.spawn(move || client(url, &format!("client-{i}"), tokens, running));
        }
        thread::sleep(ms(300));
        let before = tokens.lock().expect("not poisoned").len();
        outage(&mut cluster);
        let restarted = tokens.lock().expect("not poisoned").len();
        thread::sleep(ms(1_000));
        let after = tokens.lock().expect("not poisoned").len();
        assert!(before > 0, "no grant before the outage");
        assert!(after > restarted, "no grant after the restart");
    });
    let tokens = tokens.into_inner().expect("not poisoned");
    assert!(tokens.len() >= 4, "too little progress: {tokens:?}");
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "a token went back: {tokens:?}"
    );
    // The store from before the outage goes on with the same identity and the same history.
    let again = granted(store.try_acquire("pruned", "o", ms(60_000)));
    assert!(again.token() > pruned.token());
    assert_eq!(store.store_id(), id);
}

/// Takes and releases the lease on `shared` while `running`, recording each grant's token;
/// errors while the server is down are expected, and must say the server is unavailable. The
/// lease is short, so that one stranded by the crash soon frees the resource.
fn client(url: &str, owner: &str, tokens: &Mutex<Vec<u64>>, running: &AtomicBool) {
    let options = Options::new().connect_timeout(ms(500));
    let store = PgStore::connect_with(url, options).expect("a store");
    while running.load(Ordering::SeqCst) {
        match store.try_acquire("shared", owner, ms(300)) {
            Ok(Acquire::Granted(lease)) => {
                // Recorded before the release: the next grant comes after it.
                tokens
                    .lock()
                    .expect("not poisoned")
                    .push(lease.token().get());
                let released = store.release(&lease);
                assert!(
                    released.is_ok() || is_outage(released.as_ref().err()),
                    "{released:?}"
                );
            }
            Ok(Acquire::Busy(_)) => thread::sleep(ms(5)),
            Err(e) => {
                assert!(is_outage(Some(&e)), "{e:?}");
                thread::sleep(ms(20));
            }
        }
    }
}

fn is_outage(e: Option<&Error>) -> bool {
    e.is_some_and(|e| e.kind() == leasehold_postgres::ErrorKind::Unavailable)
}

/// A pooler that drops its clients' connections (PgBouncer's `KILL`, as when an operator clears a
/// database's connections): the store connects again by itself at its next operation, and its
/// lease is intact.
#[test]
fn a_store_whose_pooler_dropped_its_connection_reconnects_by_itself() {
    let cluster = cluster();
    let bouncer = PgBouncer::start(&cluster).expect("pgbouncer (apt-get install pgbouncer)");
    let store = PgStore::connect(&bouncer.url_for("locks")).expect("a store through pgbouncer");
    let lease = granted(store.try_acquire("r", "holder", ms(60_000)));
    let console = bouncer.url_for("pgbouncer");
    let before = pooled_clients(&console);
    assert_eq!(before.len(), 1, "{before:?}");
    leasehold_pg_harness::psql(&console, "KILL locks").expect("the pooler's console");
    leasehold_pg_harness::psql(&console, "RESUME locks").expect("the pooler's console");
    // Time for the client to read the pooler's goodbye; the next call then connects anew.
    thread::sleep(ms(200));
    let renewed = store.renew(&lease, ms(60_000));
    assert!(matches!(renewed, Ok(Renew::Renewed(_))), "{renewed:?}");
    let after = pooled_clients(&console);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "the store's connection was not replaced");
}

/// PgBouncer's clients of database `locks`, each as its address and port.
fn pooled_clients(console: &str) -> Vec<String> {
    let clients = leasehold_pg_harness::psql(console, "SHOW CLIENTS").expect("the console");
    // Columns: type, user, database, state, addr, port, ...
    let fields = |line: &str| line.split('|').map(str::to_owned).collect::<Vec<_>>();
    let clients = clients.lines().map(fields);
    clients
        .filter(|f| f.len() > 5 && f[2] == "locks")
        .map(|f| format!("{}:{}", f[4], f[5]))
        .collect()
}

/// Every client through PgBouncer in transaction mode, sharing two server connections: no
/// statement may depend on session state (named prepared statements, `SET`, session advisory
/// locks), since the next transaction of the same client may run on another server connection.
#[test]
fn every_operation_works_through_pgbouncer_in_transaction_mode() {
    let cluster = cluster();
    let bouncer = PgBouncer::builder()
        .pool_size(2)
        .start(&cluster)
        .expect("pgbouncer (apt-get install pgbouncer)");
    let url = bouncer.url_for("locks");
    let stores: Vec<PgStore> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| PgStore::connect(&url)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("no panic")
                    .expect("every first user connects")
            })
            .collect()
    });
    let inside = AtomicBool::new(false);
    let last = AtomicU64::new(0);
    thread::scope(|scope| {
        for (i, store) in stores.iter().enumerate() {
            let (inside, last) = (&inside, &last);
            scope.spawn(move || {
                let owner = format!("client-{i}");
                for _ in 0..5 {
                    let lease = granted(store.acquire_for("r", &owner, ms(5_000), ms(10_000)));
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    last.fetch_max(lease.token().get(), Ordering::SeqCst);
                    let fenced = store.with_fence(&lease, |tx| {
                        tx.query_typed("SELECT 1", &[])?;
                        Ok::<_, Error>(())
                    });
                    assert!(matches!(fenced, Ok(Fenced::Committed(()))), "{fenced:?}");
                    inside.store(false, Ordering::SeqCst);
                    assert_eq!(store.release(&lease).expect("release"), Release::Released);
                }
            });
        }
    });
    assert!(stores[0].holders().expect("holders").is_empty());
    // A prune keeps rows that ended less than `idle` ago, this millisecond included: let the last
    // release's millisecond pass.
    thread::sleep(ms(5));
    assert_eq!(stores[0].prune(Duration::ZERO).expect("prune"), 1);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = AsyncPgStore::connect(&url).await.expect("an async store");
        // The pruned resource's tokens go on above its last one.
        let lease = granted(store.try_acquire("r", "async", ms(5_000)).await);
        assert!(lease.token().get() > last.load(Ordering::SeqCst));
    });
}

/// Negative control for `Options::prepared_statements`: through a transaction pooler that does not
/// track prepared statements (PgBouncer 1.18), a statement prepared on one server connection is
/// missing on the next, and even the one retry after preparing it again can land elsewhere: calls
/// fail with SQLSTATE 26000. (The default, unnamed, passes the test above with the same pooler.)
#[test]
fn prepared_statements_break_behind_a_transaction_pooler_that_does_not_track_them() {
    let cluster = cluster();
    let bouncer = PgBouncer::builder()
        .pool_size(2)
        .start(&cluster)
        .expect("pgbouncer (apt-get install pgbouncer)");
    let url = bouncer.url_for("locks");
    // Created one after the other: the schema's creation is not what this is about.
    let stores: Vec<PgStore> = (0..4)
        .map(|_| {
            let options = Options::new().prepared_statements(true);
            PgStore::connect_with(&url, options).expect("a store through pgbouncer")
        })
        .collect();
    let missing = AtomicU64::new(0);
    thread::scope(|scope| {
        for (i, store) in stores.iter().enumerate() {
            let missing = &missing;
            scope.spawn(move || {
                for n in 0..100 {
                    if missing.load(Ordering::SeqCst) > 0 {
                        return;
                    }
                    let resource = format!("r-{i}-{n}");
                    let outcome =
                        store
                            .try_acquire(&resource, "owner", ms(60_000))
                            .and_then(|acquired| match acquired {
                                Acquire::Granted(lease) => store.release(&lease).map(drop),
                                Acquire::Busy(_) => Ok(()),
                            });
                    match outcome {
                        Ok(()) => {}
                        Err(Error::Postgres(e))
                            if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) =>
                        {
                            missing.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => panic!("an unexpected failure: {e:?}"),
                    }
                }
            });
        }
    });
    assert!(
        missing.load(Ordering::SeqCst) > 0,
        "400 operations of 4 clients on 2 server connections never missed a statement"
    );
}
