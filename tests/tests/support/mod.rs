//! Shared test helpers: databases in temporary directories, and a seam that forces an order
//! of statements across threads.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use leasehold_sqlite::{
    Acquire, Durability, Lease, ManualClock, Options, Seam, SqliteStore, Statement, Timestamp,
};
use leasehold_tests::CheckThenActStore;
use tempfile::TempDir;

/// A database file in a fresh temporary directory, and the one manual clock its stores share.
pub(crate) struct Db {
    pub(crate) path: PathBuf,
    pub(crate) clock: ManualClock,
    _dir: TempDir,
}

impl Db {
    /// A fresh database directory; the clock starts at `start` ms.
    pub(crate) fn new(start: u64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("locks.db");
        let clock = ManualClock::new(Timestamp::from_millis(start));
        Self {
            path,
            clock,
            _dir: dir,
        }
    }

    /// A real store with its own connection, statements through `seam`.
    pub(crate) fn store<S: Seam>(&self, seam: S) -> SqliteStore<S> {
        let options = Options::new()
            .durability(Durability::Relaxed)
            .clock(self.clock.clone())
            .seam(seam);
        SqliteStore::open_with(&self.path, options).expect("a fresh store opens")
    }

    /// The planted check-then-act store, with its own connection.
    pub(crate) fn naive<S: Seam>(&self, seam: S) -> CheckThenActStore<S> {
        CheckThenActStore::open(
            &self.path,
            Arc::new(self.clock.clone()),
            seam,
            Durability::Relaxed,
        )
        .expect("the planted store opens")
    }

    /// Moves the shared clock forward.
    pub(crate) fn advance(&self, millis: u64) {
        self.clock.advance(Duration::from_millis(millis));
    }

    /// The clock reading.
    pub(crate) fn now(&self) -> u64 {
        use leasehold_sqlite::Clock as _;
        self.clock.now().expect("a manual clock reads").as_millis()
    }
}

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The lease in `outcome`, or a panic saying who held it.
pub(crate) fn granted(outcome: Acquire) -> Lease {
    match outcome {
        Acquire::Granted(lease) => lease,
        Acquire::Busy(holder) => panic!(
            "expected a grant; {} holds #{}",
            holder.owner(),
            holder.token()
        ),
    }
}

/// One step of a [`Script`]: `client` runs a statement of `kind`.
pub(crate) type Turn = (&'static str, Statement);

/// The order in which statements of several threads must run. Each thread's [`ScriptedSeam`]
/// holds back a statement that is that client's next scripted one until every scripted statement
/// before it has run; statements the script does not name run freely.
#[derive(Clone)]
pub(crate) struct Script {
    state: Arc<(Mutex<VecDeque<Turn>>, Condvar)>,
}

impl Script {
    pub(crate) fn new(turns: &[Turn]) -> Self {
        let turns = turns.iter().copied().collect();
        Self {
            state: Arc::new((Mutex::new(turns), Condvar::new())),
        }
    }

    /// The seam of `client`.
    pub(crate) fn seam(&self, client: &'static str) -> ScriptedSeam {
        ScriptedSeam {
            client,
            script: self.clone(),
        }
    }

    /// Whether every scripted statement has run.
    pub(crate) fn is_done(&self) -> bool {
        self.state
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    fn names(&self, turn: Turn) -> bool {
        self.state
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&turn)
    }

    fn wait_for(&self, turn: Turn) {
        let (turns, moved) = &*self.state;
        let guard = turns.lock().unwrap_or_else(PoisonError::into_inner);
        let ready = |t: &mut VecDeque<Turn>| t.front() != Some(&turn);
        let waited = moved.wait_timeout_while(guard, Duration::from_secs(10), ready);
        let (guard, timeout) = waited.unwrap_or_else(PoisonError::into_inner);
        drop(guard);
        assert!(
            !timeout.timed_out(),
            "{turn:?} never came: the script does not match the code"
        );
    }

    fn done(&self, turn: Turn) {
        let (turns, moved) = &*self.state;
        let mut turns = turns.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(turns.pop_front(), Some(turn));
        moved.notify_all();
    }
}

/// One thread's view of a [`Script`].
pub(crate) struct ScriptedSeam {
    client: &'static str,
    script: Script,
}

impl Seam for ScriptedSeam {
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let turn = (self.client, statement);
        if !self.script.names(turn) {
            return execute();
        }
        self.script.wait_for(turn);
        let result = execute();
        self.script.done(turn);
        result
    }
}
