//! The parent side of a run: a fresh database per scenario, one worker process per client (or
//! one process of threads), a common start, and the clients' results collected.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use leasehold_sqlite::{Options, SqliteStore};

use crate::error::BenchError;
use crate::scenario::{ClientResult, Runner, Scenario};
use crate::server::Postgres;
use crate::worker::{GO, READY, WorkerOrder};

/// The argument that makes the bench binary a worker; the order follows as JSON.
pub const WORKER_ARG: &str = "__worker";

/// A started worker process; killed if dropped before it finished (a failed run leaves no
/// stray workers behind).
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    done: bool,
}

impl Worker {
    fn spawn(exe: &Path, order: &WorkerOrder) -> Result<Self, BenchError> {
        let mut child = Command::new(exe)
            .arg(WORKER_ARG)
            .arg(serde_json::to_string(order)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::protocol("a worker without pipes"));
        };
        Ok(Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            done: false,
        })
    }

    fn line(&mut self) -> Result<String, BenchError> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            self.done = true;
            return Err(BenchError::protocol(format!(
                "a worker exited early with {status} (see its stderr)"
            )));
        }
        Ok(line.trim_end().to_owned())
    }

    fn expect_ready(&mut self) -> Result<(), BenchError> {
        match self.line()?.as_str() {
            READY => Ok(()),
            other => Err(BenchError::protocol(format!("worker said {other:?}"))),
        }
    }

    fn go(&mut self) -> Result<(), BenchError> {
        writeln!(self.stdin, "{GO}")?;
        Ok(self.stdin.flush()?)
    }

    fn finish(mut self) -> Result<Vec<ClientResult>, BenchError> {
        let results = serde_json::from_str(&self.line()?)?;
        let status = self.child.wait()?;
        self.done = true;
        if !status.success() {
            return Err(BenchError::protocol(format!(
                "a worker ended with {status}"
            )));
        }
        Ok(results)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `scenario` for `duration` in fresh files under `base` (and for a PostgreSQL contender a
/// fresh schema on `postgres`), with worker processes of the program `exe`, and returns every
/// client's result.
///
/// # Errors
///
/// Setup, spawn and worker failures; a PostgreSQL scenario without `postgres`.
pub fn run_scenario(
    exe: &Path,
    base: &Path,
    postgres: Option<&Postgres>,
    scenario: &Scenario,
    duration: Duration,
) -> Result<Vec<ClientResult>, BenchError> {
    let dir = tempfile::Builder::new()
        .prefix("leasehold-bench-")
        .tempdir_in(base)?;
    let database = dir.path().join("locks.db");
    let witness = dir.path().join("witness");
    std::fs::create_dir(&witness)?;
    // The schema and WAL mode are in place before any worker opens the file. This connection
    // stays open until the workers are done: without it, a worker that closes a connection
    // while others open theirs can be the last one out, and SQLite then checkpoints and deletes
    // the WAL under the openers, which makes an open fail with SQLITE_BUSY.
    let options = Options::new().durability(scenario.durability.store());
    let _keeper = SqliteStore::open_with(&database, options)?;
    // Dropped (the schema with it) once the workers are done.
    let schema = if scenario.contender.is_postgres() {
        let postgres = postgres.ok_or_else(|| {
            BenchError::protocol(format!("{}: no PostgreSQL server", scenario.label()))
        })?;
        Some(postgres.prepare(scenario)?)
    } else {
        None
    };
    let (processes, per_process) = match scenario.runner {
        Runner::Processes => (scenario.clients, 1),
        Runner::Threads => (1, scenario.clients),
    };
    let orders = (0..processes).map(|p| WorkerOrder {
        scenario: *scenario,
        database: database.clone(),
        witness: witness.clone(),
        first_client: p * per_process,
        clients: per_process,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        postgres: schema.as_ref().map(|s| s.place.clone()),
    });
    let mut workers = orders
        .map(|order| Worker::spawn(exe, &order))
        .collect::<Result<Vec<_>, _>>()?;
    for worker in &mut workers {
        worker.expect_ready()?;
    }
    for worker in &mut workers {
        worker.go()?;
    }
    let mut results = Vec::with_capacity(scenario.clients);
    for worker in workers {
        results.extend(worker.finish()?);
    }
    Ok(results)
}
