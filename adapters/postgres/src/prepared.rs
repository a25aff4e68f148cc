//! Named prepared statements ([`Options::prepared_statements`](crate::Options::prepared_statements)):
//! each statement text is parsed and planned once per connection instead of at every call.
//!
//! The cache belongs to the connection object (the store's own [`Own`](crate::session::Own), or
//! a pooled connection's deadpool cache), so a new connection — after a reconnect, or another
//! pooled one — starts with an empty cache by construction. A statement the server no longer
//! knows (it was deallocated) or whose plan must change its result type is prepared again once,
//! outside a transaction; inside one the error has already aborted the transaction, so the cache
//! is emptied and the whole transaction is to be tried again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::seam::Statement;
use crate::store::Params;

/// The statements prepared on the store's own connection, by the store's name for them (each
/// store has one text per [`Statement`]).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    statements: Mutex<HashMap<Statement, tokio_postgres::Statement>>,
}

impl Prepared {
    fn find(&self, statement: Statement) -> Option<tokio_postgres::Statement> {
        self.lock().get(&statement).cloned()
    }

    fn keep(&self, statement: Statement, prepared: tokio_postgres::Statement) {
        self.lock().insert(statement, prepared);
    }

    fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Statement, tokio_postgres::Statement>> {
        // Every update under this lock is one insert or clear: never half done.
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How one statement is sent on a connection.
#[derive(Clone)]
pub(crate) enum Cache {
    /// Unnamed, parsed and planned at every call (the default; works through any pooler).
    Unnamed,
    /// Prepared once on the store's own connection.
    Own(Arc<Prepared>),
    /// Prepared once on a pooled connection, in the pool's own per-connection cache.
    #[cfg(feature = "deadpool")]
    Pool(Arc<deadpool_postgres::StatementCache>),
}

impl Cache {
    /// `statement` (text `sql`, parameter types `types`) prepared on `client`, from the cache if
    /// it is there.
    async fn prepare(
        &self,
        client: &Client,
        statement: Statement,
        sql: &str,
        types: &[Type],
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        match self {
            Self::Unnamed => unreachable!("an unnamed statement is not prepared"),
            Self::Own(prepared) => {
                if let Some(found) = prepared.find(statement) {
                    return Ok(found);
                }
                let made = client.prepare_typed(sql, types).await?;
                prepared.keep(statement, made.clone());
                Ok(made)
            }
            #[cfg(feature = "deadpool")]
            Self::Pool(cache) => cache.prepare_typed(client, sql, types).await,
        }
    }

    /// Forgets every statement prepared on this connection.
    pub(crate) fn clear(&self) {
        match self {
            Self::Unnamed => {}
            Self::Own(prepared) => prepared.clear(),
            #[cfg(feature = "deadpool")]
            Self::Pool(cache) => cache.clear(),
        }
    }
}

/// Sends `statement` (text `sql`) with `params` on `client`: unnamed, or prepared through
/// `cache`. A stale cached statement (see [`is_stale`]) empties the cache; outside a transaction
/// the statement is then prepared again and sent once more, inside one (`in_transaction`) the
/// error has aborted the transaction and is returned.
pub(crate) async fn send(
    client: &Client,
    cache: &Cache,
    in_transaction: bool,
    (statement, sql): (Statement, &str),
    params: &Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    if matches!(cache, Cache::Unnamed) {
        return client.query_typed(sql, params).await;
    }
    let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
    let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(value, _)| *value).collect();
    let first = execute(client, cache, (statement, sql), &types, &values).await;
    match first {
        Err(e) if is_stale(cache, &e) => {
            cache.clear();
            if in_transaction {
                return Err(e);
            }
            execute(client, cache, (statement, sql), &types, &values).await
        }
        answer => answer,
    }
}

/// Prepares (or finds) `statement` and runs it.
async fn execute(
    client: &Client,
    cache: &Cache,
    (statement, sql): (Statement, &str),
    types: &[Type],
    values: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let prepared = cache.prepare(client, statement, sql, types).await?;
    client.query(&prepared, values).await
}

/// Whether `e` says a cached statement no longer fits the server: it does not exist there
/// (26000, deallocated, or a different server session behind a pooler), or its plan would now
/// return other columns (0A000, "cached plan must not change result type"). Either way the
/// statement did not run. Never for an unnamed statement.
pub(crate) fn is_stale(cache: &Cache, e: &tokio_postgres::Error) -> bool {
    if matches!(cache, Cache::Unnamed) {
        return false;
    }
    let Some(code) = e.code() else {
        return false;
    };
    *code == SqlState::INVALID_SQL_STATEMENT_NAME
        || (*code == SqlState::FEATURE_NOT_SUPPORTED
            && e.as_db_error()
                .is_some_and(|db| db.message().contains("cached plan")))
}
