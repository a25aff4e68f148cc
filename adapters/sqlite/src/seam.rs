//! The statement seam: the one place every SQL statement passes through.
//!
//! Production code uses [`Direct`], which the compiler inlines away. Tests put their own [`Seam`]
//! there to count statements, to give loom or shuttle a scheduling point between statements, or
//! to inject faults (for example a reply lost after its statement committed). The seam is a test
//! hook: it is part of the public API only with the `test-util` feature.
#![cfg_attr(not(feature = "test-util"), allow(unreachable_pub, dead_code))]

/// Which statement a [`Seam`] is asked to run.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Statement {
    /// The acquire upsert (one write).
    Acquire,
    /// The renew update (one write).
    Renew,
    /// The release update (one write).
    Release,
    /// The evict update (one write).
    Evict,
    /// The prune delete (one write; its trigger raises the high-water mark in the same statement).
    Prune,
    /// A read of one resource's row; it only reports, it never decides a write.
    ReadLock,
    /// A read of every valid lease.
    ListLocks,
    /// A read of every stored row and of the high-water mark, for audits (feature `test-util`).
    ReadRecords,
    /// A whole fenced transaction, `BEGIN IMMEDIATE` to `COMMIT` (see
    /// [`SqliteStore::with_fence`](crate::SqliteStore::with_fence)).
    FencedTransaction,
    /// Opening: settings, schema checks and creation.
    Schema,
}

impl Statement {
    /// Whether the statement may change the database.
    #[must_use]
    pub fn writes(self) -> bool {
        matches!(
            self,
            Self::Acquire
                | Self::Renew
                | Self::Release
                | Self::Evict
                | Self::Prune
                | Self::FencedTransaction
                | Self::Schema
        )
    }
}

impl Statement {
    /// The SQL text SQLite runs for this statement, where it is exactly one SQL statement with
    /// named parameters (`:resource`, `:now`, …; see `docs/sqlite.md`). `None` for
    /// [`Statement::ReadRecords`] (two reads), [`Statement::FencedTransaction`] (the caller's
    /// statements) and [`Statement::Schema`] (several).
    ///
    /// For tools that must run the very same statements without the store, such as the
    /// benchmarks' raw-SQL floor; the store itself does not read it.
    ///
    /// ```
    /// use leasehold_sqlite::Statement;
    ///
    /// let acquire = Statement::Acquire.sql().expect("acquire is one statement");
    /// assert!(acquire.starts_with("INSERT INTO main.leasehold_locks"));
    /// assert_eq!(Statement::Schema.sql(), None);
    /// ```
    #[must_use]
    pub fn sql(self) -> Option<&'static str> {
        Some(match self {
            Self::Acquire => crate::acquire::ACQUIRE,
            Self::Renew => crate::renew::RENEW,
            Self::Release => crate::release::RELEASE,
            Self::Evict => crate::admin::EVICT,
            Self::Prune => crate::admin::PRUNE,
            Self::ReadLock => crate::read::READ_LOCK,
            Self::ListLocks => crate::read::LIST_LOCKS,
            Self::ReadRecords | Self::FencedTransaction | Self::Schema => return None,
        })
    }
}

/// Runs statements. Implementations must call `execute` at most once and, unless they are
/// injecting a fault, return what it returned.
pub trait Seam: Send + Sync + 'static {
    /// Runs one statement; `execute` runs it against SQLite (atomically). A seam may run code
    /// before/after it (a scheduling point for loom/shuttle), count it, or replace its result
    /// with an error after it committed (a lost reply).
    ///
    /// # Errors
    ///
    /// Whatever `execute` returned, or the error the seam injects.
    fn run<T>(
        &self,
        statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

/// The production seam: runs the statement and nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Direct;

impl Seam for Direct {
    #[inline]
    fn run<T>(
        &self,
        _statement: Statement,
        execute: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        execute()
    }
}
