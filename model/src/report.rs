//! The report: a table of verdicts, the counterexamples, and the same as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Config, Expectation};
use crate::run::{CheckResult, Verdict};
use crate::trace::Step;

/// The version of the JSON report's schema (see `docs/verification.md`).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// How a whole run ended, and the exit code that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    /// Every verdict is the expected one.
    AllAsExpected,
    /// Some verdict differs from its expectation.
    Mismatch,
    /// No verdict differs, but some run stopped before it could conclude.
    Incomplete,
}

impl Summary {
    /// The summary of `results`.
    #[must_use]
    pub fn of(results: &[CheckResult]) -> Self {
        let conclusive_mismatch = results
            .iter()
            .any(|r| r.verdict != Verdict::Incomplete && !r.matches());
        if conclusive_mismatch {
            Self::Mismatch
        } else if results.iter().any(|r| r.verdict == Verdict::Incomplete) {
            Self::Incomplete
        } else {
            Self::AllAsExpected
        }
    }

    /// The process exit code: 0, 1 or 3 (2 is for usage errors).
    #[must_use]
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::AllAsExpected => 0,
            Self::Mismatch => 1,
            Self::Incomplete => 3,
        }
    }
}

/// The one-line summary that ends the text report.
#[must_use]
pub fn summary_line(results: &[CheckResult]) -> String {
    let total = results.len();
    match Summary::of(results) {
        Summary::AllAsExpected => format!("OK: all {total} verdicts as expected"),
        summary => {
            let off: Vec<String> = results
                .iter()
                .filter(|r| !r.matches())
                .map(|r| {
                    let (protocol, property) = (r.config.protocol, r.property);
                    format!(
                        "{protocol} / {property}: expected {}, got {}",
                        r.expected.name(),
                        r.verdict.name()
                    )
                })
                .collect();
            let label = if summary == Summary::Mismatch {
                "FAILED"
            } else {
                "INCOMPLETE"
            };
            format!(
                "{label}: {} of {total} verdicts not as expected: {}",
                off.len(),
                off.join("; ")
            )
        }
    }
}

fn thousands(n: impl std::fmt::Display) -> String {
    let digits = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The verdict table.
#[must_use]
pub fn table(results: &[CheckResult]) -> String {
    let mut out = String::new();
    let header = [
        "protocol",
        "property",
        "expected",
        "result",
        "unique states",
        "wall time",
        "states/s",
    ];
    let rows: Vec<[String; 7]> = results
        .iter()
        .map(|r| {
            let mark = if r.matches() { "" } else { "  ✗" };
            [
                r.config.protocol.name().to_owned(),
                r.property.name().to_owned(),
                r.expected.name().to_owned(),
                format!("{}{mark}", r.verdict.name()),
                thousands(r.unique_states),
                format!("{:.2} s", r.wall.as_secs_f64()),
                thousands(r.states_per_second()),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i >= 4 {
                let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        line.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    out
}

/// Every counterexample, as a numbered interleaving.
#[must_use]
pub fn counterexamples(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for result in results.iter().filter(|r| r.verdict == Verdict::Violated) {
        let config = &result.config;
        let _ = writeln!(
            out,
            "\n{} violates \"{}\" ({} clients, ttl {}, horizon {}):",
            config.protocol, result.property, config.clients, config.ttl, config.horizon
        );
        match &result.counterexample {
            Some(steps) => write_steps(&mut out, steps),
            None => out
                .push_str("  (the breadth-first run that extracts the shortest path timed out)\n"),
        }
    }
    out
}

fn write_steps(out: &mut String, steps: &[Step]) {
    let width = steps
        .iter()
        .map(|s| s.action.chars().count())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "  step  actor  clock  {:width$}  store after the step",
        "action"
    );
    for step in steps {
        let pad = width - step.action.chars().count();
        let _ = writeln!(
            out,
            "  {:>4}  {:<5}  {:>5}  {}{}  {}",
            step.index,
            step.actor,
            step.clock,
            step.action,
            " ".repeat(pad),
            step.store
        );
    }
}

#[derive(Serialize)]
struct JsonConfig {
    clients: u8,
    resources: u8,
    ttl: u8,
    horizon: u8,
    attempts: u8,
    renew: bool,
    writes: bool,
    crash: bool,
    pause: bool,
    lost_replies: bool,
    skew: u8,
    delay: u8,
    drift: u8,
    renew_failures: bool,
}

impl From<&Config> for JsonConfig {
    fn from(c: &Config) -> Self {
        Self {
            clients: c.clients,
            resources: c.resources,
            ttl: c.ttl,
            horizon: c.horizon,
            attempts: c.attempts,
            renew: c.renew,
            writes: c.writes,
            crash: c.faults.crash,
            pause: c.faults.pause,
            lost_replies: c.faults.lost_replies,
            skew: c.faults.skew,
            delay: c.faults.delay,
            drift: c.faults.drift,
            renew_failures: c.faults.renew_failures,
        }
    }
}

#[derive(Serialize)]
struct JsonResult<'a> {
    protocol: &'static str,
    property: &'static str,
    kind: &'static str,
    expected: &'static str,
    result: &'static str,
    matches: bool,
    unique_states: usize,
    generated_states: usize,
    max_depth: usize,
    wall_seconds: f64,
    states_per_second: f64,
    threads: usize,
    symmetry: bool,
    config: JsonConfig,
    counterexample: Option<&'a [Step]>,
}

#[derive(Serialize)]
struct JsonSummary {
    all_as_expected: bool,
    incomplete: usize,
    mismatches: Vec<String>,
    exit_code: u8,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    results: Vec<JsonResult<'a>>,
    summary: JsonSummary,
}

/// The report as JSON (schema in `docs/verification.md`).
#[must_use]
pub fn json(results: &[CheckResult]) -> String {
    let summary = Summary::of(results);
    let report = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        results: results.iter().map(json_result).collect(),
        summary: JsonSummary {
            all_as_expected: summary == Summary::AllAsExpected,
            incomplete: results
                .iter()
                .filter(|r| r.verdict == Verdict::Incomplete)
                .count(),
            mismatches: results
                .iter()
                .filter(|r| !r.matches())
                .map(|r| format!("{} / {}", r.config.protocol, r.property))
                .collect(),
            exit_code: summary.exit_code(),
        },
    };
    serde_json::to_string_pretty(&report).expect("the report holds only plain data")
}

fn json_result(r: &CheckResult) -> JsonResult<'_> {
    JsonResult {
        protocol: r.config.protocol.name(),
        property: r.property.name(),
        kind: match r.property.expectation() {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
        },
        expected: r.expected.name(),
        result: r.verdict.name(),
        matches: r.matches(),
        unique_states: r.unique_states,
        generated_states: r.generated_states,
        max_depth: r.max_depth,
        wall_seconds: r.wall.as_secs_f64(),
        states_per_second: r.states_per_second(),
        threads: r.threads,
        symmetry: r.symmetry,
        config: JsonConfig::from(&r.config),
        counterexample: r.counterexample.as_deref(),
    }
}
