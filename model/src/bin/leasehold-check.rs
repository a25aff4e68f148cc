//! `leasehold-check`: model-checks leasehold's lock protocol and every planted bug, and reports
//! whether each verdict is the expected one. Exit codes: 0 all as expected, 1 a verdict differs,
//! 2 usage error, 3 a run stopped before it could conclude.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use leasehold_model::{
    CheckResult, Config, Expect, Expectation, HolderModel, LeaseModel, PRESETS, Progress,
    PropertyKind, Protocol, RunOptions, check_all, preset, report,
};
use stateright::Model;

/// mimalloc: the checker allocates a path per state; the allocator is a measurable share of its
/// time (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        matches!(self, Self::On)
    }
}

/// Exhaustively model-checks leasehold's lock protocol and its holder's keeper, and each known-bad
/// protocol as a negative control. With no arguments: every protocol and property on the
/// `default` preset.
#[derive(Debug, Parser)]
#[command(name = "leasehold-check", version, after_help = presets_help())]
struct Cli {
    /// Protocol to check (repeatable): atomic, check-then-act, tokenless-release, client-clock,
    /// unfenced-resource (the lock protocols, or "lock" for all five); keeper,
    /// deadline-from-reply, no-drift-margin, failed-renew-as-success, renew-every-ttl (the holder
    /// protocols, or "holder"). Default: the preset's.
    #[arg(long, value_name = "NAME", value_parser = parse_protocols)]
    protocol: Vec<Vec<Protocol>>,
    /// Named configuration to start from (see below).
    #[arg(long, value_name = "NAME", default_value = "default")]
    preset: String,
    /// Number of clients (1-6).
    #[arg(long)]
    clients: Option<u8>,
    /// Number of resources (1-3).
    #[arg(long)]
    resources: Option<u8>,
    /// Lease length, in ticks.
    #[arg(long)]
    ttl: Option<u8>,
    /// Last tick the clock reaches (at least ttl).
    #[arg(long)]
    horizon: Option<u8>,
    /// Acquire attempts per client (1-15).
    #[arg(long)]
    attempts: Option<u8>,
    /// Holders renew their lease.
    #[arg(long, value_enum)]
    renew: Option<Switch>,
    /// Holders write to the protected resource.
    #[arg(long, value_enum)]
    writes: Option<Switch>,
    /// Fault: holders may crash.
    #[arg(long, value_enum)]
    crash: Option<Switch>,
    /// Fault: holders may pause between checking their lease and writing.
    #[arg(long, value_enum)]
    pause: Option<Switch>,
    /// Fault: acquire replies may be lost (the client retries with the same request id).
    #[arg(long, value_enum)]
    lost_replies: Option<Switch>,
    /// Fault: how many ticks a client's clock may run ahead (client-clock protocol).
    #[arg(long)]
    skew: Option<u8>,
    /// Fault (holder protocols): how many ticks a reply may take.
    #[arg(long)]
    delay: Option<u8>,
    /// Fault (holder protocols): how many steps of 4 per tick a holder's clock may drift.
    #[arg(long)]
    drift: Option<u8>,
    /// Fault (holder protocols): renewals may fail (dropped, or their reply lost).
    #[arg(long, value_enum)]
    renew_failures: Option<Switch>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop each run after this many seconds; an unfinished run is reported incomplete (exit 3).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Stop each run after generating this many states (reported incomplete).
    #[arg(long, value_name = "N")]
    max_states: Option<usize>,
    /// Explore no deeper than this (a run that reaches it is reported incomplete).
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Symmetry reduction over clients.
    #[arg(long)]
    symmetry: bool,
    /// Keep every field of stored rows (no abstraction; slower): for checking the abstraction.
    #[arg(long)]
    exact_rows: bool,
    /// Expect this safety property to be violated by every selected protocol ("none": expect
    /// every property to hold), instead of each planted bug's own. Exit 1 if it is not so.
    #[arg(long, value_name = "PROPERTY", value_parser = parse_expect)]
    expect_violated: Option<Expect>,
    /// Print the report as JSON (schema in docs/verification.md); no progress.
    #[arg(long)]
    json: bool,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Serve stateright's web Explorer for the first protocol instead of checking.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:3000")]
    explore: Option<String>,
}

fn parse_protocols(name: &str) -> Result<Vec<Protocol>, String> {
    match name {
        "lock" => return Ok(Protocol::LOCK.to_vec()),
        "holder" => return Ok(Protocol::HOLDER.to_vec()),
        _ => {}
    }
    let protocol = Protocol::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
        format!(
            "unknown protocol {name:?}; known: {}, or lock, holder",
            known.join(", ")
        )
    })?;
    Ok(vec![protocol])
}

fn parse_expect(name: &str) -> Result<Expect, String> {
    if name == "none" {
        return Ok(Expect::NoViolation);
    }
    match PropertyKind::from_name(name) {
        Some(p) if p.expectation() == Expectation::Always => Ok(Expect::Violation(p)),
        _ => Err(format!(
            "not a safety property: {name:?}; one of \"mutual exclusion\", \"tokens increase\", \"writes in token order\", none"
        )),
    }
}

fn presets_help() -> String {
    let mut help = String::from("Presets:\n");
    for p in &PRESETS {
        help.push_str(&format!("  {:<9} {}\n", p.name, p.summary));
    }
    help
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    eprintln!("Run `leasehold-check --help` for usage.");
    ExitCode::from(2)
}

impl Cli {
    /// The configuration of each protocol to check, or a usage message.
    fn plan(&self) -> Result<Vec<Config>, String> {
        let known: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        let preset = preset(&self.preset).ok_or_else(|| {
            format!(
                "unknown preset {:?}; known: {}",
                self.preset,
                known.join(", ")
            )
        })?;
        let selected: Vec<Protocol> = self.protocol.iter().flatten().copied().collect();
        let protocols = if selected.is_empty() {
            preset.protocols
        } else {
            &selected
        };
        protocols
            .iter()
            .map(|&protocol| {
                let config = self.overridden(preset.config_for(protocol));
                config.validate().map_err(|e| e.to_string())?;
                Ok(config)
            })
            .collect()
    }

    /// `config` with the command line's values in place of the preset's.
    fn overridden(&self, mut config: Config) -> Config {
        let set = |field: &mut u8, value: Option<u8>| *field = value.unwrap_or(*field);
        set(&mut config.clients, self.clients);
        set(&mut config.resources, self.resources);
        set(&mut config.ttl, self.ttl);
        set(&mut config.horizon, self.horizon);
        set(&mut config.attempts, self.attempts);
        set(&mut config.faults.skew, self.skew);
        set(&mut config.faults.delay, self.delay);
        set(&mut config.faults.drift, self.drift);
        let switch =
            |field: &mut bool, value: Option<Switch>| *field = value.map_or(*field, Switch::on);
        switch(&mut config.renew, self.renew);
        switch(&mut config.writes, self.writes);
        switch(&mut config.faults.crash, self.crash);
        switch(&mut config.faults.pause, self.pause);
        switch(&mut config.faults.lost_replies, self.lost_replies);
        switch(&mut config.faults.renew_failures, self.renew_failures);
        config
    }

    fn options(&self) -> Result<RunOptions, String> {
        if self.threads == 0 {
            return Err("threads must be at least 1".to_owned());
        }
        let timeout = match self.timeout {
            Some(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
            Some(secs) => {
                return Err(format!(
                    "timeout must be a positive number of seconds, not {secs}"
                ));
            }
            None => None,
        };
        Ok(RunOptions {
            threads: self.threads,
            timeout,
            max_states: self.max_states,
            max_depth: self.max_depth,
            symmetry: self.symmetry,
            exact_rows: self.exact_rows,
            expect: self.expect_violated.unwrap_or_default(),
        })
    }
}

/// Prints progress to stderr at most every two seconds.
struct ProgressPrinter {
    last: Instant,
    enabled: bool,
}

impl ProgressPrinter {
    fn report(&mut self, p: Progress<'_>) {
        if !self.enabled || self.last.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last = Instant::now();
        let rate = p.unique_states as f64 / p.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "[{} / {}] {} states, {:.0} states/s, depth {}, {:.1} s",
            p.config.protocol,
            p.property,
            p.unique_states,
            rate,
            p.max_depth,
            p.elapsed.as_secs_f64()
        );
    }
}

fn run(cli: &Cli, configs: &[Config]) -> Result<Vec<CheckResult>, String> {
    let options = cli.options()?;
    let mut printer = ProgressPrinter {
        last: Instant::now(),
        enabled: !(cli.json || cli.quiet),
    };
    let mut results = Vec::new();
    for config in configs {
        let mut progress = |p: Progress<'_>| printer.report(p);
        results.extend(check_all(config, &options, &mut progress).map_err(|e| e.to_string())?);
    }
    Ok(results)
}

fn explore(config: Config, address: &str) -> ExitCode {
    // tiny_http panics on a bind failure; find out first, and say so plainly.
    if let Err(e) = std::net::TcpListener::bind(address) {
        return usage_error(&format!("cannot listen on {address}: {e}"));
    }
    let served = if config.protocol.is_holder() {
        HolderModel::new(config).map(|model| serve(model, config.protocol, address))
    } else {
        LeaseModel::new(config).map(|model| serve(model, config.protocol, address))
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&e.to_string()),
    }
}

fn serve<M>(model: M, protocol: Protocol, address: &str)
where
    M: Model + Send + Sync + 'static,
    M::Action: std::fmt::Debug + Send + Sync + Clone + PartialEq,
    M::State: std::fmt::Debug + std::hash::Hash + Send + Sync + Clone + PartialEq,
{
    eprintln!("Explorer for {protocol} on http://{address}/ (Ctrl-C to stop)");
    let _checker = model.checker().serve(address);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let configs = match cli.plan() {
        Ok(plan) => plan,
        Err(message) => return usage_error(&message),
    };
    if let Some(address) = &cli.explore {
        return explore(configs[0], address);
    }
    let results = match run(&cli, &configs) {
        Ok(results) => results,
        Err(message) => return usage_error(&message),
    };
    let mut out = std::io::stdout().lock();
    let printed = if cli.json {
        writeln!(out, "{}", report::json(&results))
    } else {
        write!(
            out,
            "{}{}\n{}\n",
            report::table(&results),
            report::counterexamples(&results),
            report::summary_line(&results)
        )
    };
    if printed.is_err() {
        return ExitCode::from(1);
    }
    ExitCode::from(report::Summary::of(&results).exit_code())
}
