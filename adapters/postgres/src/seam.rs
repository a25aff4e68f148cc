//! The statement seam: every statement the store sends is named by a [`Statement`] and passes
//! through one function (`AsyncPgStore::run`), where a test's [`Seam`] can see it and drop its
//! answer (a lost reply). The seam is a test hook: it is public only with the `test-util`
//! feature.
#![cfg_attr(not(feature = "test-util"), allow(unreachable_pub, dead_code))]

use std::fmt;

/// Which statement the store sends.
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
    /// The prune delete (one write; a trigger raises the high-water mark in the same statement).
    Prune,
    /// A read of one resource's row and of the clock; it only reports, it never decides a write.
    ReadLock,
    /// A read of every valid lease.
    ListLocks,
    /// A read of the clock alone (only to report a ttl no reading can add, see
    /// [`Error::Rejected`](crate::Error::Rejected)).
    Clock,
    /// A read of every stored row and of the high-water mark, for audits (feature `test-util`).
    ReadRecords,
    /// The fenced transaction's first statement: lock the lease's row (a no-op update) and read
    /// it with the clock.
    FenceLock,
    /// The fenced transaction's last statement before `COMMIT`: read the row and the clock again.
    FenceCheck,
    /// `BEGIN`, `COMMIT` or `ROLLBACK` of a fenced transaction.
    FenceControl,
    /// Connecting: the server's settings, the schema's inspection and creation.
    Schema,
    /// A statement of the caller's own, inside a fenced transaction.
    Caller,
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
                | Self::FenceLock
                | Self::FenceControl
                | Self::Schema
                | Self::Caller
        )
    }

    /// The SQL text this statement sends, with `{schema}` where the quoted schema name goes;
    /// `None` for the statements that are not one fixed text (setup, transaction control, the
    /// caller's own).
    ///
    /// For tools that must run the very same statements without the store, such as a benchmark's
    /// raw-SQL floor. Parameters are positional; each text's `$n` are listed in
    /// `docs/postgres.md`.
    ///
    /// ```
    /// use leasehold_postgres::Statement;
    ///
    /// let acquire = Statement::Acquire.sql().expect("acquire is one statement");
    /// assert!(acquire.starts_with("INSERT INTO {schema}.leasehold_locks"));
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
            Self::Clock => crate::read::CLOCK,
            Self::ReadRecords => crate::read::READ_RECORDS,
            Self::FenceLock => crate::fence::FENCE_LOCK,
            Self::FenceCheck => crate::fence::FENCE_CHECK,
            Self::FenceControl | Self::Schema | Self::Caller => return None,
        })
    }

    /// Every statement with a fixed text.
    pub(crate) const TEXTS: [Self; 11] = [
        Self::Acquire,
        Self::Renew,
        Self::Release,
        Self::Evict,
        Self::Prune,
        Self::ReadLock,
        Self::ListLocks,
        Self::Clock,
        Self::ReadRecords,
        Self::FenceLock,
        Self::FenceCheck,
    ];
}

/// What a [`Seam`] does with a statement's answer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Hand the answer to the store, as production does.
    Deliver,
    /// Drop the answer and the connection, as a network failure after the server committed would:
    /// the store reports [`Error::Disconnected`](crate::Error::Disconnected).
    LoseReply,
}

/// Sees every statement the store sends (feature `test-util`): to count them, or to lose the
/// reply of one that succeeded.
pub trait Seam: Send + Sync + fmt::Debug + 'static {
    /// Called once the server answered `statement`; `succeeded` says whether it succeeded.
    fn answered(&self, statement: Statement, succeeded: bool) -> Verdict;
}

/// The store's texts, with its quoted schema name in place of `{schema}`: built once per store.
#[derive(Debug)]
pub(crate) struct Texts {
    texts: Vec<String>,
}

impl Texts {
    pub(crate) fn new(quoted_schema: &str) -> Self {
        let texts = Statement::TEXTS
            .iter()
            .map(|s| {
                // Every statement in TEXTS has a text.
                let template = s.sql().expect("a statement of TEXTS has a text");
                with_schema(template, quoted_schema)
            })
            .collect();
        Self { texts }
    }

    /// The text of `statement`, which must be one of [`Statement::TEXTS`].
    pub(crate) fn get(&self, statement: Statement) -> &str {
        let index = Statement::TEXTS.iter().position(|s| *s == statement);
        // Only statements of TEXTS are run through `run`.
        &self.texts[index.expect("a statement with a text")]
    }
}

/// `template` with `quoted_schema` in place of every `{schema}`.
pub(crate) fn with_schema(template: &str, quoted_schema: &str) -> String {
    template.replace("{schema}", quoted_schema)
}
