//! Rewrites the generated parts of `docs/performance.md`: everything between
//! `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so that the prose around the tables stays
//! as written and every figure comes from the run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use leasehold_bench::plan::postgres_grid;
use leasehold_bench::report::Report;
use leasehold_bench::scenario::Runner;
use leasehold_bench::{BenchError, pg_tables, tables};
use serde_json::Value;

/// The command the model-checking figures come from, run from the workspace root.
const COMPARE_SPIN: [&str; 12] = [
    "run",
    "--release",
    "--locked",
    "-q",
    "-p",
    "leasehold-model",
    "--bin",
    "compare-spin",
    "--",
    "--preset",
    "large",
    "--json",
];

/// Replaces every generated section of the document at `path` with this run's; with `model`,
/// also runs `compare-spin` and replaces the model-checking section.
///
/// # Errors
///
/// File errors, a missing marker, and a `compare-spin` that fails.
pub(crate) fn update(report: &Report, path: &Path, model: bool) -> Result<(), BenchError> {
    let mut text = std::fs::read_to_string(path)?;
    let mut sections = Vec::new();
    if has_sqlite(report) {
        sections.extend([
            ("machine", tables::machine(report)),
            ("targets", tables::targets(report)),
            ("single", tables::single(report)),
            ("processes", tables::throughput(report, Runner::Processes)),
            ("threads", tables::throughput(report, Runner::Threads)),
            ("contention", tables::contention(report)),
            ("wait", tables::wait(report)),
            ("holding", tables::holding(report)),
            ("mixed", tables::mixed(report)),
            ("detail", tables::detail(report)),
        ]);
    }
    if has_postgres(report) {
        sections.extend([
            ("postgres-server", pg_tables::server(report)),
            ("postgres-targets", pg_tables::targets(report)),
            ("postgres-throughput", pg_tables::throughput(report)),
            ("postgres-ratios", pg_tables::ratios(report)),
            ("postgres-latency", pg_tables::latency(report)),
            ("postgres-group-commit", pg_tables::group_commit(report)),
            ("postgres-detail", pg_detail(report)),
        ]);
    }
    if model && has_sqlite(report) {
        eprintln!("leasehold-bench: running compare-spin for the model-checking figures");
        sections.push(("model", model_table(&compare_spin()?)));
    }
    for (name, body) in sections {
        text = replace_section(&text, name, &body)?;
    }
    std::fs::write(path, text)?;
    eprintln!("leasehold-bench: wrote {}", path.display());
    Ok(())
}

/// Whether the run has SQLite scenarios beyond the PostgreSQL comparison's: then the SQLite
/// sections, plots and the model-checking figures are rewritten, else left as they are (so that
/// `--only postgres --write-docs` touches the PostgreSQL section alone).
pub(crate) fn has_sqlite(report: &Report) -> bool {
    let comparison = postgres_grid();
    report
        .scenarios
        .iter()
        .any(|s| !comparison.contains(&s.scenario))
}

/// Whether the run measured the PostgreSQL contenders.
pub(crate) fn has_postgres(report: &Report) -> bool {
    report.postgres.is_some()
        && report
            .scenarios
            .iter()
            .any(|s| s.scenario.contender.is_postgres())
}

/// Every scenario of the PostgreSQL comparison with every figure.
fn pg_detail(report: &Report) -> String {
    let comparison = postgres_grid();
    let mut only = report.clone();
    only.scenarios.retain(|s| comparison.contains(&s.scenario));
    tables::detail(&only)
}

/// `text` with the body between `name`'s markers replaced by `body`.
fn replace_section(text: &str, name: &str, body: &str) -> Result<String, BenchError> {
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let missing =
        || BenchError::Protocol(format!("performance.md lacks the {open} … {close} pair"));
    let start = text.find(&open).ok_or_else(missing)? + open.len();
    let end = start + text[start..].find(&close).ok_or_else(missing)?;
    Ok(format!(
        "{}\n{}\n{}",
        &text[..start],
        body.trim_end(),
        &text[end..]
    ))
}

/// Runs `compare-spin --preset large --json` through cargo and parses its report.
fn compare_spin() -> Result<Value, BenchError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new(cargo)
        .args(COMPARE_SPIN)
        .current_dir(root)
        .output()?;
    if !output.status.success() {
        return Err(BenchError::Protocol(format!(
            "compare-spin failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The model-checking table: each tool's row, then the ratios the model's targets are stated in.
fn model_table(c: &Value) -> String {
    let mut out = format!(
        "`cargo run --release -p leasehold-model --bin compare-spin -- --preset large` \
({} checker threads; SPIN: {})\n\n\
| tool | reduction | verdict | unique states | wall s | states/s |\n|---|---|---|---:|---:|---:|\n",
        c["threads"],
        c["spin_status"].as_str().unwrap_or("unknown")
    );
    for row in c["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.0} |",
            text(&row["tool"]),
            text(&row["reduction"]),
            text(&row["verdict"]),
            row["unique_states"],
            row["wall_seconds"].as_f64().unwrap_or(f64::NAN),
            row["states_per_second"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let ratio = |key: &str| c[key].as_f64();
    if let (Some(rate), Some(wall)) = (ratio("rate_ratio"), ratio("symmetric_wall_ratio")) {
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let _ = write!(
            out,
            "\nSame state space: leasehold-check − SPIN = {} states. \
States/s, leasehold-check ÷ SPIN: **{rate:.2}** (target ≥ 1.00: {}). \
Wall time, leasehold-check with symmetry ÷ SPIN: **{wall:.3}** (target < 0.050: {}).\n",
            c["state_difference"],
            verdict(rate >= 1.0),
            verdict(wall < 0.05)
        );
    }
    out
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_and_the_prose_around_it_kept() {
        let doc = "intro\n<!-- bench:t -->\nold\n<!-- /bench:t -->\noutro\n";
        let new = replace_section(doc, "t", "| new |\n").expect("markers present");
        assert_eq!(
            new,
            "intro\n<!-- bench:t -->\n| new |\n<!-- /bench:t -->\noutro\n"
        );
        assert!(replace_section(doc, "missing", "x").is_err());
    }
}
