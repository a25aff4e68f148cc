//! Where a statement gets its connection: the store's own (from a URL, connected again at the
//! next operation after it died; or handed in with `from_client`, never replaced) or a pool's.
//!
//! By default the store keeps no session state on a connection — no prepared statements, no
//! `SET`, no advisory locks, no temporary objects — so any connection will do, including one a
//! transaction pooler hands out per transaction. With
//! [`Options::prepared_statements`](crate::Options::prepared_statements) each connection carries
//! its own statement cache ([`Cache`]), which goes when the connection goes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::Error;
use crate::prepared::{Cache, Prepared};
use crate::sqlstate;

/// Where connections come from.
pub(crate) enum Source {
    /// A connection string: the store connects, and connects again after a connection died.
    Url(Box<Config>),
    /// A client the application handed in; once it is closed, the store cannot go on.
    Client,
    /// A pool the application already has: one pooled connection per statement (or per fenced
    /// transaction).
    #[cfg(feature = "deadpool")]
    Pool(deadpool_postgres::Pool),
}

/// The store's connections.
pub(crate) struct Sessions {
    source: Source,
    /// The store's own connection (for `Url` and `Client`); `None` until connected, or after it
    /// died.
    own: Mutex<Option<Own>>,
    connect_timeout: Duration,
}

/// A connection the store owns, with the task that drives it (none for a handed-in client,
/// whose driver the application spawned).
pub(crate) struct Own {
    client: Client,
    driver: Option<JoinHandle<()>>,
    /// The statements prepared on this connection: a new connection starts with none.
    prepared: Arc<Prepared>,
}

impl Own {
    fn new(client: Client, driver: Option<JoinHandle<()>>) -> Self {
        Self {
            client,
            driver,
            prepared: Arc::default(),
        }
    }
}

/// One statement's (or one fenced transaction's) exclusive use of a connection.
pub(crate) enum Session<'a> {
    /// The store's own connection, locked for the statement.
    Own(MutexGuard<'a, Option<Own>>),
    /// A pooled connection, back to the pool when dropped (`None` once discarded).
    #[cfg(feature = "deadpool")]
    Pooled(Option<Box<deadpool_postgres::Object>>),
}

impl Session<'_> {
    /// The connection.
    pub(crate) fn client(&mut self) -> &mut Client {
        match self {
            // `Sessions::session` hands out only sessions with a connection, and `discard` is
            // the last thing done with a session.
            Self::Own(own) => &mut own.as_mut().expect("a session has a connection").client,
            #[cfg(feature = "deadpool")]
            Self::Pooled(object) => object.as_mut().expect("a session has a connection"),
        }
    }

    /// The connection, and the statement cache that belongs to it.
    pub(crate) fn with_cache(&mut self) -> (&mut Client, Cache) {
        match self {
            Self::Own(own) => {
                // As in `client`.
                let own = own.as_mut().expect("a session has a connection");
                (&mut own.client, Cache::Own(Arc::clone(&own.prepared)))
            }
            #[cfg(feature = "deadpool")]
            Self::Pooled(object) => {
                let object = object.as_mut().expect("a session has a connection");
                let cache = Cache::Pool(Arc::clone(&object.statement_cache));
                let client: &mut Client = object;
                (client, cache)
            }
        }
    }

    /// The connection broke or stopped answering: close it, so that no later statement uses it.
    pub(crate) fn discard(&mut self) {
        match self {
            Self::Own(own) => {
                // A connection given up on (no answer within the I/O timeout) may hang on a
                // socket that will never say anything again: end its task, which closes the
                // socket. (Dropping a healthy one instead lets its driver say goodbye.)
                if let Some(driver) = own.take().and_then(|own| own.driver) {
                    driver.abort();
                }
            }
            #[cfg(feature = "deadpool")]
            Self::Pooled(object) => {
                if let Some(object) = object.take() {
                    // Detached from the pool, so that the pool never hands it out again.
                    drop(deadpool_postgres::Object::take(*object));
                }
            }
        }
    }
}

impl Sessions {
    /// Closes the store's own connection, if it has one that is not in use, and waits (up to a
    /// second) until its driver has said goodbye to the server.
    pub(crate) async fn close(&self) {
        let Ok(mut own) = self.own.try_lock() else {
            return;
        };
        let Some(Own { client, driver, .. }) = own.take() else {
            return;
        };
        drop(client);
        if let Some(driver) = driver {
            let _ = tokio::time::timeout(Duration::from_secs(1), driver).await;
        }
    }

    /// Connections from `source`; `first` is the connection of a handed-in client.
    pub(crate) fn new(source: Source, first: Option<Client>, connect_timeout: Duration) -> Self {
        let own = first.map(|client| Own::new(client, None));
        Self {
            source,
            own: Mutex::new(own),
            connect_timeout,
        }
    }

    /// A connection for one statement or transaction: the store's own (connecting first if it
    /// has none or it closed), or a pooled one. Waits while another statement of this store uses
    /// the store's own connection.
    pub(crate) async fn session(&self) -> Result<Session<'_>, Error> {
        let config = match &self.source {
            Source::Url(config) => Some(config),
            Source::Client => None,
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => return pooled(pool).await,
        };
        let mut own = self.own.lock().await;
        if own.as_ref().is_some_and(|own| own.client.is_closed()) {
            *own = None;
        }
        if own.is_none() {
            let config = config.ok_or(Error::ConnectionClosed)?;
            *own = Some(connect(config, self.connect_timeout).await?);
        }
        Ok(Session::Own(own))
    }
}

/// Connects with `config`, and spawns the connection's driver on the current runtime.
async fn connect(config: &Config, timeout: Duration) -> Result<Own, Error> {
    let connecting = tokio::time::timeout(timeout, config.connect(NoTls));
    let (client, connection) = connecting
        .await
        .map_err(|_| Error::ConnectTimeout { after: timeout })?
        .map_err(sqlstate::connect_error)?;
    // The driver's own error is not lost: every request still waiting on the connection fails
    // with it, and the next operation finds the client closed and connects again.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Own::new(client, Some(driver)))
}

#[cfg(feature = "deadpool")]
async fn pooled(pool: &deadpool_postgres::Pool) -> Result<Session<'_>, Error> {
    match pool.get().await {
        Ok(object) => Ok(Session::Pooled(Some(Box::new(object)))),
        Err(deadpool_postgres::PoolError::Backend(e)) => Err(sqlstate::connect_error(e)),
        Err(e) => Err(Error::Pool(e)),
    }
}
