//! The command line of `leasehold-bench`.

use std::path::PathBuf;
use std::time::Duration;

use leasehold_bench::BenchError;
use leasehold_bench::plan::{Plan, postgres_grid};

pub(crate) const USAGE: &str = "\
usage: leasehold-bench [--quick | --full] [--json] [--write-docs] [options]

  --quick          every scenario once, 0.15 s each (the default; about a minute)
  --full           every scenario five times, 0.6 s each (the figures of the docs)
  --json           print the report as JSON instead of tables
  --write-docs     write the plots and the tables of docs/performance.md, and the
                   model-checking figures (runs compare-spin through cargo)
  --no-model       with --write-docs: leave the model-checking figures as they are
  --dir DIR        where the databases go (default: the system temp dir)
  --docs DIR       the docs directory (default: this repository's docs/)
  --rounds N       override the rounds of the mode
  --seconds S      override the seconds per scenario of the mode
  --only TEXT      only scenarios whose label contains TEXT (e.g. sqlite-store/full);
                   `--only postgres` is the whole PostgreSQL comparison (its SQLite
                   scenarios included), `--only pg-` its PostgreSQL contenders alone
  --postgres-url URL
                   run the PostgreSQL scenarios on this server (in fresh schemas it
                   drops afterwards) instead of a throwaway cluster; group commit is
                   then not measured
  --check FILE     check a saved --json report (with the same mode options) is complete
                   and well-formed; measures nothing, checks no speed
";

/// Parsed options.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) full: bool,
    pub(crate) json: bool,
    pub(crate) write_docs: bool,
    pub(crate) model: bool,
    pub(crate) help: bool,
    pub(crate) dir: PathBuf,
    pub(crate) docs: PathBuf,
    pub(crate) check: Option<PathBuf>,
    pub(crate) postgres_url: Option<String>,
    rounds: Option<usize>,
    seconds: Option<f64>,
    only: Option<String>,
    raw: Vec<String>,
}

impl Args {
    pub(crate) fn parse(argv: &[String]) -> Result<Self, BenchError> {
        let mut args = Self {
            full: false,
            json: false,
            write_docs: false,
            model: true,
            help: false,
            dir: std::env::temp_dir(),
            docs: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs")),
            check: None,
            postgres_url: None,
            rounds: None,
            seconds: None,
            only: None,
            raw: argv.to_vec(),
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| BenchError::Protocol(format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--quick" => args.full = false,
                "--full" => args.full = true,
                "--json" => args.json = true,
                "--write-docs" => args.write_docs = true,
                "--no-model" => args.model = false,
                "--help" | "-h" => args.help = true,
                "--dir" => args.dir = PathBuf::from(value()?),
                "--docs" => args.docs = PathBuf::from(value()?),
                "--check" => args.check = Some(PathBuf::from(value()?)),
                "--rounds" => args.rounds = Some(number(value()?)?),
                "--seconds" => args.seconds = Some(number(value()?)?),
                "--only" => args.only = Some(value()?.clone()),
                "--postgres-url" => args.postgres_url = Some(value()?.clone()),
                other => {
                    return Err(BenchError::Protocol(format!(
                        "unknown argument {other:?}\n{USAGE}"
                    )));
                }
            }
        }
        Ok(args)
    }

    /// The mode's plan with the overrides applied.
    pub(crate) fn plan(&self) -> Plan {
        let mut plan = if self.full {
            Plan::full()
        } else {
            Plan::quick()
        };
        if let Some(rounds) = self.rounds {
            plan.rounds = rounds.max(1);
        }
        if let Some(seconds) = self.seconds {
            plan.duration = Duration::from_secs_f64(seconds.max(0.01));
        }
        if let Some(only) = &self.only {
            let comparison = postgres_grid();
            plan.scenarios.retain(|s| {
                s.label().contains(only.as_str()) || (only == "postgres" && comparison.contains(s))
            });
        }
        plan
    }

    /// The command line, as recorded in the report.
    pub(crate) fn command(&self) -> String {
        let mut command = String::from("leasehold-bench");
        let mut previous = "";
        for arg in &self.raw {
            command.push(' ');
            // A URL may carry a password: the report and the docs keep its place only.
            let shown = if previous == "--postgres-url" {
                "URL"
            } else {
                arg
            };
            command.push_str(shown);
            previous = arg;
        }
        command
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, BenchError> {
    text.parse()
        .map_err(|_| BenchError::Protocol(format!("not a number: {text:?}")))
}
