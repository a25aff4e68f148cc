//! What the harness tests share: an echo server, and looking for leftover processes.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Live (not zombie) processes whose command line contains `text`, e.g. a cluster's name
/// (`leasehold_PORT`, in the postmaster's arguments and every server process's title).
pub(crate) fn processes_mentioning(text: &str) -> Vec<u32> {
    let own = std::process::id();
    let entries = fs::read_dir("/proc").expect("Linux has /proc");
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest.trim_start());
            String::from_utf8_lossy(&cmdline).contains(text) && !state.starts_with('Z')
        })
        .collect()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// What an echo server saw.
#[derive(Debug, Default)]
pub(crate) struct EchoLog {
    /// Connections accepted.
    pub(crate) accepted: AtomicU64,
    /// How each connection ended: "eof", "reset" or another error's kind.
    pub(crate) endings: Mutex<Vec<String>>,
}

/// A thread-per-connection echo server on a free port of 127.0.0.1. Its threads end when the
/// test process does.
pub(crate) fn echo_server() -> (SocketAddr, Arc<EchoLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on loopback");
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    let log = Arc::new(EchoLog::default());
    let accepting = Arc::clone(&log);
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            accepting.accepted.fetch_add(1, Ordering::SeqCst);
            let log = Arc::clone(&accepting);
            thread::spawn(move || echo(stream, &log));
        }
    });
    (address, log)
}

fn echo(mut stream: TcpStream, log: &EchoLog) {
    let mut buffer = [0; 4096];
    let ending = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break "eof".to_owned(),
            Ok(read) => {
                if let Err(err) = stream.write_all(&buffer[..read]) {
                    break format!("{:?}", err.kind());
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                break "reset".to_owned();
            }
            Err(err) => break format!("{:?}", err.kind()),
        }
    };
    log.endings
        .lock()
        .expect("no echo thread panics holding it")
        .push(ending);
}
