//! A fault-injecting TCP proxy on loopback: pass-through, delay, blackhole, reset.

mod link;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::cluster::SUPERUSER;
use crate::error::Error;
use crate::url;

/// How often blocked proxy threads look at the mode and at resets.
const TICK: Duration = Duration::from_millis(20);
/// How long [`FaultProxy::reset`] and `Drop` wait for connections to be closed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the proxy does with the bytes of every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Forwards everything at once.
    PassThrough,
    /// Forwards each chunk read this long after it was read, in each direction.
    Delay(Duration),
    /// Forwards nothing and reads nothing; new connections are accepted but not connected
    /// onwards. Both sides see an open connection on which nothing arrives.
    Blackhole,
}

/// Counts since the proxy started, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: u64,
    /// Connections open now (accepted, not yet closed by either side or reset).
    pub open: u64,
    /// Bytes forwarded from clients to the server (counted when the write to the server has
    /// returned, which can be just after the server has read them).
    pub bytes_to_server: u64,
    /// Bytes forwarded from the server to clients (counted likewise).
    pub bytes_to_client: u64,
    /// Connections ended by [`FaultProxy::reset`].
    pub reset: u64,
    /// Connections the server refused (the client got a reset).
    pub refused: u64,
}

/// A thread-per-connection TCP proxy on `127.0.0.1` in front of one server address, whose
/// [`Mode`] a test switches at any time; the switch applies to open connections too.
///
/// A blackhole is made by the proxy, not the network: the proxy's kernel still acknowledges what
/// a client sends until its buffers fill, and answers TCP keepalives. So a client notices a
/// blackhole only through its own timeouts (connect, statement, read), not through keepalive
/// probes. Bytes held during a blackhole are delivered after [`FaultProxy::heal`], in order, as
/// TCP retransmission delivers them after a real partition heals.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use leasehold_pg_harness::FaultProxy;
///
/// let server = TcpListener::bind("127.0.0.1:0")?;
/// let proxy = FaultProxy::start(server.local_addr()?)?;
/// let mut client = TcpStream::connect(proxy.address())?;
/// let (mut accepted, _) = server.accept()?;
/// proxy.blackhole();
/// client.write_all(b"ping")?;
/// accepted.set_read_timeout(Some(Duration::from_millis(200)))?;
/// assert!(accepted.read(&mut [0; 4]).is_err(), "nothing arrives, the connection stays open");
/// proxy.heal();
/// let mut ping = [0; 4];
/// accepted.set_read_timeout(None)?;
/// accepted.read_exact(&mut ping)?;
/// assert_eq!(&ping, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free port of `127.0.0.1` and forwards every connection to `target`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot listen.
    pub fn start(target: SocketAddr) -> Result<FaultProxy, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind the proxy"))?;
        let address = listener
            .local_addr()
            .map_err(Error::io("read the proxy's address"))?;
        let shared = Arc::new(Shared::new(target));
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accepting.accept_loop(&listener))
            .map_err(Error::io("spawn the proxy's thread"))?;
        Ok(FaultProxy {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port clients connect to on `127.0.0.1`.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// A URL for database `db` through the proxy, as a throwaway cluster's superuser.
    #[must_use]
    pub fn url_for(&self, db: &str) -> String {
        url::local(SUPERUSER, self.port(), db)
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.shared.state().mode
    }

    /// Switches to `mode`, for open connections too.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.state().mode = mode;
        self.shared.changed.notify_all();
    }

    /// Delays each chunk by `delay` in each direction.
    pub fn delay(&self, delay: Duration) {
        self.set_mode(Mode::Delay(delay));
    }

    /// Stops all traffic without closing anything (see [`Mode::Blackhole`]).
    pub fn blackhole(&self) {
        self.set_mode(Mode::Blackhole);
    }

    /// Back to [`Mode::PassThrough`]; held bytes and held connections go through.
    pub fn heal(&self) {
        self.set_mode(Mode::PassThrough);
    }

    /// Resets every connection open now: both the client and the server side get a TCP RST
    /// (`SO_LINGER` 0, then close). Connections accepted afterwards are served in the current
    /// mode, which this does not change. Returns how many were reset, once all are closed.
    pub fn reset(&self) -> u64 {
        let mut state = self.shared.state();
        state.reset_epoch += 1;
        let epoch = state.reset_epoch;
        let count = state.live.values().filter(|&&born| born < epoch).count() as u64;
        self.shared.reset.fetch_add(count, Ordering::Relaxed);
        self.shared.changed.notify_all();
        drop(self.shared.wait_closed(state, |born| born < epoch));
        count
    }

    /// Connection and byte counts.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        let open = self.shared.state().live.len() as u64;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            accepted: count(&self.shared.accepted),
            open,
            bytes_to_server: count(&self.shared.bytes_to_server),
            bytes_to_client: count(&self.shared.bytes_to_client),
            reset: count(&self.shared.reset),
            refused: count(&self.shared.refused),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.state().shutdown = true;
        self.shared.changed.notify_all();
        // Wake the blocked accept; it sees `shutdown` and returns.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        drop(self.shared.wait_closed(self.shared.state(), |_| true));
    }
}

/// What the acceptor, the connections and the handle share.
#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    state: Mutex<State>,
    /// Notified on every mode change, reset, shutdown and closed connection.
    changed: Condvar,
    accepted: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_to_client: AtomicU64,
    reset: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    shutdown: bool,
    /// Incremented by each reset; a connection born before the current epoch is reset.
    reset_epoch: u64,
    next_id: u64,
    /// Open connections: id to the epoch they were born in.
    live: HashMap<u64, u64>,
}

impl Shared {
    fn new(target: SocketAddr) -> Shared {
        let state = State {
            mode: Mode::PassThrough,
            shutdown: false,
            reset_epoch: 0,
            next_id: 0,
            live: HashMap::new(),
        };
        Shared {
            target,
            state: Mutex::new(state),
            changed: Condvar::new(),
            accepted: AtomicU64::new(0),
            bytes_to_server: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            reset: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking proxy thread leaves consistent state: every update is a single assignment.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn accept_loop(self: Arc<Shared>, listener: &TcpListener) {
        for client in listener.incoming() {
            if self.state().shutdown {
                return;
            }
            let Ok(client) = client else { continue };
            self.accepted.fetch_add(1, Ordering::Relaxed);
            let (id, born) = self.register();
            let shared = Arc::clone(&self);
            let spawned = thread::Builder::new()
                .name("fault-proxy-link".into())
                .spawn(move || link::serve(&shared, client, id, born));
            if spawned.is_err() {
                self.unregister(id);
            }
        }
    }

    fn register(&self) -> (u64, u64) {
        let mut state = self.state();
        state.next_id += 1;
        let (id, born) = (state.next_id, state.reset_epoch);
        state.live.insert(id, born);
        (id, born)
    }

    fn unregister(&self, id: u64) {
        self.state().live.remove(&id);
        self.changed.notify_all();
    }

    /// Waits (bounded) until no open connection's birth epoch matches `doomed`.
    fn wait_closed<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        doomed: impl Fn(u64) -> bool,
    ) -> MutexGuard<'a, State> {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while state.live.values().any(|&born| doomed(born)) && Instant::now() < deadline {
            state = self
                .changed
                .wait_timeout(state, TICK)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        state
    }
}
