//! How a statement waits for another connection's write lock: the busy handler every store
//! installs in place of SQLite's own.
//!
//! SQLite's handler (`sqlite3_busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms
//! and then 100 ms at a time. A lock statement holds the write lock for tens of microseconds
//! (milliseconds with an fsync), so a waiter sleeps through dozens of other commits, the write
//! lock sits idle while every waiter sleeps, and a waiter already deep in its schedule loses every
//! race to connections that just arrived: across processes on one hot resource that is how a
//! client starves, and how an acquire takes half a second. This handler retries on the scale of
//! the statements it waits for: it yields the CPU for the first tries, then sleeps from 20 µs,
//! doubling to at most 1 ms, until the busy timeout has passed.

use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Tries that only yield the CPU before the first sleep.
const YIELDS: i32 = 4;
/// The first sleep.
const FIRST_SLEEP: Duration = Duration::from_micros(20);
/// The longest sleep.
const MAX_SLEEP: Duration = Duration::from_millis(1);

/// Installs the handler on `conn`: a statement waits for the write lock until `timeout` has
/// passed, then fails with `SQLITE_BUSY` (the store's [`Error::Busy`](crate::Error::Busy)).
pub(crate) fn install(conn: &mut Connection, timeout: Duration) -> rusqlite::Result<()> {
    let mut started = Instant::now();
    conn.busy_handler(Some(move |tries: i32| {
        // SQLite counts the tries of one wait from 0: a new wait starts the clock again.
        if tries == 0 {
            started = Instant::now();
        }
        let Some(left) = timeout
            .checked_sub(started.elapsed())
            .filter(|l| !l.is_zero())
        else {
            return false;
        };
        match pause(tries) {
            None => thread::yield_now(),
            Some(pause) => thread::sleep(pause.min(left)),
        }
        true
    }))
}

/// The pause before try `tries + 1`: `None` to yield the CPU, else a sleep.
fn pause(tries: i32) -> Option<Duration> {
    let doublings = u32::try_from(tries.checked_sub(YIELDS)?).ok()?;
    // 20 µs · 2^6 > 1 ms: larger exponents are capped anyway.
    Some((FIRST_SLEEP * 2_u32.pow(doublings.min(6))).min(MAX_SLEEP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_then_sleeps_from_twenty_microseconds_doubling_to_one_millisecond() {
        let pauses: Vec<_> = (0..12).map(pause).collect();
        let us = Duration::from_micros;
        assert_eq!(pauses[..4], [None; 4]);
        assert_eq!(
            pauses[4..],
            [
                us(20),
                us(40),
                us(80),
                us(160),
                us(320),
                us(640),
                us(1000),
                us(1000)
            ]
            .map(Some)
        );
        assert_eq!(pause(i32::MAX), Some(MAX_SLEEP));
    }
}
