//! The network between a holder and the server, broken by the harness's fault proxy: a
//! partition (bytes held, connections open), a slow network, and a reset that loses the reply to
//! a fenced write's `COMMIT`. Each test has a server of its own; the holder reaches it through the
//! proxy, everyone else directly.

use std::cell::Cell;
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{Cluster, FaultProxy};
use leasehold_postgres::{
    Acquire, Error, ErrorKind, Fenced, Lease, LostReason, Options, PgStore, Renew, StoreError,
};

use super::support::{granted, ms, server_time_at};

/// A server of its own with a database `locks` holding an application table `work`, a proxy in
/// front of it, and a plain client that reads the server's clock directly.
struct Network {
    cluster: Cluster,
    proxy: FaultProxy,
    direct: postgres::Client,
}

impl Network {
    fn start() -> Self {
        let cluster = Cluster::start().expect("a cluster of its own");
        cluster.psql("CREATE DATABASE locks").expect("a database");
        cluster
            .psql_in(
                "locks",
                "CREATE TABLE work (written_by text NOT NULL, token bigint)",
            )
            .expect("the application's table");
        let address = format!("127.0.0.1:{}", cluster.port());
        let proxy = FaultProxy::start(address.parse().expect("an address")).expect("a proxy");
        let direct = postgres::Client::connect(&cluster.url_for("locks"), postgres::NoTls)
            .expect("a direct client");
        Self {
            cluster,
            proxy,
            direct,
        }
    }

    /// The holder's store, through the proxy: it gives a statement up after 500 ms without an
    /// answer, and a connection attempt after 500 ms.
    fn holder(&self) -> PgStore {
        let options = Options::new()
            .io_timeout(Some(ms(500)))
            .connect_timeout(ms(500));
        PgStore::connect_with(&self.proxy.url_for("locks"), options).expect("a store")
    }

    /// The holder's store, through the proxy, giving a statement up after `io_timeout`.
    fn holder_waiting(&self, io_timeout: Duration) -> PgStore {
        let options = Options::new().io_timeout(Some(io_timeout));
        PgStore::connect_with(&self.proxy.url_for("locks"), options).expect("a store")
    }

    /// A store that reaches the server directly.
    fn other(&self) -> PgStore {
        PgStore::connect(&self.cluster.url_for("locks")).expect("a store")
    }

    /// The rows of `work`, in the order written.
    fn rows(&mut self) -> Vec<(String, i64)> {
        let rows = self
            .direct
            .query("SELECT written_by, token FROM work ORDER BY ctid", &[]);
        let rows = rows.expect("the rows");
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    }
}

/// Writes one row of `work` as `lease`'s holder, fenced; reports whether the closure ran.
fn write(store: &PgStore, lease: &Lease) -> (Result<Fenced<()>, Error>, bool) {
    let ran = Cell::new(false);
    let result = store.with_fence(lease, |tx| {
        ran.set(true);
        let token = i64::try_from(lease.token().get()).expect("tokens fit i64");
        tx.execute(
            "INSERT INTO work VALUES ($1, $2)",
            &[&lease.owner().as_str(), &token],
        )?;
        Ok::<_, Error>(())
    });
    (result, ran.get())
}

fn token(lease: &Lease) -> i64 {
    i64::try_from(lease.token().get()).expect("a stored token")
}

fn millis(at: leasehold_postgres::Timestamp) -> i128 {
    i128::from(at.as_millis())
}

/// The holder is cut off with its lease: its renewal gets no answer, its deadline passes before
/// the server's expiry (on the server's clock), another client takes over only after that
/// expiry, and once the partition heals the old holder's fenced write is refused.
#[test]
fn a_partitioned_holder_stops_before_its_lease_expires_and_its_late_write_is_refused() {
    let mut net = Network::start();
    let (holder, other) = (net.holder(), net.other());
    let ttl = ms(2_000);
    let lease = granted(holder.try_acquire("job", "holder", ttl));
    assert!(matches!(
        write(&holder, &lease).0,
        Ok(Fenced::Committed(()))
    ));

    net.proxy.blackhole();
    assert!(net.proxy.stats().open >= 1, "the connection stays open");
    let renewed = holder.renew(&lease, ttl);
    assert!(
        matches!(renewed, Err(Error::TimedOut { .. })),
        "{renewed:?}"
    );
    // Connecting again gets no further: the proxy accepts, and nothing comes back.
    let read = holder.holder("job");
    assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::Unavailable));

    // The holder's own clock says stop; the server's lease is still on then.
    thread::sleep(lease.deadline().saturating_duration_since(Instant::now()));
    let (_, latest) = server_time_at(&mut net.direct, lease.deadline());
    assert!(
        latest <= millis(lease.expires_at()),
        "the holder's deadline fell at {latest} ms on the server's clock, after its expiry at {}",
        lease.expires_at().as_millis()
    );

    // Someone else takes over, only once the server's expiry has passed.
    let started = Instant::now();
    let taken = loop {
        match other.try_acquire("job", "other", ms(60_000)) {
            Ok(Acquire::Granted(taken)) => break taken,
            Ok(Acquire::Busy(current)) => assert_eq!(current.token(), lease.token()),
            Err(e) => panic!("the direct client failed: {e}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no takeover");
        thread::sleep(ms(5));
    };
    assert!(taken.acquired_at() >= lease.expires_at());
    assert!(taken.token() > lease.token());

    // The partition heals: the old holder's write is refused without running, its renewal is
    // lost, and whatever the partition held back and delivered late changed nothing.
    net.proxy.heal();
    let (late, ran) = write(&holder, &lease);
    match late {
        Ok(Fenced::Lost(lost)) => assert_eq!(lost.reason(), LostReason::NotCurrent),
        other => panic!("the late write must be refused: {other:?}"),
    }
    assert!(!ran, "the refused write's closure ran");
    let renewed = holder.renew(&lease, ttl);
    assert!(matches!(renewed, Ok(Renew::Lost(_))), "{renewed:?}");
    assert!(matches!(write(&other, &taken).0, Ok(Fenced::Committed(()))));
    assert_eq!(
        net.rows(),
        [
            ("holder".into(), token(&lease)),
            ("other".into(), token(&taken))
        ]
    );
    assert_eq!(
        other.holder("job").expect("a read"),
        Some(taken.holder().clone())
    );
}

/// A slow network only shortens the holder's view: its deadline counts from when the request
/// was sent, so on the server's clock it falls at least one one-way delay before the expiry,
/// and a lease shorter than the round trip arrives already past its deadline.
#[test]
fn a_slow_network_only_shortens_the_holders_deadline() {
    let mut net = Network::start();
    let holder = net.holder();
    let delay = ms(150);
    net.proxy.delay(delay);
    let ttl = ms(2_000);
    let sent = Instant::now();
    let lease = granted(holder.try_acquire("job", "holder", ttl));
    let received = Instant::now();
    assert!(received - sent >= 2 * delay, "{:?}", received - sent);
    assert!(lease.deadline() <= received + (ttl - 2 * delay));
    let (_, latest) = server_time_at(&mut net.direct, lease.deadline());
    let delay_ms = i128::try_from(delay.as_millis()).expect("small");
    assert!(
        latest <= millis(lease.expires_at()) - delay_ms,
        "the deadline fell at {latest} ms on the server's clock, the expiry is at {}",
        lease.expires_at().as_millis()
    );

    let short = granted(holder.try_acquire("short", "holder", ms(250)));
    assert!(!short.is_valid(), "granted, but already past its deadline");
    let (_, latest) = server_time_at(&mut net.direct, short.deadline());
    assert!(latest <= millis(short.expires_at()) - delay_ms);
}

/// A reset that loses the reply to a fenced write's `COMMIT`: the caller gets
/// `Error::Disconnected`, yet its write committed (under a current lease, as fencing promises).
/// So a fenced write cut off must be checked — here by its token — before it is done again.
#[test]
fn a_fenced_write_whose_commit_reply_a_reset_lost_may_have_committed() {
    let mut net = Network::start();
    let holder = net.holder_waiting(ms(5_000));
    let lease = granted(holder.try_acquire("job", "holder", ms(60_000)));
    let proxy = &net.proxy;
    let cut = thread::scope(|scope| {
        let writing = scope.spawn(|| {
            holder.with_fence(&lease, |tx| {
                tx.execute("INSERT INTO work VALUES ('holder', $1)", &[&token(&lease)])?;
                // From here on, every message spends 300 ms in the proxy each way: the
                // commit's reply is still there when the row becomes visible.
                proxy.delay(ms(300));
                Ok::<_, Error>(())
            })
        });
        let started = Instant::now();
        while count(&mut net.direct) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never committed"
            );
            thread::sleep(ms(2));
        }
        assert!(proxy.reset() >= 1, "no connection to reset");
        writing.join().expect("no panic")
    });
    let e = cut.expect_err("the commit's reply was lost");
    assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");
    net.proxy.heal();
    assert_eq!(net.rows(), [("holder".into(), token(&lease))], "committed");
    // The lease is as it was; the store connects again by itself.
    assert!(matches!(
        holder.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
}

fn count(direct: &mut postgres::Client) -> i64 {
    let row = direct.query_one("SELECT count(*) FROM work", &[]);
    row.expect("a count").get(0)
}
