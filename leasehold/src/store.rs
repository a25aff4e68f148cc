//! [`Store`]: one type over every store this build has, opened by URL with [`open`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Evict, Holder, Lease, Release, Renew, StoreId};
use leasehold_core::{FencingToken, RequestId};
#[cfg(feature = "postgres")]
use leasehold_postgres::{Listen, PgStore};
#[cfg(feature = "sqlite")]
use leasehold_sqlite::{Durability, SqliteStore};

use crate::error::Error;
use crate::url::Location;

/// Settings for [`open_with`] that do not depend on a lease's ttl. Each setter says which store
/// uses it; a store ignores the settings of the others. Build with [`Options::new`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    busy_timeout: Option<Duration>,
    #[cfg(feature = "sqlite")]
    durability: Option<Durability>,
    schema: Option<String>,
    connect_timeout: Option<Duration>,
    io_timeout: Option<Option<Duration>>,
    #[cfg(feature = "postgres")]
    listen: Option<Listen>,
    notify: Option<bool>,
    prepared_statements: Option<bool>,
}

impl Options {
    /// Every store's defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// SQLite: how long a statement waits for another connection's write lock before failing
    /// with a busy error (default 5 s).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = Some(timeout);
        self
    }

    /// SQLite: when a committed change is safe from a machine crash (default
    /// [`Durability::Full`]; read [`Durability::Relaxed`]'s risks before choosing it).
    #[cfg(feature = "sqlite")]
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// PostgreSQL: the schema the store's tables live in (default `leasehold`); each schema is a
    /// store of its own.
    #[must_use]
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// PostgreSQL: how long connecting may take (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// PostgreSQL: how long one operation may wait for the server before it fails as timed out
    /// (default 30 s; `None`: no limit). A guard's keeper gives the lease up at its deadline
    /// whatever this is; a shorter one only frees its thread sooner.
    #[must_use]
    pub fn io_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.io_timeout = Some(timeout);
        self
    }

    /// PostgreSQL: where the store's waiters hear of releases and evictions by other processes
    /// (default [`Listen::StoreUrl`]: a `LISTEN` on one more connection, to the store's URL,
    /// opened when a caller first waits). Behind a transaction pooler, give the server's own URL
    /// ([`Listen::Url`]) or [`Listen::Off`]; waiters poll either way.
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn listen(mut self, listen: Listen) -> Self {
        self.listen = Some(listen);
        self
    }

    /// PostgreSQL: whether releases and evictions wake the waiters of other processes with
    /// `pg_notify` (default `true`). PostgreSQL commits notifying transactions one at a time,
    /// so with many connections releasing at high rates `false` is faster; other processes'
    /// waiters then find a freed lease at their next try.
    #[must_use]
    pub fn notify(mut self, notify: bool) -> Self {
        self.notify = Some(notify);
        self
    }

    /// PostgreSQL: whether each statement is prepared once per connection instead of sent
    /// unnamed at every call (default `false`). Faster; only for direct connections, session
    /// pooling or PgBouncer 1.21+ with `max_prepared_statements`, never behind a transaction
    /// pooler that does not track prepared statements (see
    /// `leasehold_postgres::Options::prepared_statements`).
    #[must_use]
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = Some(prepared);
        self
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(&self) -> leasehold_postgres::Options {
        let mut options = leasehold_postgres::Options::new();
        if let Some(schema) = &self.schema {
            options = options.schema(schema.clone());
        }
        if let Some(timeout) = self.connect_timeout {
            options = options.connect_timeout(timeout);
        }
        if let Some(timeout) = self.io_timeout {
            options = options.io_timeout(timeout);
        }
        if let Some(listen) = &self.listen {
            options = options.listen(listen.clone());
        }
        if let Some(notify) = self.notify {
            options = options.notify(notify);
        }
        if let Some(prepared) = self.prepared_statements {
            options = options.prepared_statements(prepared);
        }
        options
    }

    #[cfg(feature = "sqlite")]
    fn sqlite(&self) -> leasehold_sqlite::Options {
        let mut options = leasehold_sqlite::Options::new();
        if let Some(timeout) = self.busy_timeout {
            options = options.busy_timeout(timeout);
        }
        if let Some(durability) = self.durability {
            options = options.durability(durability);
        }
        options
    }
}

/// A lock store: whichever store the URL given to [`open`] named.
///
/// It has every method of the contract ([`LockStore`](leasehold_contract::LockStore), which it
/// also implements), [`hold`](Store::hold) for a lease that keeps itself, and is cheap to clone:
/// clones share one store (one connection for SQLite).
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

/// The stores this build has. Adding a store is one variant here and one arm in `dispatch!`.
// There is one per `Store`, behind an `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    /// An SQLite database file.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// A PostgreSQL schema.
    #[cfg(feature = "postgres")]
    Postgres(PgStore),
}

/// Runs `$call` on the store behind `$self` and converts its error. An enum rather than a trait
/// object: calls stay statically dispatched and `Store` is `Send + Sync` by construction.
macro_rules! dispatch {
    ($self:expr, |$store:ident| $call:expr) => {
        match *$self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(ref $store) => $call.map_err(Error::from),
            #[cfg(feature = "postgres")]
            Backend::Postgres(ref $store) => $call.map_err(Error::from),
        }
    };
    (@infallible $self:expr, |$store:ident| $call:expr) => {
        match *$self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(ref $store) => $call,
            #[cfg(feature = "postgres")]
            Backend::Postgres(ref $store) => $call,
        }
    };
}

/// Opens the store `url` names with the default [`Options`], creating an SQLite file and its
/// schema if missing.
///
/// - `"sqlite:///var/lib/app/locks.db"`: the absolute path `/var/lib/app/locks.db`;
///   `"sqlite://relative/path.db"` and `"sqlite:locks.db"`: a path relative to the working
///   directory. What follows `sqlite:` and an optional `//` is the path byte for byte (no
///   percent-decoding); `?` and `#` are refused.
/// - `"locks.db"`, `"/abs/locks.db"`: anything without a `scheme://` prefix is a path to an
///   SQLite file, taken as it is.
/// - `"postgres://…"`, `"postgresql://…"`: PostgreSQL (feature `postgres`), connecting as
///   `leasehold_postgres::PgStore::connect` does; the schema `leasehold` unless
///   [`Options::schema`] says otherwise.
///
/// # Errors
///
/// [`Error::InvalidUrl`], [`Error::UnknownScheme`] and [`Error::StoreNotBuilt`] before anything
/// is touched; otherwise the store's own error for a file or server it cannot use.
pub fn open(url: &str) -> Result<Store, Error> {
    open_with(url, Options::new())
}

/// [`open`] with `options`.
///
/// # Errors
///
/// As [`open`].
pub fn open_with(url: &str, options: Options) -> Result<Store, Error> {
    let backend = match Location::parse(url)? {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(path) => Backend::Sqlite(SqliteStore::open_with(path, options.sqlite())?),
        #[cfg(not(feature = "sqlite"))]
        Location::Sqlite(_) => return Err(not_built("SQLite", "sqlite")),
        #[cfg(feature = "postgres")]
        Location::Postgres(url) => {
            Backend::Postgres(PgStore::connect_with(&url, options.postgres())?)
        }
        #[cfg(not(feature = "postgres"))]
        Location::Postgres(_) => return Err(not_built("PostgreSQL", "postgres")),
    };
    Ok(Store {
        backend: Arc::new(backend),
    })
}

#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
fn not_built(store: &'static str, feature: &'static str) -> Error {
    Error::StoreNotBuilt { store, feature }
}

impl Store {
    /// The SQLite store behind this one, if it is one: for its
    /// [`with_fence`](SqliteStore::with_fence) (writes that commit only while a lease is
    /// current) and its other methods of its own.
    #[cfg(feature = "sqlite")]
    #[must_use]
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match *self.backend {
            Backend::Sqlite(ref store) => Some(store),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL store behind this one, if it is one: for its
    /// [`with_fence`](PgStore::with_fence) and its other methods of its own.
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn as_postgres(&self) -> Option<&PgStore> {
        match *self.backend {
            Backend::Postgres(ref store) => Some(store),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => None,
        }
    }

    /// This store's identity, carried by every lease it grants.
    #[must_use]
    pub fn store_id(&self) -> StoreId {
        dispatch!(@infallible self, |s| s.store_id())
    }

    /// A fresh request id for [`try_acquire_with_id`](Store::try_acquire_with_id).
    #[must_use]
    pub fn new_request_id(&self) -> RequestId {
        dispatch!(@infallible self, |s| s.new_request_id())
    }

    /// Takes the lease on `resource` for `owner` and `ttl` if nobody holds a valid one; tries
    /// once. For a lease that renews itself, see [`hold`](Store::hold).
    ///
    /// # Errors
    ///
    /// Invalid input or a store failure; nothing was granted.
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Acquire, Error> {
        dispatch!(self, |s| s.try_acquire(resource, owner, ttl))
    }

    /// [`try_acquire`](Store::try_acquire) with a caller-chosen request id: retried with the same
    /// id and owner while its lease is valid, it returns that lease again instead of `Busy`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Store::try_acquire).
    pub fn try_acquire_with_id(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        request_id: RequestId,
    ) -> Result<Acquire, Error> {
        dispatch!(self, |s| s
            .try_acquire_with_id(resource, owner, ttl, request_id))
    }

    /// Like [`try_acquire`](Store::try_acquire), waiting up to `timeout` for the resource to be
    /// free; then returns the last `Busy`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Store::try_acquire).
    pub fn acquire_for(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Acquire, Error> {
        dispatch!(self, |s| s.acquire_for(resource, owner, ttl, timeout))
    }

    /// Like [`acquire_for`](Store::acquire_for), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Store::try_acquire).
    pub fn acquire_until(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Acquire, Error> {
        dispatch!(self, |s| s.acquire_until(resource, owner, ttl, deadline))
    }

    /// Extends `lease` to at least `now + ttl` if it is still valid; never shortens it.
    ///
    /// # Errors
    ///
    /// Invalid input, a lease of another store, or a store failure; nothing changed.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renew, Error> {
        dispatch!(self, |s| s.renew(lease, ttl))
    }

    /// Ends `lease`.
    ///
    /// # Errors
    ///
    /// A lease of another store, or a store failure; nothing changed.
    pub fn release(&self, lease: &Lease) -> Result<Release, Error> {
        dispatch!(self, |s| s.release(lease))
    }

    /// [`renew`](Store::renew) for a process that holds only the resource and the token.
    ///
    /// # Errors
    ///
    /// As [`renew`](Store::renew).
    pub fn renew_by_token(
        &self,
        resource: &str,
        token: FencingToken,
        ttl: Duration,
    ) -> Result<Renew, Error> {
        dispatch!(self, |s| s.renew_by_token(resource, token, ttl))
    }

    /// [`release`](Store::release) for a process that holds only the resource and the token.
    ///
    /// # Errors
    ///
    /// As [`release`](Store::release).
    pub fn release_by_token(&self, resource: &str, token: FencingToken) -> Result<Release, Error> {
        dispatch!(self, |s| s.release_by_token(resource, token))
    }

    /// The holder of the lease on `resource` valid now, if any.
    ///
    /// # Errors
    ///
    /// Invalid input, or a store failure.
    pub fn holder(&self, resource: &str) -> Result<Option<Holder>, Error> {
        dispatch!(self, |s| s.holder(resource))
    }

    /// Every lease valid now, ordered by resource name (bytewise).
    ///
    /// # Errors
    ///
    /// A store failure.
    pub fn holders(&self) -> Result<Vec<Holder>, Error> {
        dispatch!(self, |s| s.holders())
    }

    /// Administrative: ends whatever lease on `resource` is valid, whoever holds it.
    ///
    /// # Errors
    ///
    /// Invalid input, or a store failure; nothing changed.
    pub fn evict(&self, resource: &str) -> Result<Evict, Error> {
        dispatch!(self, |s| s.evict(resource))
    }

    /// Deletes the records of leases over for more than `idle_for`, keeping the token history;
    /// returns how many.
    ///
    /// # Errors
    ///
    /// A store failure; nothing changed.
    pub fn prune(&self, idle_for: Duration) -> Result<usize, Error> {
        dispatch!(self, |s| s.prune(idle_for))
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(ref store) => f.debug_tuple("Store").field(store).finish(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(ref store) => f.debug_tuple("Store").field(store).finish(),
        }
    }
}

// Shared between threads (the guard's keeper runs on its own); this fails to compile if a store
// ever stops allowing it.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Store>();
};

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::Options;

    #[test]
    fn the_postgresql_options_are_passed_on() {
        let given = format!("{:?}", Options::new().notify(false).postgres());
        assert!(given.contains("notify: false"), "{given}");
        let default = format!("{:?}", Options::new().postgres());
        assert!(default.contains("notify: true"), "{default}");
        assert!(default.contains("prepared_statements: false"), "{default}");
        let given = format!("{:?}", Options::new().prepared_statements(true).postgres());
        assert!(given.contains("prepared_statements: true"), "{given}");
    }
}
