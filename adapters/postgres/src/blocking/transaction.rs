//! [`FencedTransaction`]: the blocking store's view of a fenced transaction.

use tokio::runtime::Handle;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};

use super::executor::block_on;

/// The transaction a [`PgStore::with_fence`](crate::PgStore::with_fence) closure writes in: the
/// methods of tokio-postgres' [`Transaction`], blocking. Everything written through it commits
/// only if the lease is still current at the commit.
pub struct FencedTransaction<'a> {
    tx: &'a Transaction<'a>,
    runtime: &'a Handle,
}

impl<'a> FencedTransaction<'a> {
    pub(crate) fn new(tx: &'a Transaction<'a>, runtime: &'a Handle) -> Self {
        Self { tx, runtime }
    }

    fn wait<T>(&self, request: impl Future<Output = T>) -> T {
        let _context = self.runtime.enter();
        block_on(request)
    }

    /// Runs a statement, returning the number of rows it changed. See
    /// [`Transaction::execute`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error.
    pub fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.wait(self.tx.execute(sql, params))
    }

    /// Runs a statement with its parameters' types given, unnamed, in one round trip (what a
    /// transaction pooler needs). See [`Transaction::execute_typed`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error.
    pub fn execute_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.wait(self.tx.execute_typed(sql, params))
    }

    /// Runs a query, returning its rows. See [`Transaction::query`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error.
    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.wait(self.tx.query(sql, params))
    }

    /// Runs a query with its parameters' types given, unnamed, in one round trip. See
    /// [`Transaction::query_typed`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error.
    pub fn query_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.wait(self.tx.query_typed(sql, params))
    }

    /// Runs a query that returns exactly one row. See [`Transaction::query_one`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error, or not exactly one row.
    pub fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        self.wait(self.tx.query_one(sql, params))
    }

    /// Runs a query that returns at most one row. See [`Transaction::query_opt`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error, or more than one row.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.wait(self.tx.query_opt(sql, params))
    }

    /// Runs statements separated by semicolons, without parameters. See
    /// [`Transaction::batch_execute`].
    ///
    /// # Errors
    ///
    /// The server's or the connection's error.
    pub fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.wait(self.tx.batch_execute(sql))
    }

    /// The async transaction itself, for what the blocking methods do not cover.
    #[must_use]
    pub fn transaction(&self) -> &Transaction<'a> {
        self.tx
    }
}

impl std::fmt::Debug for FencedTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FencedTransaction").finish_non_exhaustive()
    }
}
