//! [`Style::Mixed`](crate::scenario::Style::Mixed): a client that sends single operations on two
//! resources — `try_acquire`, `release` of what it holds, `holder`, `evict` — and times each.
//! What it measures is how long an operation waits for SQLite's write lock (the reads never
//! wait in WAL mode), not how long anyone waits for a lease.

use std::time::Instant;

use crate::client::Client;
use crate::error::BenchError;
use crate::locker::Locker;
use crate::scenario::ClientResult;

/// The operations, by share of draws out of ten: half are acquire-or-release (a release when
/// the client holds the picked resource), 4 are `holder`, 1 is `evict`.
fn operation(draw: u64) -> &'static str {
    match draw % 10 {
        0..=4 => "acquire",
        5..=8 => "holder",
        _ => "evict",
    }
}

/// Runs operations until `deadline`; every operation's latency is recorded, busy errors too (a
/// busy error is a wait as long as the busy timeout).
///
/// # Errors
///
/// Any failure but a busy database, which is counted.
pub(crate) fn run<L: Locker>(
    client: &mut Client<'_, L>,
    deadline: Instant,
    result: &mut ClientResult,
) -> Result<(), BenchError> {
    let mut held: Vec<Option<L::Grant>> = client.resources.iter().map(|_| None).collect();
    while Instant::now() < deadline {
        let index = client.pick();
        let draw = client.draw();
        let resource = &client.resources[index];
        let mut name = operation(draw);
        let started = Instant::now();
        let outcome = match (name, held[index].take()) {
            ("acquire", Some(grant)) => {
                name = "release";
                client.locker.release_any(&grant)
            }
            ("acquire", None) => client
                .locker
                .try_acquire(resource, &client.owner)
                .map(|grant| held[index] = grant),
            (other, grant) => {
                held[index] = grant;
                if other == "holder" {
                    client.locker.holder(resource)
                } else {
                    client.locker.evict(resource)
                }
            }
        };
        let took = started.elapsed();
        match outcome {
            Ok(()) => {}
            Err(e) if e.is_busy() => result.busy_errors += 1,
            Err(e) => return Err(e),
        }
        result
            .operations
            .entry(name.to_owned())
            .or_default()
            .record(took);
        result.grants += 1;
    }
    for grant in held.into_iter().flatten() {
        client.locker.release_any(&grant)?;
    }
    Ok(())
}
