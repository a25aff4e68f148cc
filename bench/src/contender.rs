//! The contenders: four ways of taking and giving back a lease on one SQLite file, plus the
//! commit floor that durable mode is measured against; three ways on a PostgreSQL server, plus
//! its commit floor; all behind one [`Locker`] trait so that every scenario drives them with the
//! same loop.
//! This module names them and opens the one a run asks for; what they share is in
//! [`locker`](crate::locker).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::locker::{Durability, Locker};
use crate::{floor, stores, transactional};

/// A way of taking a lease that the benchmarks compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Contender {
    /// Raw rusqlite running `SqliteStore`'s own acquire and release statements (from
    /// `Statement::sql`), prepared and cached, with no adapter around them.
    Floor,
    /// `SqliteStore` through its public API.
    SqliteStore,
    /// `BEGIN IMMEDIATE; SELECT; UPDATE or INSERT; COMMIT`: correct, but several statements.
    Transactional,
    /// The seed report's check-then-act (`leasehold_tests::CheckThenActStore`): racy, measured
    /// for cost only, its double grants counted.
    CheckThenAct,
    /// Not a lock: two minimal write transactions per cycle, the least one durable commit per
    /// operation can cost on this file system (the "fsync floor").
    FsyncFloor,
    /// `PgStore` (blocking) through its public API, on its own connection.
    PgStore,
    /// [`Contender::PgStore`] with `Options::prepared_statements(true)`: each statement
    /// prepared once on the store's connection.
    PgStorePrepared,
    /// `PgStore`'s own acquire and release texts (`leasehold_postgres::Statement::sql`), prepared
    /// once on a raw `postgres` connection, with no store logic around them.
    PgFloor,
    /// [`Contender::PgFloor`] sending the texts unnamed, as the store does (parse, bind and
    /// execute in one round trip), on the same blocking client: what the prepared statements
    /// save, apart from what the store adds.
    PgFloorUnnamed,
    /// Prepared `pg_try_advisory_lock(key)` / `pg_advisory_unlock(key)` on a session: what a user
    /// would pick instead. Commits nothing durable.
    PgAdvisory,
    /// Not a lock: a prepared one-row `UPDATE` in autocommit per acquire and per release, each
    /// client on its own row: the least one durable commit per operation costs on the server.
    PgCommitFloor,
}

impl Contender {
    /// The four locks, in the order tables and plots show them.
    pub const LOCKS: [Self; 4] = [
        Self::Floor,
        Self::SqliteStore,
        Self::Transactional,
        Self::CheckThenAct,
    ];

    /// Every SQLite contender, the commit floor included.
    pub const SQLITE: [Self; 5] = [
        Self::Floor,
        Self::SqliteStore,
        Self::Transactional,
        Self::CheckThenAct,
        Self::FsyncFloor,
    ];

    /// Every PostgreSQL contender, the commit floor included, in the order tables show them.
    pub const POSTGRES: [Self; 6] = [
        Self::PgStore,
        Self::PgStorePrepared,
        Self::PgFloor,
        Self::PgFloorUnnamed,
        Self::PgAdvisory,
        Self::PgCommitFloor,
    ];

    /// Every contender.
    pub const ALL: [Self; 11] = [
        Self::Floor,
        Self::SqliteStore,
        Self::Transactional,
        Self::CheckThenAct,
        Self::FsyncFloor,
        Self::PgStore,
        Self::PgStorePrepared,
        Self::PgFloor,
        Self::PgFloorUnnamed,
        Self::PgAdvisory,
        Self::PgCommitFloor,
    ];

    /// Whether it runs on a PostgreSQL server (and needs one).
    #[must_use]
    pub fn is_postgres(self) -> bool {
        Self::POSTGRES.contains(&self)
    }

    /// The name used in the JSON, the tables and the plots.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::SqliteStore => "sqlite-store",
            Self::Transactional => "transactional",
            Self::CheckThenAct => "check-then-act",
            Self::FsyncFloor => "fsync-floor",
            Self::PgStore => "pg-store",
            Self::PgStorePrepared => "pg-store-prepared",
            Self::PgFloor => "pg-floor",
            Self::PgFloorUnnamed => "pg-floor-unnamed",
            Self::PgAdvisory => "pg-advisory",
            Self::PgCommitFloor => "pg-commit-floor",
        }
    }

    /// One line on what the contender runs per acquire and per release.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::Floor => "SqliteStore's acquire and release statements on raw rusqlite",
            Self::SqliteStore => "SqliteStore::try_acquire and SqliteStore::release",
            Self::Transactional => {
                "BEGIN IMMEDIATE; SELECT; UPDATE or INSERT; COMMIT (release likewise)"
            }
            Self::CheckThenAct => "the seed's SELECT, decide in Rust, then upsert (racy)",
            Self::FsyncFloor => "one minimal write transaction per acquire and per release",
            Self::PgStore => "PgStore::try_acquire and PgStore::release",
            Self::PgStorePrepared => {
                "PgStore::try_acquire and PgStore::release, statements prepared per connection"
            }
            Self::PgFloor => "PgStore's acquire and release statements, prepared, on raw postgres",
            Self::PgFloorUnnamed => {
                "PgStore's statements sent unnamed (query_typed) on raw postgres"
            }
            Self::PgAdvisory => "prepared pg_try_advisory_lock(key) and pg_advisory_unlock(key)",
            Self::PgCommitFloor => "one prepared one-row UPDATE in autocommit per operation",
        }
    }
}

/// Something to do with an opened contender, whatever its concrete type: the way a run picks
/// the contender at run time and still drives it through static calls.
pub trait WithLocker {
    /// What the visit returns.
    type Output;

    /// Runs with the opened contender.
    fn with<L: Locker>(self, locker: L) -> Self::Output;
}

/// Opens the SQLite `contender` on the lock database at `path` (whose schema exists) in
/// `durability`, and hands it to `visit`. The PostgreSQL contenders open with
/// [`pg::open`](crate::pg::open).
///
/// # Errors
///
/// The contender's open errors; [`BenchError::Protocol`] for a PostgreSQL contender.
pub fn open<V: WithLocker>(
    contender: Contender,
    path: &Path,
    durability: Durability,
    visit: V,
) -> Result<V::Output, BenchError> {
    Ok(match contender {
        Contender::Floor => visit.with(floor::Floor::open(path, durability)?),
        Contender::SqliteStore => visit.with(stores::Store::open(path, durability)?),
        Contender::Transactional => {
            visit.with(transactional::Transactional::open(path, durability)?)
        }
        Contender::CheckThenAct => visit.with(stores::CheckThenAct::open(path, durability)?),
        Contender::FsyncFloor => visit.with(floor::FsyncFloor::open(path, durability)?),
        other => {
            return Err(BenchError::protocol(format!(
                "{} runs on PostgreSQL, not on a file",
                other.name()
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives one contender through grant, refusal, release and grant again.
    struct Behaves;

    impl WithLocker for Behaves {
        type Output = Result<(), BenchError>;

        fn with<L: Locker>(self, locker: L) -> Self::Output {
            let first = locker.try_acquire("r00", "a")?.expect("free at first");
            assert!(locker.try_acquire("r00", "b")?.is_none(), "held by a");
            let other = locker
                .try_acquire("r01", "b")?
                .expect("another resource is free");
            locker.release(&first)?;
            let again = locker
                .try_acquire("r00", "b")?
                .expect("free after the release");
            locker.release(&again)?;
            locker.release(&other)
        }
    }

    #[test]
    fn every_lock_grants_refuses_while_held_and_grants_after_release() {
        for durability in Durability::ALL {
            for contender in Contender::LOCKS {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join("locks.db");
                drop(leasehold_sqlite::SqliteStore::open(&path).expect("schema"));
                open(contender, &path, durability, Behaves)
                    .and_then(|checked| checked)
                    .unwrap_or_else(|e| panic!("{contender:?} {durability:?}: {e}"));
            }
        }
    }
}
