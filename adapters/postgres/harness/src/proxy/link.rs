//! One proxied connection: the connect onwards, then one pump thread per direction.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::{Mode, Shared, TICK};

/// How long the proxy tries to connect to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Both ends of one proxied connection. Each socket has one file descriptor, closed when the last
/// pump lets go of the link, so an abortive close (linger 0) really sends RST.
#[derive(Debug)]
struct Link {
    client: TcpStream,
    server: TcpStream,
    /// The reset epoch the connection was accepted in.
    born: u64,
    /// Set when one side reset or failed: the other pump stops and the other side is reset too.
    aborted: AtomicBool,
}

/// Why a pump stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Its source sent FIN: pass the half-close on.
    Ended,
    /// A reset by the test, or a reset or failure of either side: reset both sides.
    Abort,
    /// The proxy is dropped: close normally.
    Shutdown,
}

/// Serves one accepted client until both directions are done, then unregisters it (after its
/// sockets are closed, so that `reset()` returns only once the resets are sent).
pub(super) fn serve(shared: &Arc<Shared>, client: TcpStream, id: u64, born: u64) {
    if let Some(link) = connect(shared, client, born) {
        let link = Arc::new(link);
        let (back_shared, back_link) = (Arc::clone(shared), Arc::clone(&link));
        let back = thread::Builder::new()
            .name("fault-proxy-link".into())
            .spawn(move || pump(&back_shared, &back_link, Direction::ToClient));
        if back.is_err() {
            link.abort();
        }
        pump(shared, &link, Direction::ToServer);
        if let Ok(back) = back {
            let _ = back.join();
        }
    }
    shared.unregister(id);
}

/// Connects onwards, once no blackhole is in the way (its SYN would be lost).
fn connect(shared: &Shared, client: TcpStream, born: u64) -> Option<Link> {
    let never_aborted = AtomicBool::new(false);
    if let Err(stop) = wait_turn(shared, born, &never_aborted, None) {
        if stop == Stop::Abort {
            abort(&client);
        }
        return None;
    }
    let Ok(server) = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT) else {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        abort(&client);
        return None;
    };
    for socket in [&client, &server] {
        // The timeouts bound how long a pump is deaf to mode changes and resets.
        let _ = socket.set_read_timeout(Some(TICK));
        let _ = socket.set_write_timeout(Some(TICK));
        let _ = socket.set_nodelay(true);
    }
    Some(Link {
        client,
        server,
        born,
        aborted: AtomicBool::new(false),
    })
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    ToServer,
    ToClient,
}

fn pump(shared: &Shared, link: &Link, direction: Direction) {
    let (from, to, counter) = match direction {
        Direction::ToServer => (&link.client, &link.server, &shared.bytes_to_server),
        Direction::ToClient => (&link.server, &link.client, &shared.bytes_to_client),
    };
    match copy(shared, link, from, to, counter) {
        Stop::Ended => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Stop::Abort => link.abort(),
        Stop::Shutdown => {}
    }
}

/// Copies `from` to `to` chunk by chunk until something stops it.
fn copy(
    shared: &Shared,
    link: &Link,
    mut from: &TcpStream,
    to: &TcpStream,
    counter: &AtomicU64,
) -> Stop {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        // Not even reading while blackholed: the sender's buffers fill as in a partition.
        if let Err(stop) = wait_turn(shared, link.born, &link.aborted, None) {
            return stop;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => return Stop::Ended,
            Ok(read) => read,
            Err(err) if is_timeout(&err) => continue,
            Err(_) => return Stop::Abort,
        };
        if let Err(stop) = forward(shared, link, to, &buffer[..read], Instant::now()) {
            return stop;
        }
        counter.fetch_add(read as u64, Ordering::Relaxed);
    }
}

/// Writes one chunk read at `read_at`, after its delay, holding it while blackholed.
fn forward(
    shared: &Shared,
    link: &Link,
    mut to: &TcpStream,
    mut chunk: &[u8],
    read_at: Instant,
) -> Result<(), Stop> {
    while !chunk.is_empty() {
        wait_turn(shared, link.born, &link.aborted, Some(read_at))?;
        match to.write(chunk) {
            Ok(0) => return Err(Stop::Abort),
            Ok(written) => chunk = &chunk[written..],
            Err(err) if is_timeout(&err) => {}
            Err(_) => return Err(Stop::Abort),
        }
    }
    Ok(())
}

/// Returns when traffic may flow: not blackholed and, for a chunk read at `read_at`, its delay
/// over. Stops on shutdown, on a reset after the connection's birth, or when the link aborted.
fn wait_turn(
    shared: &Shared,
    born: u64,
    aborted: &AtomicBool,
    read_at: Option<Instant>,
) -> Result<(), Stop> {
    let mut state = shared.state();
    loop {
        if state.shutdown {
            return Err(Stop::Shutdown);
        }
        if born < state.reset_epoch || aborted.load(Ordering::Relaxed) {
            return Err(Stop::Abort);
        }
        let wait = match (state.mode, read_at) {
            (Mode::Blackhole, _) => TICK,
            (Mode::Delay(delay), Some(read_at)) => {
                let left = (read_at + delay).saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                left.min(TICK)
            }
            _ => return Ok(()),
        };
        state = shared
            .changed
            .wait_timeout(state, wait)
            .map_or_else(|e| e.into_inner().0, |r| r.0);
    }
}

impl Link {
    /// Makes the close of both sockets abortive and tells the other pump to stop.
    fn abort(&self) {
        abort(&self.client);
        abort(&self.server);
        self.aborted.store(true, Ordering::Relaxed);
    }
}

/// `SO_LINGER` 0: closing the socket sends RST instead of FIN.
fn abort(socket: &TcpStream) {
    let _ = SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
