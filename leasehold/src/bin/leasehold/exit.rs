//! The command's exit codes. A command run under a lease exits with its own code; leasehold's own
//! outcomes use codes that commands rarely use (sysexits' 64–78 range, and the shell's
//! conventions for a command that could not run or was ended by a signal).

use leasehold::{Error, ErrorKind, StoreError};

/// Success; for `run`, the command's own code when it ran (any value).
pub(crate) const OK: u8 = 0;
/// `status` and `evict`: no lease is held (not an error).
pub(crate) const NOT_HELD: u8 = 1;
/// Bad arguments, an invalid name or URL, a grace too long for the ttl (clap's own code).
pub(crate) const USAGE: u8 = 2;
/// The store failed: cannot open it, it stayed busy, an I/O error (sysexits' `EX_UNAVAILABLE`).
pub(crate) const STORE: u8 = 69;
/// The operating system refused: a process or signal handler could not be set up, or stdout
/// refused the answer (sysexits' `EX_OSERR`).
pub(crate) const OS: u8 = 71;
/// The lease was not acquired within `--wait`: someone else holds it (sysexits'
/// `EX_TEMPFAIL`, "try again later").
pub(crate) const NOT_ACQUIRED: u8 = 75;
/// The lease was lost: `run` stopped its command; `renew`/`release` found it no longer yours.
/// Next to 75 on purpose: 75 "did not get it", 76 "had it and lost it".
pub(crate) const LOST: u8 = 76;
/// The command was found but could not be executed (as sh, env and timeout report it).
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// The command was not found (as sh, env and timeout report it).
pub(crate) const NOT_FOUND: u8 = 127;

/// What a shell reports for a process ended by signal `signal`: 128 + N.
pub(crate) fn signaled(signal: i32) -> u8 {
    u8::try_from(128 + signal.clamp(0, 127)).unwrap_or(u8::MAX)
}

/// A process's exit code as an exit status (the low 8 bits, as the kernel keeps them).
pub(crate) fn code(code: i32) -> u8 {
    u8::try_from(code & 0xff).unwrap_or(u8::MAX)
}

/// The code for a store error: bad input (an invalid URL among it, PostgreSQL's connection
/// string included) is a usage error, the rest a store failure.
pub(crate) fn for_error(error: &Error) -> u8 {
    #[cfg(feature = "postgres")]
    if let Error::Postgres(leasehold_postgres::Error::InvalidUrl(_)) = error {
        return USAGE;
    }
    match error.kind() {
        ErrorKind::InvalidInput => USAGE,
        _ => STORE,
    }
}

/// The table `--help` shows.
pub(crate) const HELP: &str = "\
Exit codes:
  0      success (run: the command's own code, whatever it is)
  1      status, evict: no lease is held
  2      usage: bad arguments, an invalid name or URL, --grace too long for --ttl
  69     the store failed (cannot open it, it stayed busy, I/O error)
  71     the operating system refused (cannot start a process or handle signals, or
         cannot write the answer on stdout; acquire then releases the lease)
  75     not acquired within --wait: someone else holds the lease
  76     the lease was lost (run: the command was stopped; renew/release: no longer yours)
  126    the command could not be executed; 127: it was not found
  128+N  the command was ended by signal N (run), or leasehold was interrupted by signal N
         while waiting (nothing acquired)";
