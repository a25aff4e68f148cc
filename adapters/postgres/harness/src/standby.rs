//! Streaming replication: a standby of a [`Cluster`], synchronous or not, and its promotion.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cluster::{Cluster, SUPERUSER};
use crate::error::Error;
use crate::process;
use crate::psql::psql;

/// Whether the primary's commits wait for the standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replication {
    /// Commits do not wait: the standby may lag, and a failover may lose the latest commits.
    Async,
    /// Commits wait until the standby has flushed their WAL (`synchronous_commit = on`).
    Sync,
    /// Commits wait until the standby has replayed them, so a read there sees them
    /// (`synchronous_commit = remote_apply`).
    RemoteApply,
}

/// A position in the write-ahead log, as `pg_current_wal_lsn()` returns it (`16/B374D848`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = Error;

    fn from_str(text: &str) -> Result<Lsn, Error> {
        let bad = || Error::Query {
            sql: "(an LSN)".into(),
            stderr: format!("not an LSN: {text:?}"),
        };
        let (high, low) = text.trim().split_once('/').ok_or_else(bad)?;
        let high = u64::from_str_radix(high, 16).map_err(|_| bad())?;
        let low = u64::from_str_radix(low, 16).map_err(|_| bad())?;
        Ok(Lsn((high << 32) | low))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A hot standby of a [`Cluster`], streaming from it through a replication slot (so the primary
/// keeps the WAL the standby still needs, even while the standby is stopped). It accepts
/// read-only connections; [`Standby::promote`] makes it a primary.
///
/// Stopping or killing a synchronous standby makes the primary's commits wait, as it should.
/// *Dropping* one releases the primary first (if the primary still names this standby, its
/// `synchronous_standby_names` is reset), so that a test which drops a standby and goes on with
/// the primary does not hang.
#[derive(Debug)]
pub struct Standby {
    /// `Some` until [`Standby::promote`] takes it.
    cluster: Option<Cluster>,
    replication: Replication,
    primary_url: String,
}

impl Cluster {
    /// The current end of the WAL (`pg_current_wal_lsn()`; only on a primary).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when the query fails.
    pub fn current_lsn(&self) -> Result<Lsn, Error> {
        self.psql("SELECT pg_current_wal_lsn()")?.parse()
    }

    /// Starts a standby of this cluster with `pg_basebackup -R` on a free port, and returns once it
    /// streams. For [`Replication::Sync`] and [`Replication::RemoteApply`], it then makes this
    /// cluster's commits wait for it (`ALTER SYSTEM` of `synchronous_standby_names`, naming this
    /// standby alone, and `synchronous_commit`) and waits until the primary reports it as `sync`.
    ///
    /// # Errors
    ///
    /// [`Error::Tool`] when `pg_basebackup` fails; as [`crate::ClusterBuilder::start`] otherwise.
    pub fn start_standby(&self, replication: Replication) -> Result<Standby, Error> {
        static STANDBYS: AtomicU64 = AtomicU64::new(0);
        let mut cluster = Cluster::prepare(None)?;
        let sequence = STANDBYS.fetch_add(1, Ordering::Relaxed);
        let slot = format!("standby_{}_{sequence}", std::process::id());
        let mut backup = cluster.command("pg_basebackup");
        backup.arg("-D").arg(cluster.data_dir());
        backup.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            SUPERUSER,
        ]);
        backup.args([
            "-X",
            "stream",
            "-c",
            "fast",
            "-R",
            "--no-sync",
            "-C",
            "-S",
            &slot,
        ]);
        process::run(backup)?;
        cluster.launch(true)?;
        self.wait_streaming(&cluster.name())?;
        if replication != Replication::Async {
            self.make_synchronous(&cluster.name(), replication)?;
        }
        Ok(Standby {
            cluster: Some(cluster),
            replication,
            primary_url: self.url(),
        })
    }

    /// Waits until `pg_stat_replication` on this primary shows `name` streaming.
    fn wait_streaming(&self, name: &str) -> Result<(), Error> {
        self.wait_replication(name, None)
    }

    fn make_synchronous(&self, name: &str, replication: Replication) -> Result<(), Error> {
        let commit = if replication == Replication::Sync {
            "on"
        } else {
            "remote_apply"
        };
        self.psql(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '\"{name}\"';
             ALTER SYSTEM SET synchronous_commit = '{commit}';
             SELECT pg_reload_conf();"
        ))?;
        self.wait_replication(name, Some("sync"))
    }

    /// Waits until `pg_stat_replication` shows `name` streaming, in `sync_state` if given.
    fn wait_replication(&self, name: &str, sync_state: Option<&str>) -> Result<(), Error> {
        let state = sync_state.map_or(String::new(), |state| format!("AND sync_state = '{state}'"));
        let condition = format!(
            "EXISTS (SELECT FROM pg_stat_replication WHERE application_name = '{name}' \
             AND state = 'streaming' {state})"
        );
        self.wait_until(&condition, Duration::from_secs(30))
            .map_err(|err| timeout_named(err, &format!("standby {name} to stream ({state})")))
    }

    /// Waits until the SQL `condition` is true, checking every 10 ms inside one `psql` call.
    pub(crate) fn wait_until(&self, condition: &str, timeout: Duration) -> Result<(), Error> {
        let millis = timeout.as_millis();
        let result = self.psql(&format!(
            "SET statement_timeout = {millis};
             DO $$ BEGIN WHILE NOT ({condition}) LOOP
                 -- Activity views are read once per transaction unless the snapshot is cleared.
                 PERFORM pg_stat_clear_snapshot(), pg_sleep(0.01);
             END LOOP; END $$;"
        ));
        match result {
            Err(Error::Query { stderr, .. }) if stderr.contains("statement timeout") => {
                let log = process::log_tail(&self.log_path(), 10);
                Err(Error::Timeout {
                    what: condition.to_owned(),
                    waited: timeout,
                    log,
                })
            }
            other => other.map(drop),
        }
    }
}

fn timeout_named(err: Error, what: &str) -> Error {
    match err {
        Error::Timeout { waited, log, .. } => Error::Timeout {
            what: what.to_owned(),
            waited,
            log,
        },
        other => other,
    }
}

impl Standby {
    /// The standby as a cluster: URL, port, `psql` (read-only), stop, kill, restart.
    #[must_use]
    pub fn cluster(&self) -> &Cluster {
        self.cluster
            .as_ref()
            .expect("only promote() takes the cluster, and it consumes the standby")
    }

    /// The standby as a cluster, for [`Cluster::stop`], [`Cluster::kill`] and [`Cluster::restart`].
    pub fn cluster_mut(&mut self) -> &mut Cluster {
        self.cluster
            .as_mut()
            .expect("only promote() takes the cluster, and it consumes the standby")
    }

    /// How the primary's commits wait for this standby.
    #[must_use]
    pub fn replication(&self) -> Replication {
        self.replication
    }

    /// The WAL position replayed so far (`pg_last_wal_replay_lsn()`).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when the standby is not running.
    pub fn replay_lsn(&self) -> Result<Lsn, Error> {
        self.cluster()
            .psql("SELECT pg_last_wal_replay_lsn()")?
            .parse()
    }

    /// How many bytes of `primary`'s WAL this standby has not replayed yet.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when either server is not running.
    pub fn replay_lag_bytes(&self, primary: &Cluster) -> Result<u64, Error> {
        let end = primary.current_lsn()?;
        Ok(end.0.saturating_sub(self.replay_lsn()?.0))
    }

    /// Waits until this standby has replayed everything `primary` had written when called, so
    /// reads here see every commit made before. Returns that position.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when replay does not get there within `timeout`.
    pub fn wait_for_replay(&self, primary: &Cluster, timeout: Duration) -> Result<Lsn, Error> {
        let target = primary.current_lsn()?;
        let condition = format!("pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
        self.cluster().wait_until(&condition, timeout)?;
        Ok(target)
    }

    /// Promotes the standby (`pg_promote()`), waits until it accepts writes, and returns it as a
    /// primary. Its commits wait for no standby: the `ALTER SYSTEM` settings it copied from the
    /// old primary (`synchronous_standby_names`, `synchronous_commit`) are reset.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when promotion fails or does not finish within 60 seconds.
    pub fn promote(mut self) -> Result<Cluster, Error> {
        let promoted = self.cluster().psql("SELECT pg_promote(true, 60)")?;
        if promoted != "t" {
            let stderr = format!("pg_promote returned {promoted:?}");
            return Err(Error::Query {
                sql: "SELECT pg_promote(true, 60)".into(),
                stderr,
            });
        }
        let cluster = self
            .cluster
            .take()
            .expect("promote() takes the cluster once");
        cluster.wait_until("NOT pg_is_in_recovery()", Duration::from_secs(60))?;
        cluster.psql(
            "ALTER SYSTEM RESET synchronous_standby_names;
             ALTER SYSTEM RESET synchronous_commit;
             SELECT pg_reload_conf();",
        )?;
        Ok(cluster)
    }

    /// Resets the primary's `synchronous_standby_names` if it names this standby alone.
    fn release_primary(&self) -> Result<(), Error> {
        let named = format!("\"{}\"", self.cluster().name());
        if psql(&self.primary_url, "SHOW synchronous_standby_names")? == named {
            psql(
                &self.primary_url,
                "ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();",
            )?;
        }
        Ok(())
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        if self.cluster.is_some() && self.replication != Replication::Async {
            // The primary may be gone already; then there is nothing to release.
            let _ = self.release_primary();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_parse_and_print_as_postgres_does() {
        let lsn: Lsn = "16/B374D848".parse().expect("a valid LSN");
        assert_eq!(lsn, Lsn(0x16_B374_D848));
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert!("16B374D848".parse::<Lsn>().is_err());
    }
}
