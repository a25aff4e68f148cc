//! `compare-spin`: leasehold-check and SPIN on the same state space, side by side in one run.
//!
//! Runs a SPIN-comparable preset (`baseline` or `large`) with leasehold-check, without and with
//! symmetry reduction, then — where `spin` and `gcc` are installed — SPIN on the repository's own
//! Promela model of the same preset (`model/promela/lease.pml`), and prints unique states, wall time
//! and states/s for each, with the ratios the targets are stated in.
//!
//! ```text
//! cargo run --release -p leasehold-model --bin compare-spin -- --preset large [--threads 2] [--json]
//! ```

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use leasehold_model::{CheckResult, Config, PropertyKind, RunOptions, check, preset};
use serde::Serialize;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Promela model, compiled into the binary so that it runs from any directory.
const PROMELA: &str = include_str!("../../promela/lease.pml");

#[derive(Serialize)]
struct Row {
    tool: &'static str,
    reduction: &'static str,
    verdict: String,
    unique_states: usize,
    wall_seconds: f64,
    states_per_second: f64,
}

impl Row {
    fn from_check(result: &CheckResult, reduction: &'static str) -> Self {
        Self {
            tool: "leasehold-check",
            reduction,
            verdict: result.verdict.name().to_owned(),
            unique_states: result.unique_states,
            wall_seconds: result.wall.as_secs_f64(),
            states_per_second: result.states_per_second(),
        }
    }
}

#[derive(Serialize)]
struct Comparison {
    preset: String,
    threads: usize,
    rows: Vec<Row>,
    spin_status: Option<String>,
    /// leasehold-check without reduction: its unique states minus SPIN's (0 = same space).
    state_difference: Option<i64>,
    /// leasehold-check without reduction: its states/s over SPIN's (target: at least 1).
    rate_ratio: Option<f64>,
    /// leasehold-check with symmetry reduction: its wall time over SPIN's (target: under 0.05).
    symmetric_wall_ratio: Option<f64>,
}

struct Args {
    preset: String,
    threads: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        preset: "large".to_owned(),
        threads: 2,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--preset" => args.preset = it.next().ok_or("--preset needs a name")?,
            "--threads" => {
                let n = it.next().ok_or("--threads needs a number")?;
                args.threads = n.parse().map_err(|_| format!("not a thread count: {n}"))?;
            }
            "--json" => args.json = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: compare-spin [--preset baseline|large] [--threads N] [--json]"
                ));
            }
        }
    }
    Ok(args)
}

/// Whether `config` is one the Promela model can express.
fn spin_comparable(config: &Config) -> bool {
    let f = config.faults;
    config.resources == 1
        && !config.renew
        && !config.writes
        && !f.pause
        && !f.lost_replies
        && f.skew == 0
        && config.properties.iter().eq([PropertyKind::MutualExclusion])
}

/// Runs SPIN on the Promela model of `config`: (verdict, states stored, wall time of `pan`).
fn run_spin(config: &Config) -> Result<(String, usize, Duration), String> {
    let dir = std::env::temp_dir().join(format!("leasehold-spin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = spin_in(&dir, config);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn spin_in(dir: &Path, config: &Config) -> Result<(String, usize, Duration), String> {
    std::fs::write(dir.join("lease.pml"), PROMELA).map_err(|e| e.to_string())?;
    let defines = [
        format!("-DCLIENTS={}", config.clients),
        format!("-DHORIZON={}", config.horizon),
        format!("-DATTEMPTS={}", config.attempts),
        format!("-DTTL={}", config.ttl),
    ];
    run_tool(
        dir,
        "spin",
        &[
            &["-a"],
            &defines.each_ref().map(String::as_str)[..],
            &["lease.pml"],
        ]
        .concat(),
    )?;
    run_tool(
        dir,
        "gcc",
        &["-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"],
    )?;
    let started = Instant::now();
    // The search depth of these presets stays under 100; -m1000000 is what the reference model's
    // own instructions use, so both are timed the same way.
    let output = run_tool(dir, "./pan", &["-m1000000"])?;
    let wall = started.elapsed();
    let stored = output
        .lines()
        .find_map(|l| l.trim().strip_suffix("states, stored"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or("pan printed no state count")?;
    let verdict = if output.contains("errors: 0") {
        "holds"
    } else {
        "violated"
    };
    Ok((verdict.to_owned(), stored, wall))
}

fn run_tool(dir: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn compare(args: &Args) -> Result<Comparison, String> {
    let preset = preset(&args.preset).ok_or_else(|| format!("unknown preset {:?}", args.preset))?;
    let config = preset.config;
    if !spin_comparable(&config) {
        return Err(format!(
            "preset {:?} has actions the Promela model does not",
            args.preset
        ));
    }
    let property = PropertyKind::MutualExclusion;
    let options = RunOptions {
        threads: args.threads,
        ..RunOptions::default()
    };
    let plain = check(&config, property, &options, &mut |_| {}).map_err(|e| e.to_string())?;
    let symmetric = RunOptions {
        symmetry: true,
        ..options
    };
    let reduced = check(&config, property, &symmetric, &mut |_| {}).map_err(|e| e.to_string())?;
    let mut rows = vec![
        Row::from_check(&plain, "none"),
        Row::from_check(&reduced, "symmetry"),
    ];
    let (spin, mut state_difference, mut rate_ratio, mut symmetric_wall_ratio) =
        (None, None, None, None);
    let spin = match run_spin(&config) {
        Ok((verdict, states, wall)) => {
            let secs = wall.as_secs_f64();
            let rate = states as f64 / secs;
            state_difference = Some(
                i64::try_from(plain.unique_states).unwrap_or(i64::MAX)
                    - i64::try_from(states).unwrap_or(i64::MAX),
            );
            rate_ratio = Some(plain.states_per_second() / rate);
            symmetric_wall_ratio = Some(reduced.wall.as_secs_f64() / secs);
            rows.push(Row {
                tool: "spin",
                reduction: "none",
                verdict,
                unique_states: states,
                wall_seconds: secs,
                states_per_second: rate,
            });
            spin.or(Some("ran".to_owned()))
        }
        Err(e) => Some(format!("not run: {e}")),
    };
    Ok(Comparison {
        preset: args.preset.clone(),
        threads: args.threads,
        rows,
        spin_status: spin,
        state_difference,
        rate_ratio,
        symmetric_wall_ratio,
    })
}

fn print_text(c: &Comparison) {
    println!(
        "preset {} ({} checker threads; SPIN is single-threaded)",
        c.preset, c.threads
    );
    println!(
        "{:<16} {:<9} {:<8} {:>13} {:>10} {:>12}",
        "tool", "reduction", "verdict", "unique states", "wall", "states/s"
    );
    for r in &c.rows {
        println!(
            "{:<16} {:<9} {:<8} {:>13} {:>9.2}s {:>12.0}",
            r.tool, r.reduction, r.verdict, r.unique_states, r.wall_seconds, r.states_per_second
        );
    }
    if let Some(spin) = c
        .spin_status
        .as_deref()
        .filter(|s| s.starts_with("not run"))
    {
        println!("SPIN {spin}");
    }
    if let (Some(d), Some(rate), Some(wall)) =
        (c.state_difference, c.rate_ratio, c.symmetric_wall_ratio)
    {
        println!("same state space: leasehold-check − SPIN = {d} states");
        println!("states/s, leasehold-check ÷ SPIN: {rate:.2} (target ≥ 1.00)");
        println!(
            "wall time, leasehold-check with symmetry ÷ SPIN: {:.3} (target < 0.050)",
            wall
        );
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match compare(&args) {
        Ok(c) if args.json => {
            println!("{}", serde_json::to_string_pretty(&c).expect("plain data"));
            ExitCode::SUCCESS
        }
        Ok(c) => {
            print_text(&c);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
