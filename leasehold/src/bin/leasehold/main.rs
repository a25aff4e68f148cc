//! `leasehold`: run a command under a lease, like `flock(1)` with leases, fencing tokens and
//! visibility; or look at and change the leases of a store. See `docs/cli.md` in the repository.
#![forbid(unsafe_code)]

mod admin;
mod args;
mod duration;
mod exit;
mod owner;
mod report;
mod run;
mod time;

use std::process::ExitCode;

use args::Command;

fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    ExitCode::from(dispatch(&cli))
}

fn dispatch(cli: &args::Cli) -> u8 {
    let out = admin::Output { json: cli.json };
    match &cli.command {
        Command::Run(args) => run::run(&cli.db, args, cli.json),
        Command::Watchdog(args) => run::watchdog::watchdog(args),
        command => {
            let store = match leasehold::open(&cli.db) {
                Ok(store) => store,
                Err(e) => return admin::fail(&e, out),
            };
            match command {
                Command::Acquire(args) => admin::acquire(&store, args, out),
                Command::Renew(args) => admin::renew(&store, args, out),
                Command::Release(args) => admin::release(&store, args, out),
                Command::Status(args) => admin::status(&store, args, out),
                Command::List => admin::list(&store, out),
                Command::Evict(args) => admin::evict(&store, args, out),
                Command::Prune(args) => admin::prune(&store, args, out),
                Command::Run(_) | Command::Watchdog(_) => unreachable!("matched above"),
            }
        }
    }
}
