//! The contenders: four ways of taking and giving back a lease on one SQLite file, plus the
//! commit floor that durable mode is measured against, all behind one
//! [`Locker`] trait so that every scenario drives them with the same loop.
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
}

impl Contender {
    /// The four locks, in the order tables and plots show them.
    pub const LOCKS: [Self; 4] = [
        Self::Floor,
        Self::SqliteStore,
        Self::Transactional,
        Self::CheckThenAct,
    ];

    /// Every contender, the commit floor included.
    pub const ALL: [Self; 5] = [
        Self::Floor,
        Self::SqliteStore,
        Self::Transactional,
        Self::CheckThenAct,
        Self::FsyncFloor,
    ];

    /// The name used in the JSON, the tables and the plots.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::SqliteStore => "sqlite-store",
            Self::Transactional => "transactional",
            Self::CheckThenAct => "check-then-act",
            Self::FsyncFloor => "fsync-floor",
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

/// Opens `contender` on the lock database at `path` (whose schema exists) in `durability`, and
/// hands it to `visit`.
///
/// # Errors
///
/// The contender's open errors.
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
