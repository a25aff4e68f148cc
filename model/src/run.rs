//! Running checkers: one per (protocol, property), with verdicts, timings and counterexamples.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stateright::{Checker, CheckerBuilder, Model};

use crate::config::{Config, ConfigError, Expectation, PropertyKind, PropertySet};
use crate::holder::HolderModel;
use crate::holder::state::HolderState;
use crate::model::LeaseModel;
use crate::state::State;
use crate::trace::{Step, render};

/// What `check` needs of a model: how to build it, render its paths and reduce its symmetry.
pub(crate) trait Checked:
    Model<
        State: Clone + core::hash::Hash + PartialEq + core::fmt::Debug + Send + Sync + 'static,
        Action: Clone + PartialEq + core::fmt::Debug,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The model of `config`, with the options' row abstraction.
    fn build(config: Config, options: &RunOptions) -> Result<Self, ConfigError>;
    /// A path as numbered, readable steps.
    fn render_path(&self, path: &[(Self::State, Option<Self::Action>)]) -> Vec<Step>;
    /// The representative of a state's class under renumbering of clients.
    fn representative(state: &Self::State) -> Self::State;
}

impl Checked for LeaseModel {
    fn build(config: Config, options: &RunOptions) -> Result<Self, ConfigError> {
        let model = Self::new(config)?;
        Ok(if options.exact_rows {
            model.without_abstraction()
        } else {
            model
        })
    }

    fn render_path(&self, path: &[(State, Option<crate::Action>)]) -> Vec<Step> {
        render(self, path)
    }

    fn representative(state: &State) -> State {
        state.representative()
    }
}

impl Checked for HolderModel {
    fn build(config: Config, options: &RunOptions) -> Result<Self, ConfigError> {
        let model = Self::new(config)?;
        Ok(if options.exact_rows {
            model.without_abstraction()
        } else {
            model
        })
    }

    fn render_path(&self, path: &[(HolderState, Option<crate::HolderAction>)]) -> Vec<Step> {
        crate::holder::trace::render(path)
    }

    fn representative(state: &HolderState) -> HolderState {
        state.representative()
    }
}

/// How to run the checkers.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Checker threads for exhaustive runs.
    pub threads: usize,
    /// Stop a run after this long and report it incomplete.
    pub timeout: Option<Duration>,
    /// Stop a run after generating this many states and report it incomplete.
    pub max_states: Option<usize>,
    /// Do not explore past this depth; a run that reaches it is reported incomplete.
    pub max_depth: Option<usize>,
    /// Symmetry reduction over clients (depth-first; counterexamples are still extracted by a
    /// breadth-first run without it).
    pub symmetry: bool,
    /// Keep every field of stored rows instead of the abstraction (see [`crate::state`]):
    /// slower, for checking that the abstraction changes no verdict.
    pub exact_rows: bool,
    /// Which safety property each protocol is expected to violate.
    pub expect: Expect,
}

/// Which safety property a run is expected to violate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expect {
    /// The planted bug's property, if the configuration exercises it
    /// ([`Config::expected_violation`]); none for the shipped protocol.
    #[default]
    Computed,
    /// This property, whatever the protocol.
    Violation(PropertyKind),
    /// None: every safety property holds.
    NoViolation,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            threads: 2,
            timeout: None,
            max_states: None,
            max_depth: None,
            symmetry: false,
            exact_rows: false,
            expect: Expect::Computed,
        }
    }
}

/// What a check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// A safety property held in every reachable state.
    Holds,
    /// A safety property failed in some reachable state.
    Violated,
    /// A sanity property was reached.
    Found,
    /// A sanity property was never reached though every state was explored.
    NotFound,
    /// The run stopped (timeout, state or depth limit) before it could conclude.
    Incomplete,
}

impl Verdict {
    /// The verdict as the report prints it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::Violated => "violated",
            Self::Found => "found",
            Self::NotFound => "not found",
            Self::Incomplete => "incomplete",
        }
    }
}

/// Progress of a running check, reported at least every two seconds.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The configuration being checked.
    pub config: &'a Config,
    /// The property being checked.
    pub property: PropertyKind,
    /// Unique states so far.
    pub unique_states: usize,
    /// Deepest state so far.
    pub max_depth: usize,
    /// Time since the check started.
    pub elapsed: Duration,
}

/// The result of checking one property of one configuration.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The configuration checked.
    pub config: Config,
    /// The property checked.
    pub property: PropertyKind,
    /// What the run was expected to conclude.
    pub expected: Verdict,
    /// What it concluded.
    pub verdict: Verdict,
    /// Unique states explored (representatives, under symmetry reduction).
    pub unique_states: usize,
    /// States generated, repeats included.
    pub generated_states: usize,
    /// The deepest state explored.
    pub max_depth: usize,
    /// Wall time of the exhaustive run.
    pub wall: Duration,
    /// Threads of the exhaustive run.
    pub threads: usize,
    /// Whether symmetry reduction was on.
    pub symmetry: bool,
    /// For a violation: the shortest path to it, step by step (`None` if the breadth-first run
    /// that extracts it hit the timeout).
    pub counterexample: Option<Vec<Step>>,
}

impl CheckResult {
    /// Whether the verdict is the expected one.
    #[must_use]
    pub fn matches(&self) -> bool {
        self.verdict == self.expected
    }

    /// Unique states per second of wall time.
    #[must_use]
    pub fn states_per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.unique_states as f64 / secs
        } else {
            0.0
        }
    }
}

/// The verdict `config` is expected to reach on `property`.
#[must_use]
pub fn expected_verdict(config: &Config, property: PropertyKind, expect: Expect) -> Verdict {
    let violation = match expect {
        Expect::Computed => config.expected_violation(),
        Expect::Violation(property) => Some(property),
        Expect::NoViolation => None,
    };
    match property.expectation() {
        Expectation::Always if violation == Some(property) => Verdict::Violated,
        Expectation::Always => Verdict::Holds,
        Expectation::Sometimes => Verdict::Found,
    }
}

/// Checks `property` of `config`, exhaustively within the options' limits, in a checker of its own:
/// [`LeaseModel`] for a lock protocol, [`HolderModel`] for a holder protocol.
///
/// `progress` is called about every 250 ms while the run lasts.
///
/// # Errors
///
/// The configuration's [`ConfigError`](crate::ConfigError).
pub fn check(
    config: &Config,
    property: PropertyKind,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<CheckResult, ConfigError> {
    if config.protocol.is_holder() {
        check_model::<HolderModel>(config, property, options, progress)
    } else {
        check_model::<LeaseModel>(config, property, options, progress)
    }
}

fn check_model<M: Checked>(
    config: &Config,
    property: PropertyKind,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<CheckResult, ConfigError> {
    let single = Config {
        properties: PropertySet::only(property),
        ..*config
    };
    let model = M::build(single, options)?;
    let started = Instant::now();
    let mut checker = builder(model.clone(), options).spawn_dfs();
    let finished = join_in_background(checker.handles());
    loop {
        match finished.recv_timeout(Duration::from_millis(250)) {
            Err(RecvTimeoutError::Timeout) => progress(Progress {
                config,
                property,
                unique_states: checker.unique_state_count(),
                max_depth: checker.max_depth(),
                elapsed: started.elapsed(),
            }),
            Ok(Ok(())) => break,
            Ok(Err(())) | Err(RecvTimeoutError::Disconnected) => {
                panic!("a checker thread panicked: the model has a bug")
            }
        }
    }
    let wall = started.elapsed();
    let discovered = checker.discovery(property.name()).is_some();
    let verdict = verdict(property, discovered, stopped_early(&checker, options, wall));
    let counterexample = if verdict == Verdict::Violated {
        shortest_path(&model, property, options.timeout)
    } else {
        None
    };
    Ok(CheckResult {
        config: single,
        property,
        expected: expected_verdict(config, property, options.expect),
        verdict,
        unique_states: checker.unique_state_count(),
        generated_states: checker.state_count(),
        max_depth: checker.max_depth(),
        wall,
        threads: options.threads,
        symmetry: options.symmetry,
        counterexample,
    })
}

/// Joins the checker's threads on a thread of its own, and says when they are done, so that the
/// caller can report progress meanwhile and still time the run to the millisecond.
fn join_in_background(handles: Vec<JoinHandle<()>>) -> Receiver<Result<(), ()>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let joined = handles
            .into_iter()
            .map(JoinHandle::join)
            .collect::<Result<Vec<()>, _>>();
        let _ = sender.send(joined.map(drop).map_err(drop));
    });
    receiver
}

fn builder<M: Checked>(model: M, options: &RunOptions) -> CheckerBuilder<M> {
    let mut builder = model.checker().threads(options.threads.max(1));
    if options.symmetry {
        builder = builder.symmetry_fn(M::representative);
    }
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(states) = options.max_states {
        builder = builder.target_state_count(states);
    }
    if let Some(depth) = options.max_depth {
        builder = builder.target_max_depth(depth);
    }
    builder
}

/// Whether the run may have stopped before exploring everything. Conservative: a run that ends
/// exactly at a limit counts as stopped by it.
fn stopped_early<M: Checked>(
    checker: &impl Checker<M>,
    options: &RunOptions,
    wall: Duration,
) -> bool {
    let timed_out = options.timeout.is_some_and(|t| wall >= t);
    let state_limit = options
        .max_states
        .is_some_and(|n| checker.state_count() >= n);
    let depth_limit = options.max_depth.is_some_and(|d| checker.max_depth() >= d);
    timed_out || state_limit || depth_limit
}

fn verdict(property: PropertyKind, discovered: bool, stopped_early: bool) -> Verdict {
    match (property.expectation(), discovered, stopped_early) {
        (Expectation::Always, true, _) => Verdict::Violated,
        (Expectation::Sometimes, true, _) => Verdict::Found,
        (_, false, true) => Verdict::Incomplete,
        (Expectation::Always, false, false) => Verdict::Holds,
        (Expectation::Sometimes, false, false) => Verdict::NotFound,
    }
}

/// The shortest path to a violation of `property`: a single-threaded breadth-first run, which
/// stateright guarantees finds a shortest path when it checks one property (with several
/// properties or threads it may keep a longer one). `model` must check `property` alone.
#[must_use]
pub fn shortest_counterexample(
    model: &LeaseModel,
    property: PropertyKind,
    timeout: Option<Duration>,
) -> Option<Vec<Step>> {
    shortest_path(model, property, timeout)
}

fn shortest_path<M: Checked>(
    model: &M,
    property: PropertyKind,
    timeout: Option<Duration>,
) -> Option<Vec<Step>> {
    let mut builder = model.clone().checker().threads(1);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    let path = builder.spawn_bfs().join().discovery(property.name())?;
    Some(model.render_path(&path.into_vec()))
}

/// Checks every applicable property of `config`, one checker each.
///
/// # Errors
///
/// The configuration's [`ConfigError`](crate::ConfigError).
pub fn check_all(
    config: &Config,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<CheckResult>, ConfigError> {
    config.validate()?;
    config
        .checked_properties()
        .map(|property| check(config, property, options, progress))
        .collect()
}
