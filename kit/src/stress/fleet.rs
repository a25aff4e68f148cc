//! The supervisor: starts worker processes (this test binary, run again as its ignored worker
//! test) on one database, SIGKILLs random ones (lease holders preferred) and starts replacements
//! until the run's time is up, then waits for the rest. A [`Fleet`] kills and reaps every child
//! it still has when dropped, so no exit path of a test, a panic included, leaves a process
//! behind.

use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::config::{AcquireKind, WORKER_ENV, WorkerConfig};
use super::rng::XorShift;
use super::worker::{Result, now_ms};

/// The signal `Child::kill` sends on Unix.
const SIGKILL: i32 = 9;

/// A replacement is not worth starting with less than this left to run.
const MIN_LIFE: Duration = Duration::from_millis(300);

/// How long workers may take to finish after the run's end: a holder ends its last lease, and a
/// statement may wait out a store's busy timeout on a loaded machine.
const GRACE: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Which acquire the workers use.
    pub(crate) acquire: AcquireKind,
    /// How many workers run at a time.
    pub(crate) processes: usize,
    /// How long the supervisor kills and replaces workers.
    pub(crate) run_for: Duration,
    /// How many resources the workers contend for.
    pub(crate) resources: u64,
    /// The range of lease TTLs, in milliseconds.
    pub(crate) ttl_ms: RangeInclusive<u64>,
    /// The range of pauses between two kills, in milliseconds.
    pub(crate) kill_every_ms: RangeInclusive<u64>,
    /// The supervisor's seed; each worker's seed is drawn from it.
    pub(crate) seed: u64,
}

/// How to start a worker, and where the run keeps its files.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    /// The test binary (this process's executable).
    pub(crate) exe: PathBuf,
    /// The worker test's full name in it.
    pub(crate) test: String,
    /// The database, as the backend's `locator` names it.
    pub(crate) locator: String,
    /// The run's directory: configs, logs, the protected resource.
    pub(crate) dir: PathBuf,
}

impl Launch {
    /// The protected resource's file.
    pub(crate) fn protected(&self) -> PathBuf {
        self.dir.join("protected")
    }
}

/// One worker process, as the supervisor saw it.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Its client name (unique in the run).
    pub(crate) client: String,
    /// Its log file.
    pub(crate) log: PathBuf,
    /// Its test harness's output and its standard error, kept to explain a failure.
    stdout: PathBuf,
    stderr: PathBuf,
    /// When the supervisor sent SIGKILL, in milliseconds on the store's clock.
    pub(crate) killed_at: Option<u64>,
    /// How it ended; `None` only while it runs.
    exit: Option<ExitStatus>,
}

impl Worker {
    /// Why this worker counts as failed: it ended on its own, but not successfully, or its test
    /// harness did not run the worker test (a name that matched nothing).
    pub(crate) fn failure(&self) -> Option<String> {
        if self.killed_at.is_some() {
            return None;
        }
        let stdout = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        if self.exit.is_some_and(|e| e.success()) && stdout.contains("1 passed") {
            return None;
        }
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        Some(format!(
            "{} ended with {:?}:\n{stdout}\n{stderr}",
            self.client, self.exit
        ))
    }
}

/// Runs `plan` as `launch` says, aiming kills with `holders` (the owners of the leases valid
/// now), and returns every worker that ran, killed or not.
pub(crate) fn run(
    plan: &Plan,
    launch: &Launch,
    holders: &dyn Fn() -> Vec<String>,
) -> Result<Vec<Worker>> {
    let mut fleet = Fleet::new(plan, launch, holders);
    for _ in 0..plan.processes {
        fleet.spawn()?;
    }
    fleet.kill_until_the_end()?;
    fleet.wait_for_all()?;
    Ok(std::mem::take(&mut fleet.workers))
}

struct Fleet<'a> {
    plan: &'a Plan,
    launch: &'a Launch,
    holders: &'a dyn Fn() -> Vec<String>,
    rng: XorShift,
    workers: Vec<Worker>,
    /// The children still running, with their index in `workers`.
    running: Vec<(usize, Child)>,
    end: Instant,
}

impl<'a> Fleet<'a> {
    fn new(plan: &'a Plan, launch: &'a Launch, holders: &'a dyn Fn() -> Vec<String>) -> Self {
        Self {
            plan,
            launch,
            holders,
            rng: XorShift::new(plan.seed),
            workers: Vec::new(),
            running: Vec::new(),
            end: Instant::now() + plan.run_for,
        }
    }

    fn spawn(&mut self) -> Result<()> {
        let config = self.next_config();
        let file = |extension: &str| config.log.with_extension(extension);
        let (path, stdout, stderr) = (file("config"), file("stdout"), file("stderr"));
        std::fs::write(&path, config.to_text()?)?;
        let child = Command::new(&self.launch.exe)
            .args([&self.launch.test, "--exact", "--ignored", "--nocapture"])
            .arg("--test-threads=1")
            .env(WORKER_ENV, &path)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?)
            .spawn()?;
        self.running.push((self.workers.len(), child));
        self.workers.push(Worker {
            client: config.client,
            log: config.log,
            stdout,
            stderr,
            killed_at: None,
            exit: None,
        });
        Ok(())
    }

    /// The next worker's instructions: a new client name, its own log, the rest of the run.
    fn next_config(&mut self) -> WorkerConfig {
        let client = format!("w{}", self.workers.len());
        WorkerConfig {
            locator: self.launch.locator.clone(),
            log: self.launch.dir.join(format!("{client}.log")),
            protected: self.launch.protected(),
            client,
            run_for: self.end.saturating_duration_since(Instant::now()),
            seed: self.rng.next_u64(),
            acquire: self.plan.acquire,
            resources: self.plan.resources,
            ttl_ms: self.plan.ttl_ms.clone(),
        }
    }

    fn kill_until_the_end(&mut self) -> Result<()> {
        loop {
            let pause = Duration::from_millis(self.rng.in_range(self.plan.kill_every_ms.clone()));
            let left = self.end.saturating_duration_since(Instant::now());
            thread::sleep(pause.min(left));
            self.reap()?;
            if Instant::now() >= self.end {
                return Ok(());
            }
            if self.kill_one()? && self.end.saturating_duration_since(Instant::now()) > MIN_LIFE {
                self.spawn()?;
            }
        }
    }

    /// SIGKILLs one running worker, a lease holder half of the time; false if none was running.
    fn kill_one(&mut self) -> Result<bool> {
        let Some(position) = self.victim() else {
            return Ok(false);
        };
        let (index, mut child) = self.running.swap_remove(position);
        let killed_at = now_ms()?;
        // `Child::kill` sends SIGKILL on Unix: no handler, no cleanup, like a crash.
        if let Err(e) = child.kill() {
            // Still running, as far as we know: leave it to the guard.
            self.running.push((index, child));
            return Err(e.into());
        }
        let exit = child.wait()?;
        let worker = &mut self.workers[index];
        worker.exit = Some(exit);
        // A worker that failed on its own just before the signal keeps its failure.
        worker.killed_at = (exit.signal() == Some(SIGKILL)).then_some(killed_at);
        Ok(true)
    }

    fn victim(&mut self) -> Option<usize> {
        if self.running.is_empty() {
            return None;
        }
        if self.rng.chance(1, 2) {
            let holders = self.holding();
            if !holders.is_empty() {
                return Some(holders[self.rng.index(holders.len())]);
            }
        }
        Some(self.rng.index(self.running.len()))
    }

    /// The positions in `running` of the workers that hold a valid lease now.
    fn holding(&self) -> Vec<usize> {
        let owners = (self.holders)();
        let is_holder = |index: usize| owners.contains(&self.workers[index].client);
        let positions = self.running.iter().enumerate();
        positions
            .filter(|(_, (index, _))| is_holder(*index))
            .map(|(position, _)| position)
            .collect()
    }

    /// Collects the workers that ended on their own.
    fn reap(&mut self) -> Result<()> {
        let mut still_running = Vec::new();
        for (index, mut child) in std::mem::take(&mut self.running) {
            match child.try_wait()? {
                Some(status) => self.workers[index].exit = Some(status),
                None => still_running.push((index, child)),
            }
        }
        self.running = still_running;
        Ok(())
    }

    fn wait_for_all(&mut self) -> Result<()> {
        let deadline = Instant::now() + GRACE;
        while !self.running.is_empty() {
            if Instant::now() > deadline {
                let stuck: Vec<&str> = self.running_clients();
                return Err(
                    format!("workers still running {GRACE:?} after the end: {stuck:?}").into(),
                );
            }
            thread::sleep(Duration::from_millis(20));
            self.reap()?;
        }
        Ok(())
    }

    fn running_clients(&self) -> Vec<&str> {
        let clients = self.running.iter();
        clients
            .map(|(index, _)| self.workers[*index].client.as_str())
            .collect()
    }
}

impl Drop for Fleet<'_> {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            // Best effort on the way out: a child that already exited makes `kill` fail, and
            // `wait` then reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard every exit path relies on: dropping a fleet (as a panic does) leaves no worker
    /// running and none unreaped. Linux: it looks for the workers in `/proc`.
    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_a_fleet_kills_and_reaps_its_workers() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let plan = Plan {
            acquire: AcquireKind::Store,
            processes: 2,
            run_for: Duration::from_secs(600),
            resources: 1,
            ttl_ms: 20..=200,
            kill_every_ms: 100..=500,
            seed: 7,
        };
        let launch = Launch {
            exe: std::env::current_exe().expect("the test binary"),
            test: "stress::fleet::tests::sleeper".into(),
            locator: "unused".into(),
            dir: dir.path().to_owned(),
        };
        let nobody = || Vec::new();
        let mut fleet = Fleet::new(&plan, &launch, &nobody);
        for _ in 0..plan.processes {
            fleet.spawn().expect("the test binary starts again");
        }
        let pids: Vec<u32> = fleet.running.iter().map(|(_, child)| child.id()).collect();
        thread::sleep(Duration::from_millis(200));
        drop(fleet);
        for pid in pids {
            // A reaped child's /proc entry is gone (a killed but unreaped one would linger as a
            // zombie); its pid is not reused this quickly.
            let proc_entry = PathBuf::from(format!("/proc/{pid}"));
            assert!(!proc_entry.exists(), "worker {pid} outlived its fleet");
        }
    }

    /// The stand-in worker of the test above: sleeps for as long as a run could last.
    #[test]
    #[ignore = "started by dropping_a_fleet_kills_and_reaps_its_workers"]
    fn sleeper() {
        if std::env::var_os(WORKER_ENV).is_some() {
            thread::sleep(Duration::from_secs(600));
        }
    }
}
