//! The line shared between processes (Linux): a directory per resource beside the database, one
//! file per waiter named by its arrival ticket, and one datagram socket per waiter to wake it.
//!
//! - **Layout.** `<database>-lines/<128-bit FNV-1a hash of the resource, hex>/<ticket>`, where a
//!   ticket is `<wall clock, ns, 20 digits>-<store nonce, 16 hex>-<counter, 8 hex>`: names sort
//!   in arrival order, and the smallest is the front. (Two waiters whose clock readings tie are
//!   ordered by nonce; a wall clock stepped back lets a later waiter in ahead — fairness, never
//!   exclusion.)
//! - **Wake-up.** A waiter's socket has the Linux abstract address
//!   `leasehold-line/<nonce>-<counter>`: no file, gone when its process dies. Waking is one
//!   datagram to the front's socket; a datagram sent before the waiter blocks stays queued in
//!   its socket, so a wake-up that arrives between an attempt and the pause after it ends that
//!   pause at once.
//! - **Liveness.** A waiter holds an exclusive `flock` on its file for as long as it is in line.
//!   Whoever finds a file whose lock it can take (its process died) removes it. A file is created
//!   and locked under a dot-name, then renamed into place, so that no live waiter's file is ever
//!   seen unlocked.
//! - **Leaving.** A waiter removes its file; unless it leaves with a grant, it wakes the new
//!   front (a lease just granted is held, and its release will wake the front). The last one out
//!   removes the directory, so that a release on a resource nobody waits for costs one failed
//!   directory open.

use std::fs::{self, File, TryLockError};
use std::io::{self, ErrorKind};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::occupancy::{Occupancy, Occupant};

/// Appended to the database's path to name the lines' directory.
const SUFFIX: &str = "-lines";
/// The occupancy file in the lines' directory ([`Occupancy`]).
const OCCUPANCY: &str = "waiters";
/// The line for SQLite's write lock (resource lines are named by 32 hex digits).
const WRITE_LINE: &str = "write";
/// How long a waiter behind the front waits to be handed the turn before it checks whether the
/// front's process is still alive: it bounds how long a killed waiter can hold up the line.
const CHECK: Duration = Duration::from_millis(50);
/// Attempts to create a waiter's file while last-out waiters remove the directory.
const CREATE_TRIES: usize = 8;

/// The shared lines of one database, as one store sees them.
#[derive(Debug)]
pub(crate) struct SharedLines {
    root: PathBuf,
    occupancy: Occupancy,
    /// Random per store: with the counter, it names this store's waiters uniquely on the host.
    nonce: u64,
    counter: AtomicU32,
    capacity: usize,
    /// Sends wake-ups; never blocks (a full socket already has wake-ups waiting).
    sender: UnixDatagram,
}

impl SharedLines {
    /// The lines of the database at `database`; `None` where wake-ups cannot be sent.
    pub(crate) fn new(database: &Path, capacity: usize) -> Option<Self> {
        let mut root = database.as_os_str().to_owned();
        root.push(SUFFIX);
        let root = PathBuf::from(root);
        fs::create_dir_all(&root).ok()?;
        let occupancy = Occupancy::open(&root.join(OCCUPANCY)).ok()?;
        let sender = UnixDatagram::unbound().ok()?;
        sender.set_nonblocking(true).ok()?;
        Some(Self {
            root,
            occupancy,
            nonce: getrandom::u64().ok()?,
            counter: AtomicU32::new(0),
            capacity,
            sender,
        })
    }

    fn dir(&self, resource: &str) -> PathBuf {
        self.root
            .join(format!("{:032x}", fnv1a_128(resource.as_bytes())))
    }

    fn write_dir(&self) -> PathBuf {
        self.root.join(WRITE_LINE)
    }

    /// Whether anyone is in `resource`'s line (possibly a dead waiter not yet cleared).
    pub(crate) fn waiting(&self, resource: &str) -> bool {
        !self.occupancy.vacant() && any_ticket(&self.dir(resource))
    }

    /// Whether the front of the line for the write lock has been in it for longer than
    /// `patience`.
    pub(crate) fn writers_starving(&self, patience: Duration) -> bool {
        !self.occupancy.vacant()
            && tickets(&self.write_dir())
                .first()
                .is_some_and(|front| older_than(front, patience))
    }

    /// A place at the back of `resource`'s line; `None` when the line is full or cannot be
    /// joined (the caller then waits without it).
    pub(crate) fn join(&self, resource: &str) -> Option<SharedPlace<'_>> {
        self.join_dir(self.dir(resource))
    }

    /// A place at the back of the line for the write lock.
    pub(crate) fn join_write(&self) -> Option<SharedPlace<'_>> {
        self.join_dir(self.write_dir())
    }

    fn join_dir(&self, dir: PathBuf) -> Option<SharedPlace<'_>> {
        // Before the file and the next try: see `Occupancy::enter`.
        let occupant = self.occupancy.enter().ok()?;
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{counter:08x}", self.nonce);
        let socket = UnixDatagram::bind_addr(&address(&id)?).ok()?;
        let ticket = format!("{:020}-{id}", since_epoch_ns());
        let file = register(&dir, &ticket).ok()?;
        let mut place = SharedPlace {
            lines: self,
            dir,
            ticket,
            _file: file,
            socket,
            _occupant: occupant,
            granted: false,
            front: false,
        };
        // Counted after joining, so that one listing serves both the count and the first look
        // for the front; a waiter over the capacity leaves again (its drop wakes nobody new:
        // it was not the front).
        let ahead = place.look();
        if ahead.len() > self.capacity {
            place.granted = true;
            return None;
        }
        place.check_front(&ahead);
        Some(place)
    }

    /// After a write statement: when anyone waits, wakes the front of the line for the write
    /// lock and, for a release or eviction of `freed`, the front of its line. Returns whether
    /// anyone waited.
    pub(crate) fn after_write(&self, freed: Option<&str>) -> bool {
        if self.occupancy.vacant() {
            return false;
        }
        self.hand_over(&self.write_dir());
        if let Some(resource) = freed {
            self.hand_over(&self.dir(resource));
        }
        true
    }

    /// Wakes `resource`'s front waiter, clearing dead waiters ahead of it.
    pub(crate) fn notify(&self, resource: &str) {
        if !self.occupancy.vacant() {
            self.hand_over(&self.dir(resource));
        }
    }

    /// Wakes the front waiter of the line in `dir` and yields the CPU to it.
    fn hand_over(&self, dir: &Path) {
        if wake_front(&self.sender, dir) {
            // Lets the woken waiter run before the caller goes on: on a busy machine the caller
            // (often about to ask for the lease or the lock again) would otherwise keep the CPU
            // the waiter needs, and every hand-over would wait for the caller's next block.
            // Measured, 8 processes on 2 cores, relaxed: a hot lease held 200 µs, 1,460-1,610
            // cycles/s with it, 770-880 without; mixed operations with the line for the write
            // lock, 8,000-14,000 operations/s without it.
            thread::yield_now();
        }
    }
}

/// A waiter's place in a shared line; dropping it leaves the line.
#[derive(Debug)]
pub(crate) struct SharedPlace<'a> {
    lines: &'a SharedLines,
    dir: PathBuf,
    ticket: String,
    /// Its `flock` says this waiter is alive; closed (unlocked) after the file is removed.
    _file: File,
    socket: UnixDatagram,
    /// Released after the file is removed.
    _occupant: Occupant<'a>,
    granted: bool,
    /// Whether this waiter is known to be the front. Once the front, a waiter stays the front
    /// until it leaves (only a waiter with a smaller ticket could get ahead, and tickets are
    /// taken in time order), so it does not look again.
    front: bool,
}

impl SharedPlace<'_> {
    /// Waits until this waiter is the front (`true`) or `deadline` passes (`false`).
    pub(crate) fn wait_for_turn(&mut self, deadline: Option<Instant>) -> bool {
        while !self.front {
            let left = deadline.map_or(CHECK, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return false;
            }
            if self.receive(left.min(CHECK)) {
                // Only the front is ever woken: whoever sent this found this waiter first in
                // line.
                self.front = true;
            } else {
                // Not handed the turn in time: the front's process may have died (its ticket
                // is older than this wait, so `check_front` tests it).
                self.check_front(&self.look());
            }
        }
        true
    }

    /// The tickets in line now, front first.
    fn look(&self) -> Vec<String> {
        tickets(&self.dir)
    }

    /// Notes whether `tickets` put this waiter at the front. A waiter whose file is gone (removed
    /// by hand, or a line it cannot read) counts as the front: it falls back to polling rather
    /// than waiting for a turn nobody will hand it. A front whose ticket is older than a check
    /// is tested for liveness at once, so a line left by a killed waiter is cleared on joining.
    fn check_front(&mut self, tickets: &[String]) {
        match tickets.first() {
            Some(front) if *front != self.ticket && tickets.contains(&self.ticket) => {
                if is_old(front) && remove_if_dead(&self.dir, front) {
                    self.check_front(&self.look());
                }
            }
            _ => self.front = true,
        }
    }

    /// Empties the socket: only wake-ups sent after this end the next pause.
    pub(crate) fn mark(&mut self) {
        if self.socket.set_nonblocking(true).is_ok() {
            while self.socket.recv(&mut [0; 8]).is_ok() {}
            let _ = self.socket.set_nonblocking(false);
        }
    }

    /// Waits for a wake-up, at most `pause`.
    pub(crate) fn pause(&mut self, pause: Duration) {
        self.receive(pause);
    }

    /// The wait ends with a grant: leaving wakes nobody.
    pub(crate) fn granted(&mut self) {
        self.granted = true;
    }

    /// Waits for one datagram, at most `timeout`; `true` when one came.
    fn receive(&self, timeout: Duration) -> bool {
        if timeout.is_zero() {
            return false;
        }
        let received = self
            .socket
            .set_read_timeout(Some(timeout))
            .and_then(|()| self.socket.recv(&mut [0; 8]));
        match received {
            Ok(_) => true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => false,
            // A socket that cannot wait must not turn the caller's wait into a spin.
            Err(_) => {
                thread::sleep(timeout);
                false
            }
        }
    }
}

impl Drop for SharedPlace<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join(&self.ticket));
        if !self.granted {
            wake_front(&self.lines.sender, &self.dir);
        }
        // Fails while others are in line, as it should.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Whether `dir` has a ticket.
fn any_ticket(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| !e.file_name().as_encoded_bytes().starts_with(b".")))
    })
}

/// The tickets in `dir`, front first; none when it cannot be read.
fn tickets(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut tickets: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    tickets.sort_unstable();
    tickets
}

/// Creates `dir/ticket`, locked, via a dot-name so that it is never seen unlocked.
fn register(dir: &Path, ticket: &str) -> io::Result<File> {
    let temporary = dir.join(format!(".{ticket}"));
    for _ in 0..CREATE_TRIES {
        let file = match File::create_new(&temporary) {
            Ok(file) => file,
            // No line yet, or the last waiter out just removed it: create it.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        // Nobody else locks a dot-named file, so this does not wait.
        let placed = file
            .lock()
            .and_then(|()| fs::rename(&temporary, dir.join(ticket)));
        return match placed {
            Ok(()) => Ok(file),
            Err(e) => {
                let _ = fs::remove_file(&temporary);
                Err(e)
            }
        };
    }
    Err(io::Error::other("the line's directory kept disappearing"))
}

/// Wakes the front of the line in `dir`, removing dead waiters ahead of it.
fn wake_front(sender: &UnixDatagram, dir: &Path) -> bool {
    for ticket in tickets(dir) {
        if wake(sender, &ticket) {
            return true;
        }
        if !remove_if_dead(dir, &ticket) {
            // Alive but out of reach (another network namespace): it polls.
            return false;
        }
    }
    false
}

/// Sends one wake-up to `ticket`'s socket; `false` when there is no such socket.
fn wake(sender: &UnixDatagram, ticket: &str) -> bool {
    let Some(address) = ticket.split_once('-').and_then(|(_, id)| address(id)) else {
        return false;
    };
    match sender.send_to_addr(&[1], &address) {
        // A full socket already has wake-ups waiting.
        Ok(_) => true,
        Err(e) => e.kind() == ErrorKind::WouldBlock,
    }
}

/// Removes `dir/ticket` if its waiter's process is gone; `true` when it was gone (or had left).
fn remove_if_dead(dir: &Path, ticket: &str) -> bool {
    let path = dir.join(ticket);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => return e.kind() == ErrorKind::NotFound,
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = fs::remove_file(&path);
            true
        }
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => false,
    }
}

/// Whether `ticket` was taken more than a [`CHECK`] ago.
fn is_old(ticket: &str) -> bool {
    older_than(ticket, CHECK)
}

/// Whether `ticket` was taken more than `age` ago.
fn older_than(ticket: &str, age: Duration) -> bool {
    let taken = ticket
        .split_once('-')
        .and_then(|(ns, _)| ns.parse::<u64>().ok())
        .unwrap_or(0);
    u128::from(since_epoch_ns().saturating_sub(taken)) > age.as_nanos()
}

fn address(id: &str) -> Option<SocketAddr> {
    SocketAddr::from_abstract_name(format!("leasehold-line/{id}")).ok()
}

/// Nanoseconds since the Unix epoch on the wall clock, the one clock every process of the host
/// reads alike (0 before 1970).
fn since_epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// FNV-1a, 128 bits: a hash every process and every build computes alike (std's hashers promise
/// neither), wide enough that two resources never share a line in practice.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_128_matches_the_reference_values() {
        assert_eq!(fnv1a_128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    #[test]
    fn tickets_sort_in_arrival_order() {
        let early = format!("{:020}-{:016x}-{:08x}", 999_u64, u64::MAX, 7);
        let late = format!("{:020}-{:016x}-{:08x}", 1_000_u64, 0, 0);
        assert!(early < late);
    }
}
