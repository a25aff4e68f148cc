//! Real PostgreSQL servers for leasehold's tests: throwaway clusters, streaming standbys,
//! PgBouncer, and a TCP proxy that injects faults.
//!
//! Everything here starts real processes: `initdb`, `postgres`, `pg_basebackup`, `pgbouncer` and
//! `psql` (the harness speaks SQL through `psql`, so it needs no Rust PostgreSQL client).
//!
//! - [`Cluster`]: a copy of one `initdb` made per process (`initdb` costs a second of CPU, a
//!   copy milliseconds) in a temporary directory, `postgres` on a free port of `127.0.0.1`
//!   and a unix socket in that directory, `trust` authentication, `fsync = off` unless asked.
//!   [`Cluster::stop`], [`Cluster::kill`] (SIGKILL to every server process: a crash) and
//!   [`Cluster::restart`] (same port, same data).
//! - [`Standby`]: [`Cluster::start_standby`] with [`Replication::Sync`] or
//!   [`Replication::Async`]; [`Standby::wait_for_replay`], [`Standby::promote`].
//! - [`PgBouncer`]: in front of a cluster, in transaction pooling mode unless asked.
//! - [`FaultProxy`]: pass-through, delay, blackhole (an open connection on which nothing
//!   arrives), reset (RST to both sides), heal.
//! - [`fresh_database`] and [`fresh_schema`]: for tests that need *a* server. With
//!   `LEASEHOLD_POSTGRES_URL` set they create a uniquely named database (or schema) on that server
//!   and drop it afterwards; without it they share one throwaway cluster per test process. Nothing
//!   touches a database the tests did not create.
//! - [`process_database`]: a database that lives as long as the test process (dropped by an exit
//!   hook on a server given by URL), for what a process keeps across tests.
//! - [`require_postgres`]: where the tests will find a server, or a one-line reason why not.
//!
//! # Assumptions
//!
//! Linux (`/proc`, process groups, `sh`), PostgreSQL 13 or later (the tests run 15), PgBouncer
//! for [`PgBouncer`] only. Server programs are found with `pg_config --bindir`, then in the
//! highest `/usr/lib/postgresql/*/bin`, then on `PATH`.
//!
//! **As root** (CI), `initdb`, `postgres`, `pg_basebackup` and `pgbouncer` run as `nobody`
//! (uid and gid 65534) through util-linux's `setpriv`, because they refuse root; the temporary
//! directory is handed to `nobody` and put under `/tmp` if `TMPDIR` is not traversable by it.
//! `psql` runs as the caller, connecting over TCP as the `postgres` superuser.
//!
//! # Nothing left behind
//!
//! Every server runs in a process group of its own, beside a watchdog: a `sh` process that waits
//! for end-of-file on a pipe only the test process holds. Dropping a [`Cluster`] or [`PgBouncer`]
//! stops the server, waits until none of its processes is alive, ends the watchdog and removes the
//! directory. If the test process dies instead, whether by a panic that skips `Drop`, a signal, or
//! simply exiting with a cluster in a `static` (as [`fresh_database`] leaves it), the pipe closes;
//! the watchdog then sends the server's group its shutdown signal, one second later SIGKILL, and
//! removes the directory. Only a SIGKILL of the watchdog itself, or of the whole machine, leaves a
//! `leasehold-pg-*` directory behind. The tests check both ways. A [`process_database`] on a
//! server given by URL is dropped the same way, by a `sh` that runs `psql` at end-of-file, and the
//! per-process `initdb` template is removed by one that runs `rm`.
//!
//! # Example
//!
//! ```
//! use leasehold_pg_harness::{Cluster, Error};
//!
//! let mut cluster = Cluster::start()?;
//! cluster.psql("CREATE TABLE leases (name text PRIMARY KEY); INSERT INTO leases VALUES ('a')")?;
//! cluster.kill()?; // a crash: no shutdown checkpoint
//! cluster.restart()?; // crash recovery, same port
//! assert_eq!(cluster.psql("SELECT name FROM leases")?, "a");
//! # Ok::<(), Error>(())
//! ```

mod binaries;
mod cluster;
mod error;
mod pgbouncer;
mod process;
mod proxy;
mod psql;
mod standby;
mod template;
mod testdb;
mod url;

pub use binaries::{Binaries, PostgresSource, URL_VAR, require_postgres};
pub use cluster::{Cluster, ClusterBuilder, SUPERUSER, SynchronousCommit};
pub use error::{Error, Missing};
pub use pgbouncer::{PgBouncer, PgBouncerBuilder, PoolMode};
pub use process::group_alive;
pub use proxy::{FaultProxy, Mode, ProxyStats};
pub use psql::{PsqlSession, psql};
pub use standby::{Lsn, Replication, Standby};
pub use testdb::{
    ProcessDb, TestDb, TestSchema, fresh_database, fresh_schema, fresh_schema_name,
    process_database, shared_server_url,
};
pub use url::{with_database, with_parameter};
