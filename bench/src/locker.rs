//! What every contender shares: the benchmark [`TTL`], the [`Durability`] modes, and the
//! [`Locker`] trait each contender implements. The contenders themselves (`floor`, `stores`,
//! `transactional`) depend on this module; `contender` depends on them to open the one a run
//! asks for. Nothing here depends back on them.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// How long every benchmark lease lasts: far longer than any run, so that no lease expires and
/// every grant is a release followed by a fresh acquire.
pub const TTL: Duration = Duration::from_secs(600);

/// `synchronous=FULL` or `NORMAL` (WAL mode in both): the two durability modes of the store.
/// The PostgreSQL contenders run [`Durability::Full`] (`fsync = on`, `synchronous_commit = on`)
/// and [`Durability::GroupCommit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// `Durability::Full`: every commit is fsynced before it returns.
    Full,
    /// `Durability::Relaxed`: commits are fsynced at checkpoints.
    Relaxed,
    /// PostgreSQL only: [`Durability::Full`] with group commit across connections
    /// (`commit_delay`, `commit_siblings`, see [`crate::server`]): every commit is still flushed
    /// before it returns, but a flush first waits briefly for other commits to share it.
    GroupCommit,
}

impl Durability {
    /// SQLite's two modes, durable first.
    pub const ALL: [Self; 2] = [Self::Full, Self::Relaxed];

    /// The store's option for this mode. SQLite has no group commit: that mode is `Full` there
    /// (no SQLite scenario runs it).
    #[must_use]
    pub fn store(self) -> leasehold_sqlite::Durability {
        match self {
            Self::Full | Self::GroupCommit => leasehold_sqlite::Durability::Full,
            Self::Relaxed => leasehold_sqlite::Durability::Relaxed,
        }
    }

    /// The `PRAGMA synchronous` value the store sets for this mode.
    #[must_use]
    pub fn synchronous(self) -> &'static str {
        match self {
            Self::Full | Self::GroupCommit => "FULL",
            Self::Relaxed => "NORMAL",
        }
    }

    /// The name used in the JSON and the tables.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Relaxed => "relaxed",
            Self::GroupCommit => "group-commit",
        }
    }
}

/// What one benchmark client drives: one attempt to take a lease, and its release.
pub trait Locker: Send + Sync {
    /// What a grant carries to its release.
    type Grant: Send;

    /// Whether it is a lock at all: the commit floors are not (they grant everything), so the
    /// witness is not taken around their "holding" and they count no double grants.
    const EXCLUSIVE: bool = true;

    /// One attempt on `resource` for `owner`: `Some` when granted, `None` when another client
    /// holds a valid lease.
    ///
    /// # Errors
    ///
    /// Storage errors; [`BenchError::is_busy`] tells a busy database apart.
    fn try_acquire(&self, resource: &str, owner: &str) -> Result<Option<Self::Grant>, BenchError>;

    /// Gives the lease back.
    ///
    /// # Errors
    ///
    /// Storage errors, or a release that did not end the lease it was given.
    fn release(&self, grant: &Self::Grant) -> Result<(), BenchError>;

    /// Waits for the lease until `deadline` with the contender's own waiting acquire. Only
    /// `SqliteStore` has one
    /// ([`SqliteStore::acquire_until`](leasehold_sqlite::SqliteStore::acquire_until)).
    ///
    /// # Errors
    ///
    /// [`BenchError::Protocol`] for contenders without a waiting acquire; storage errors.
    fn acquire_waiting(
        &self,
        resource: &str,
        owner: &str,
        deadline: Instant,
    ) -> Result<Option<Self::Grant>, BenchError> {
        let _ = (resource, owner, deadline);
        Err(BenchError::protocol(
            "this contender has no waiting acquire",
        ))
    }

    /// Gives the lease back, whatever the answer (an eviction may have ended it first).
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn release_any(&self, grant: &Self::Grant) -> Result<(), BenchError> {
        self.release(grant)
    }

    /// Reads who holds `resource`. Only `SqliteStore` has it.
    ///
    /// # Errors
    ///
    /// [`BenchError::Protocol`] for other contenders; storage errors.
    fn holder(&self, resource: &str) -> Result<(), BenchError> {
        let _ = resource;
        Err(BenchError::protocol("this contender has no holder read"))
    }

    /// Ends whatever lease `resource` has. Only `SqliteStore` has it.
    ///
    /// # Errors
    ///
    /// [`BenchError::Protocol`] for other contenders; storage errors.
    fn evict(&self, resource: &str) -> Result<(), BenchError> {
        let _ = resource;
        Err(BenchError::protocol("this contender has no evict"))
    }
}
