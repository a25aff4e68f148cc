//! The command line, as clap parses it. A usage error is one line on stderr and exit code 2.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{duration, exit};

/// Leases for shell scripts, cron jobs and programs in any language: `flock(1)` with leases,
/// fencing tokens and visibility.
#[derive(Debug, Parser)]
#[command(name = "leasehold", version, after_help = exit::HELP)]
pub(crate) struct Cli {
    /// The store: a path to an SQLite file, an sqlite:// URL, or a postgres:// URL.
    #[arg(
        long,
        global = true,
        env = "LEASEHOLD_DB",
        default_value = "./leasehold.db"
    )]
    pub(crate) db: String,
    /// Machine-readable output: JSON on stdout (run: one JSON event per line on stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a command under a lease: acquire, keep it while the command runs, release when it
    /// exits; stop the command (SIGTERM, then SIGKILL after --grace) before the lease can expire.
    #[command(after_help = exit::HELP)]
    Run(RunArgs),
    /// Acquire a lease and print its fencing token (for scripts that renew and release it).
    Acquire(AcquireArgs),
    /// Renew a lease by its token.
    Renew(RenewArgs),
    /// Release a lease by its token.
    Release(ReleaseArgs),
    /// Who holds a resource, and until when (exit 1 if nobody).
    Status(ResourceArg),
    /// Every lease held now.
    List,
    /// End whoever's lease on a resource (administrative; exit 1 if none was held).
    Evict(ResourceArg),
    /// Delete the records of leases over for longer than --idle (the token history is kept).
    Prune(PruneArgs),
    /// The process between `run` and its command (internal).
    #[command(name = "__watchdog", hide = true)]
    Watchdog(WatchdogArgs),
}

/// What `run` and `acquire` share.
#[derive(Debug, Args)]
pub(crate) struct LeaseArgs {
    /// The resource to lock.
    pub(crate) resource: String,
    /// How long the lease lasts unless renewed (ms, s, m, h, d; e.g. 30s, 1m30s).
    #[arg(long, default_value = "30s", value_parser = duration::parse_positive)]
    pub(crate) ttl: Duration,
    /// How long to wait for a busy lease, or `forever`.
    #[arg(long, default_value = "10s", value_parser = duration::parse_wait)]
    pub(crate) wait: Duration,
    /// Who holds the lease, as others see it [default: user@host:pid].
    #[arg(long)]
    pub(crate) owner: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) lease: LeaseArgs,
    /// Time between SIGTERM and SIGKILL when the lease is being lost [default: 5s, or a fifth of
    /// the ttl if that is shorter].
    #[arg(long, value_parser = duration::parse)]
    pub(crate) grace: Option<Duration>,
    /// The command and its arguments (after `--` if any of them starts with `-`).
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct AcquireArgs {
    #[command(flatten)]
    pub(crate) lease: LeaseArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// The resource.
    pub(crate) resource: String,
    /// The lease's fencing token, as `acquire` printed it.
    #[arg(long)]
    pub(crate) token: u64,
    /// How long the lease lasts from now.
    #[arg(long, default_value = "30s", value_parser = duration::parse_positive)]
    pub(crate) ttl: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ReleaseArgs {
    /// The resource.
    pub(crate) resource: String,
    /// The lease's fencing token, as `acquire` printed it.
    #[arg(long)]
    pub(crate) token: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ResourceArg {
    /// The resource.
    pub(crate) resource: String,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Delete records of leases over for at least this long.
    #[arg(long, default_value = "1h", value_parser = duration::parse)]
    pub(crate) idle: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct WatchdogArgs {
    /// The pid of the `run` process this watchdog belongs to.
    #[arg(long)]
    pub(crate) supervisor: u32,
    /// The inherited file descriptor of the pipe the supervisor sends deadlines on.
    #[arg(long)]
    pub(crate) deadlines: u32,
    /// The time between SIGTERM and SIGKILL.
    #[arg(long)]
    pub(crate) grace_ms: u64,
    /// The first deadline (the acquire's), in nanoseconds on `CLOCK_MONOTONIC`: known before
    /// the command starts, so that it is enforced even if the supervisor never sends a line.
    #[arg(long)]
    pub(crate) deadline_ns: u64,
    /// The command.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) command: Vec<OsString>,
}

/// The parsed command line, or the exit code after clap printed help or the version, or after a
/// usage error was printed as one line.
pub(crate) fn parse() -> Result<Cli, u8> {
    Cli::try_parse().map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                exit::OK
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                exit::USAGE
            }
            _ => {
                eprintln!("leasehold: {} (see leasehold --help)", first_line(&e));
                exit::USAGE
            }
        }
    })
}

/// Clap's message without its usage block and tip: its first line, less the `error: ` prefix,
/// with the lines it introduces (`…were not provided:` and the arguments) joined to it.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad arguments");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if line.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
        line = format!("{line} {}", listed.join(", "));
    }
    line
}
