//! Talking to a server with `psql`, so that the harness needs no Rust PostgreSQL client.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::binaries;
use crate::error::Error;
use crate::process::scrub;

/// How long [`PsqlSession::run`] waits for an answer.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// `psql` with no `.psqlrc`, quiet, unaligned, tuples only: output is just the values.
fn psql_command(url: &str) -> Result<Command, Error> {
    let mut command = Command::new(binaries::psql()?);
    scrub(&mut command);
    command.args(["-X", "-q", "-A", "-t", "-d", url]);
    Ok(command)
}

/// Runs `sql` (one or more `;`-terminated statements, each in its own transaction unless the
/// script says `BEGIN`) with `psql` against `url`, stopping at the first error. Returns what the
/// statements printed, one row per line, columns separated by `|`, without the final newline.
///
/// `url` is anything libpq accepts: `postgres://user@host:port/db?connect_timeout=2`, or
/// `host=... port=...`.
///
/// # Errors
///
/// [`Error::Query`] when `psql` cannot connect or a statement fails (the message is `psql`'s);
/// [`Error::Missing`] when `psql` is not installed.
pub fn psql(url: &str, sql: &str) -> Result<String, Error> {
    let mut child = psql_command(url)?
        .args(["-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io("spawn psql"))?;
    let mut stdin = child.stdin.take().expect("stdin was piped just above");
    let script = sql.to_owned();
    // A writer thread: a long script and a long answer would otherwise fill both pipes.
    let writer = thread::spawn(move || stdin.write_all(script.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(Error::io("wait for psql"))?;
    // A failed write means psql exited early; its exit status and stderr tell why.
    let _ = writer.join();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout)
            .trim_end_matches('\n')
            .to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Err(Error::Query {
            sql: sql.to_owned(),
            stderr,
        })
    }
}

/// One `psql` process kept open: statements sent one after another run on one connection, so a
/// test can hold a transaction open, or watch what a pooler does between transactions.
///
/// ```
/// # fn main() -> Result<(), leasehold_pg_harness::Error> {
/// let cluster = leasehold_pg_harness::Cluster::start()?;
/// let mut session = leasehold_pg_harness::PsqlSession::open(&cluster.url())?;
/// session.run("BEGIN; CREATE TABLE t (x int)")?;
/// // Another connection does not see `t` until the session commits.
/// assert_eq!(cluster.psql("SELECT count(*) FROM pg_class WHERE relname = 't'")?, "0");
/// session.run("COMMIT")?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PsqlSession {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Commands sent whose output has not been received, oldest first: (end marker, SQL).
    outstanding: VecDeque<(String, String)>,
    /// Lines of the oldest outstanding command received so far.
    partial: Vec<String>,
    sent: u64,
}

impl PsqlSession {
    /// Starts `psql` against `url` and checks that it connected.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when it cannot connect; [`Error::Missing`] without `psql`.
    pub fn open(url: &str) -> Result<PsqlSession, Error> {
        let (reader, writer) = std::io::pipe().map_err(Error::io("create a pipe for psql"))?;
        let writer_for_stderr = writer.try_clone().map_err(Error::io("clone a pipe"))?;
        let mut child = psql_command(url)?
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(writer_for_stderr)
            .spawn()
            .map_err(Error::io("spawn psql"))?;
        let stdin = child.stdin.take().expect("stdin was piped just above");
        let (sender, lines) = mpsc::channel();
        // Ends at end-of-file, when psql exits (the spawned Command held the only other copies of
        // the pipe's write end, and it is gone).
        thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut session = PsqlSession {
            child,
            stdin,
            lines,
            outstanding: VecDeque::new(),
            partial: vec![],
            sent: 0,
        };
        session.run("SELECT 1")?;
        Ok(session)
    }

    /// Sends `sql` and waits up to a minute for what it printed (see [`PsqlSession::receive_for`]).
    ///
    /// # Errors
    ///
    /// As [`PsqlSession::receive_for`].
    pub fn run(&mut self, sql: &str) -> Result<String, Error> {
        self.send(sql)?;
        self.receive_for(RUN_TIMEOUT)
    }

    /// Sends `sql` (a trailing `;` is added) without waiting for its result.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `psql` has exited.
    pub fn send(&mut self, sql: &str) -> Result<(), Error> {
        self.sent += 1;
        let marker = format!("--leasehold-psql-done-{}--", self.sent);
        // The lone `;` ends a statement the caller left open; psql ignores an empty one.
        let script = format!("{sql}\n;\n\\echo {marker}\n");
        self.stdin
            .write_all(script.as_bytes())
            .map_err(Error::io("write to psql"))?;
        self.stdin.flush().map_err(Error::io("write to psql"))?;
        self.outstanding.push_back((marker, sql.to_owned()));
        Ok(())
    }

    /// Waits up to `timeout` for the output of the oldest command sent and not yet received.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it has not finished (it stays outstanding: a later call returns it);
    /// [`Error::Query`] if a line of its output starts with `ERROR:`, `FATAL:` or `PANIC:` (the
    /// error carries all of it), or `psql` exited (e.g. the connection was reset).
    pub fn receive_for(&mut self, timeout: Duration) -> Result<String, Error> {
        let Some((marker, sql)) = self.outstanding.front().cloned() else {
            return Err(Error::Query {
                sql: "(nothing)".into(),
                stderr: "no command was sent".into(),
            });
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == marker => return self.complete(),
                Ok(line) => self.partial.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    let what = format!("psql's answer to {sql:?}");
                    return Err(Error::Timeout {
                        what,
                        waited: timeout,
                        log: self.partial.join("\n"),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let stderr = format!("psql exited; it printed:\n{}", self.partial.join("\n"));
                    return Err(Error::Query { sql, stderr });
                }
            }
        }
    }

    fn complete(&mut self) -> Result<String, Error> {
        let (_, sql) = self
            .outstanding
            .pop_front()
            .expect("complete follows a front marker");
        let output = std::mem::take(&mut self.partial).join("\n");
        let failed = output.lines().any(is_error_line);
        if failed {
            Err(Error::Query {
                sql,
                stderr: output,
            })
        } else {
            Ok(output)
        }
    }

    /// The pid of the `psql` process.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How psql prints a server error: `ERROR:  ...`, or `psql:<stdin>:3: ERROR:  ...` when it reads
/// a script; rows it prints never start that way unless a value does.
fn is_error_line(line: &str) -> bool {
    let message = if line.starts_with("psql:") {
        line.splitn(4, ':').nth(3).unwrap_or("").trim_start()
    } else {
        line
    };
    ["ERROR:", "FATAL:", "PANIC:"]
        .iter()
        .any(|level| message.starts_with(level))
}

#[cfg(test)]
mod tests {
    use super::is_error_line;

    #[test]
    fn error_lines_are_told_from_rows() {
        assert!(is_error_line("ERROR:  relation \"t\" does not exist"));
        assert!(is_error_line(
            "psql:<stdin>:3: FATAL:  terminating connection"
        ));
        assert!(!is_error_line("a row mentioning ERROR: inside"));
        assert!(!is_error_line(
            "WARNING:  canceling wait for synchronous replication"
        ));
    }
}
