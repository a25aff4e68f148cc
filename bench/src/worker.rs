//! The worker side of a run: a child process of the bench binary that opens one contender,
//! says `ready`, waits for `go`, runs its clients (one, or several threads sharing the
//! contender) and prints what they measured as one JSON line.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::{Client, Witness, resource_names};
use crate::contender::{self, WithLocker};
use crate::error::BenchError;
use crate::locker::Locker;
use crate::pg::Place;
use crate::scenario::{ClientResult, Scenario};
use crate::stores::Store;

/// The line a worker prints once its contender is open.
pub const READY: &str = "ready";
/// The line that starts every worker's clients at once.
pub const GO: &str = "go";

/// What the parent tells a worker process (its one command-line argument, as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerOrder {
    /// The scenario being run.
    pub scenario: Scenario,
    /// The lock database (schema already created).
    pub database: PathBuf,
    /// The directory of the witness files.
    pub witness: PathBuf,
    /// The index of this process's first client (owner names are `client-<index>`).
    pub first_client: usize,
    /// Clients in this process: threads sharing one contender.
    pub clients: usize,
    /// How long the clients run after `go`.
    pub duration_ms: u64,
    /// Where the PostgreSQL contenders connect (`None` for the SQLite ones).
    #[serde(default)]
    pub postgres: Option<Place>,
}

/// Serves one order: open, `ready`, wait for `go` on `input`, run, print the results.
///
/// # Errors
///
/// The contender's, the clients' and the pipes' failures.
pub fn serve(
    order: &WorkerOrder,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), BenchError> {
    let visit = Serve {
        order,
        input,
        output,
    };
    let scenario = &order.scenario;
    let label = scenario.label();
    let context = |e: BenchError| BenchError::Protocol(format!("{label}: {e}"));
    let opened = if scenario.style.polls() {
        Store::open_polling(&order.database, scenario.durability).map(|store| visit.with(store))
    } else if scenario.contender.is_postgres() {
        let place = order
            .postgres
            .as_ref()
            .ok_or_else(|| BenchError::protocol("a PostgreSQL scenario without a server"))?;
        crate::pg::open(scenario.contender, place, visit)
    } else {
        contender::open(
            scenario.contender,
            &order.database,
            scenario.durability,
            visit,
        )
    };
    opened
        .map_err(|e| context(BenchError::Protocol(format!("opening: {e}"))))?
        .map_err(context)
}

struct Serve<'a> {
    order: &'a WorkerOrder,
    input: &'a mut dyn BufRead,
    output: &'a mut dyn Write,
}

impl WithLocker for Serve<'_> {
    type Output = Result<(), BenchError>;

    fn with<L: Locker>(self, locker: L) -> Self::Output {
        let order = self.order;
        let resources = resource_names(order.scenario.resources);
        let clients = (0..order.clients)
            .map(|i| client(order, &locker, &resources, order.first_client + i))
            .collect::<Result<Vec<_>, _>>()?;
        writeln!(self.output, "{READY}")?;
        self.output.flush()?;
        let mut line = String::new();
        self.input.read_line(&mut line)?;
        if line.trim() != GO {
            return Err(BenchError::protocol(format!(
                "expected {GO:?}, got {line:?}"
            )));
        }
        let results = run_clients(clients, Duration::from_millis(order.duration_ms))?;
        writeln!(self.output, "{}", serde_json::to_string(&results)?)?;
        Ok(self.output.flush()?)
    }
}

fn client<'a, L: Locker>(
    order: &WorkerOrder,
    locker: &'a L,
    resources: &'a [String],
    index: usize,
) -> Result<Client<'a, L>, BenchError> {
    Ok(Client {
        locker,
        owner: format!("client-{index}"),
        resources,
        witness: Witness::open(&order.witness, resources.len())?,
        style: order.scenario.style,
        seed: seed(index),
    })
}

/// A distinct nonzero seed per client and per run.
fn seed(index: usize) -> u64 {
    let index = u64::try_from(index).unwrap_or(0);
    let pid = u64::from(std::process::id());
    (pid << 32 ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// Runs the clients on their own threads, started together, for `duration`.
fn run_clients<L: Locker>(
    clients: Vec<Client<'_, L>>,
    duration: Duration,
) -> Result<Vec<ClientResult>, BenchError> {
    let start = Barrier::new(clients.len());
    thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .map(|client| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    client.run(Instant::now() + duration)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::protocol("a client panicked")))
            })
            .collect()
    })
}
