//! The fault proxy against an echo server: each mode does what it says, and heal undoes it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use leasehold_pg_harness::{FaultProxy, Mode};

use super::support::echo_server;

/// How long a read waits before a test calls the connection silent.
const SILENCE: Duration = Duration::from_millis(300);

fn connect(proxy: &FaultProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.address()).expect("the proxy accepts");
    stream
        .set_read_timeout(Some(SILENCE))
        .expect("a read timeout");
    stream
}

/// Sends `message` and reads its echo, or the error that came instead.
fn round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(message)?;
    let mut echo = vec![0; message.len()];
    stream.read_exact(&mut echo)?;
    Ok(echo)
}

fn is_silence(result: &std::io::Result<Vec<u8>>) -> bool {
    matches!(result, Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[test]
fn pass_through_forwards_and_delay_delays_each_direction() {
    let (server, _) = echo_server();
    let proxy = FaultProxy::start(server).expect("a proxy");
    let mut client = connect(&proxy);
    assert_eq!(
        round_trip(&mut client, b"hello").expect("an echo"),
        b"hello"
    );
    // A count goes up once the write has returned, which may be after the client has read.
    let deadline = Instant::now() + Duration::from_secs(1);
    while proxy.stats().bytes_to_client < 5 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let stats = proxy.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.open,
            stats.bytes_to_server,
            stats.bytes_to_client
        ),
        (1, 1, 5, 5)
    );

    proxy.delay(Duration::from_millis(100));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    let sent = Instant::now();
    assert_eq!(
        round_trip(&mut client, b"slow").expect("a delayed echo"),
        b"slow"
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(200),
        "100 ms each way: {:?}",
        sent.elapsed()
    );

    proxy.heal();
    assert_eq!(proxy.mode(), Mode::PassThrough);
    let sent = Instant::now();
    round_trip(&mut client, b"fast").expect("an echo");
    assert!(
        sent.elapsed() < Duration::from_millis(100),
        "healed: {:?}",
        sent.elapsed()
    );
}

#[test]
fn blackhole_silences_open_and_new_connections_and_heal_delivers_what_was_held() {
    let (server, log) = echo_server();
    let proxy = FaultProxy::start(server).expect("a proxy");
    let mut open = connect(&proxy);
    // Control: the same read with the same timeout gets its answer before the blackhole.
    assert_eq!(
        round_trip(&mut open, b"before").expect("an echo"),
        b"before"
    );

    proxy.blackhole();
    let result = round_trip(&mut open, b"held");
    assert!(
        is_silence(&result),
        "no answer, no EOF, no reset: {result:?}"
    );
    let mut new = connect(&proxy);
    let result = round_trip(&mut new, b"new");
    assert!(
        is_silence(&result),
        "a new connection is silent too: {result:?}"
    );
    assert_eq!(
        log.accepted.load(Ordering::SeqCst),
        1,
        "the server never saw the new connection"
    );

    proxy.heal();
    open.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    new.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    let mut held = [0; 4];
    open.read_exact(&mut held)
        .expect("the held bytes arrive after heal");
    assert_eq!(&held, b"held");
    let mut first = [0; 3];
    new.read_exact(&mut first)
        .expect("the held connection goes through after heal");
    assert_eq!(&first, b"new");
    assert_eq!(log.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn reset_resets_both_sides_of_every_open_connection_and_serves_new_ones() {
    let (server, log) = echo_server();
    let proxy = FaultProxy::start(server).expect("a proxy");
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(&proxy)).collect();
    for client in &mut clients {
        round_trip(client, b"up").expect("an echo");
    }

    assert_eq!(proxy.reset(), 3);
    for client in &mut clients {
        let result = round_trip(client, b"gone?");
        let kind = result.as_ref().map_err(std::io::Error::kind);
        assert!(
            matches!(
                kind,
                Err(ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)
            ),
            "{result:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.endings.lock().expect("echo log").len() < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let endings = log.endings.lock().expect("echo log").clone();
    assert_eq!(
        endings,
        ["reset", "reset", "reset"],
        "the server side saw RST, not FIN"
    );

    let stats = proxy.stats();
    assert_eq!((stats.reset, stats.open), (3, 0));
    let mut after = connect(&proxy);
    assert_eq!(
        round_trip(&mut after, b"again").expect("new connections work"),
        b"again"
    );
}

#[test]
fn a_dropped_proxy_closes_its_connections_and_stops_listening() {
    let (server, _) = echo_server();
    let proxy = FaultProxy::start(server).expect("a proxy");
    let address = proxy.address();
    let mut client = connect(&proxy);
    round_trip(&mut client, b"x").expect("an echo");
    drop(proxy);
    let mut rest = Vec::new();
    let ended = client.read_to_end(&mut rest);
    assert!(
        matches!(ended, Ok(0)),
        "the client sees the connection closed: {ended:?}"
    );
    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens any more"
    );
}
