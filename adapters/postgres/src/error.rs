//! [`Error`]: misuse, setup refusals and server failures. Contention is never an error; it is an
//! answer.

use std::fmt;
use std::time::Duration;

use leasehold_contract::row::CorruptRow;
use leasehold_contract::{ClockError, ErrorKind, StoreError, StoreId};
use leasehold_core::{DecideError, NameError, TtlError};

/// Why a store operation failed. A failed operation changed nothing, except where a variant says
/// otherwise ([`Error::Disconnected`], [`Error::TimedOut`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An owner or resource name the core refuses (empty, longer than 255 bytes, a control
    /// character); nothing was sent.
    InvalidName(NameError),
    /// A TTL the core refuses (zero, or too long for 64-bit milliseconds); nothing was sent.
    InvalidTtl(TtlError),
    /// A request the core refuses: clock out of range, expiry overflow or tokens exhausted.
    Rejected(DecideError),
    /// The lease was granted by another store (another database or schema, or this schema before
    /// it was dropped and created again): acting on it here would act on an unrelated lease that
    /// happens to have the same resource name and token.
    ForeignLease {
        /// The store that granted the lease.
        lease: StoreId,
        /// This store.
        store: StoreId,
    },
    /// The connection string could not be parsed (tokio-postgres' URL or key-value syntax).
    InvalidUrl(tokio_postgres::Error),
    /// [`Options::schema`](crate::Options::schema) is not a name the store can use.
    InvalidSchemaName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The server could not be reached: refused, unreachable, too many connections, starting
    /// up or shutting down.
    Connect(tokio_postgres::Error),
    /// The server did not complete the connection within
    /// [`Options::connect_timeout`](crate::Options::connect_timeout).
    ConnectTimeout {
        /// The timeout.
        after: Duration,
    },
    /// The server refused the credentials (wrong password, unknown role, no `pg_hba.conf`
    /// entry).
    Auth(tokio_postgres::Error),
    /// The database named in the connection string does not exist.
    NoSuchDatabase(tokio_postgres::Error),
    /// The role lacks a privilege the store needs (to create the schema, or to write its
    /// tables).
    PermissionDenied {
        /// What is missing, e.g. `INSERT on "leasehold".leasehold_locks`.
        privilege: String,
        /// The server's error, when the server reported it (rather than the check at connect).
        source: Option<tokio_postgres::Error>,
    },
    /// The session cannot write: a standby server, or `default_transaction_read_only`.
    ReadOnly(Option<tokio_postgres::Error>),
    /// The client handed to [`AsyncPgStore::from_client`](crate::AsyncPgStore::from_client) is
    /// inside a transaction block. Every statement of the store would run inside it, invisible to
    /// other sessions and rolled back with it: a grant could be undone behind its holder's back.
    InTransaction,
    /// The server is one the store cannot keep its promises on.
    UnsupportedServer {
        /// What is unsupported, e.g. `server_version_num` or `server_encoding`.
        setting: &'static str,
        /// What was found.
        found: String,
        /// What the store needs.
        required: &'static str,
    },
    /// The schema holds a leasehold schema version newer than this build understands.
    SchemaTooNew {
        /// The version found in `leasehold_meta`.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
    /// A `leasehold_*` table, constraint, trigger, function or meta row exists but is not what
    /// this build creates: another program's objects, or a hand edit.
    SchemaMismatch {
        /// The object that differs.
        object: String,
        /// What was found, or `None` when it is missing while other leasehold objects exist.
        found: Option<String>,
    },
    /// The server gave up waiting (`statement_timeout`, `lock_timeout`, or a cancel request)
    /// before the statement could take the row lock it needed; nothing changed. Retrying later
    /// is safe.
    Busy(tokio_postgres::Error),
    /// Every attempt of the statement failed with a serialization failure or a deadlock (possible
    /// under `REPEATABLE READ` and `SERIALIZABLE`); nothing changed. Retrying later is safe.
    SerializationFailure {
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        source: tokio_postgres::Error,
    },
    /// The resource's row changed under the operation for as many rounds as it may try (each
    /// round means another client's transition committed in between); nothing changed by this
    /// call. Retrying is safe.
    Contended {
        /// How many rounds were tried.
        rounds: usize,
    },
    /// The connection broke while the statement was in flight (the backend was terminated, the
    /// server restarted, the network failed). **The statement may or may not have been
    /// applied**: retry an acquire with its request id
    /// ([`try_acquire_with_id`](crate::AsyncPgStore::try_acquire_with_id)) to get its lease back
    /// if it was granted. A store built from a URL reconnects at its next operation.
    Disconnected {
        /// The client's error, or `None` when the store dropped the connection itself (a test
        /// seam's injected loss).
        source: Option<tokio_postgres::Error>,
    },
    /// No answer came within [`Options::io_timeout`](crate::Options::io_timeout); the store
    /// closed the connection. As for [`Error::Disconnected`], the statement may or may not have
    /// been applied.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The connection of a store made with
    /// [`from_client`](crate::AsyncPgStore::from_client) is closed; such a store cannot
    /// reconnect. Build a new store.
    ConnectionClosed,
    /// A [`with_fence`](crate::AsyncPgStore::with_fence) closure ended the transaction itself
    /// (`COMMIT` or `ROLLBACK`); whatever it wrote is as it left it.
    FenceEnded,
    /// The pool handed to [`from_pool`](crate::AsyncPgStore::from_pool) gave no connection.
    #[cfg(feature = "deadpool")]
    Pool(deadpool_postgres::PoolError),
    /// The blocking store could not start its runtime thread.
    Runtime(std::io::Error),
    /// The clock could not give a usable reading.
    Clock(ClockError),
    /// The operating system's random number source failed (read once per store, for its request
    /// ids, and once per schema, for its store id).
    Random(getrandom::Error),
    /// A stored row breaks the schema's rules (it was edited by hand); nothing was changed.
    CorruptRow {
        /// The row's resource name, as stored.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Any other failure the server or the client reported.
    Postgres(tokio_postgres::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "invalid name: {e}"),
            Self::InvalidTtl(e) => write!(f, "invalid ttl: {e}"),
            Self::Rejected(e) => write!(f, "request refused: {e}"),
            Self::ForeignLease { lease, store } => write!(
                f,
                "the lease was granted by store {lease}, not by this store ({store})"
            ),
            Self::InvalidUrl(e) => write!(f, "invalid connection string: {e}"),
            Self::InvalidSchemaName { name, reason } => {
                write!(f, "schema name {name:?} cannot be used: {reason}")
            }
            Self::Connect(e) => write!(f, "cannot connect: {}", detail(e)),
            Self::ConnectTimeout { after } => write!(f, "no connection within {after:?}"),
            Self::Auth(e) => write!(f, "authentication refused: {}", detail(e)),
            Self::NoSuchDatabase(e) => write!(f, "no such database: {}", detail(e)),
            Self::PermissionDenied { privilege, .. } => {
                write!(f, "permission denied: the role lacks {privilege}")
            }
            Self::ReadOnly(_) => f.write_str("the session is read-only (a standby server?)"),
            Self::InTransaction => f.write_str(
                "the client is inside a transaction block; commit or roll it back first",
            ),
            Self::UnsupportedServer {
                setting,
                found,
                required,
            } => write!(f, "unsupported server: {setting} is {found}, {required}"),
            Self::SchemaTooNew { found, supported } => write!(
                f,
                "leasehold schema version {found} is newer than this build's {supported}"
            ),
            Self::SchemaMismatch { object, found } => match found {
                Some(found) => write!(f, "{object} is not leasehold's: found {found}"),
                None => write!(f, "{object} is missing from a leasehold schema"),
            },
            Self::Busy(e) => write!(f, "the server gave up waiting: {}", detail(e)),
            Self::SerializationFailure { attempts, source } => write!(
                f,
                "serialization failure in each of {attempts} attempts: {}",
                detail(source)
            ),
            Self::Contended { rounds } => write!(
                f,
                "the row changed under the operation in each of its {rounds} rounds"
            ),
            Self::Disconnected { source } => match source {
                Some(e) => write!(f, "connection lost mid-operation: {}", detail(e)),
                None => f.write_str("connection dropped mid-operation"),
            },
            Self::TimedOut { after } => write!(f, "no answer within {after:?}"),
            Self::ConnectionClosed => f.write_str("the connection handed to the store is closed"),
            Self::FenceEnded => f.write_str("the fenced closure ended the transaction itself"),
            #[cfg(feature = "deadpool")]
            Self::Pool(e) => write!(f, "pool: {e}"),
            Self::Runtime(e) => write!(f, "cannot start the store's runtime: {e}"),
            Self::Clock(e) => write!(f, "clock: {e}"),
            Self::Random(e) => write!(f, "random source: {e}"),
            Self::CorruptRow { resource, reason } => {
                write!(f, "the row of {resource:?} is corrupt: {reason}")
            }
            Self::Postgres(e) => write!(f, "postgres: {}", detail(e)),
        }
    }
}

/// The server's message when there is one (tokio-postgres' own Display says only "db error").
fn detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::InvalidTtl(e) => Some(e),
            Self::Rejected(e) => Some(e),
            Self::Clock(e) => Some(e),
            Self::Random(e) => Some(e),
            Self::Runtime(e) => Some(e),
            #[cfg(feature = "deadpool")]
            Self::Pool(e) => Some(e),
            Self::InvalidUrl(e)
            | Self::Connect(e)
            | Self::Auth(e)
            | Self::NoSuchDatabase(e)
            | Self::Busy(e)
            | Self::SerializationFailure { source: e, .. }
            | Self::Postgres(e) => Some(e),
            Self::PermissionDenied { source, .. }
            | Self::ReadOnly(source)
            | Self::Disconnected { source } => source.as_ref().map(|e| e as _),
            _ => None,
        }
    }
}

impl StoreError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidName(_) | Self::InvalidTtl(_) | Self::Rejected(_) => {
                ErrorKind::InvalidInput
            }
            Self::ForeignLease { .. } => ErrorKind::ForeignLease,
            Self::Busy(_) | Self::SerializationFailure { .. } | Self::Contended { .. } => {
                ErrorKind::Busy
            }
            Self::Connect(_)
            | Self::ConnectTimeout { .. }
            | Self::Disconnected { .. }
            | Self::TimedOut { .. }
            | Self::ConnectionClosed => ErrorKind::Unavailable,
            #[cfg(feature = "deadpool")]
            Self::Pool(_) => ErrorKind::Unavailable,
            Self::InvalidUrl(_)
            | Self::InvalidSchemaName { .. }
            | Self::Auth(_)
            | Self::NoSuchDatabase(_)
            | Self::PermissionDenied { .. }
            | Self::ReadOnly(_)
            | Self::InTransaction
            | Self::UnsupportedServer { .. }
            | Self::SchemaTooNew { .. }
            | Self::SchemaMismatch { .. }
            | Self::FenceEnded => ErrorKind::Setup,
            Self::Clock(_) | Self::Random(_) | Self::Runtime(_) => ErrorKind::Environment,
            Self::CorruptRow { .. } | Self::Postgres(_) => ErrorKind::Storage,
        }
    }

    fn decide_error(&self) -> Option<DecideError> {
        match self {
            Self::Rejected(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

impl From<TtlError> for Error {
    fn from(e: TtlError) -> Self {
        Self::InvalidTtl(e)
    }
}

impl From<DecideError> for Error {
    fn from(e: DecideError) -> Self {
        Self::Rejected(e)
    }
}

impl From<CorruptRow> for Error {
    fn from(e: CorruptRow) -> Self {
        Self::CorruptRow {
            resource: e.resource,
            reason: e.reason,
        }
    }
}

impl From<ClockError> for Error {
    fn from(e: ClockError) -> Self {
        Self::Clock(e)
    }
}

impl From<tokio_postgres::Error> for Error {
    /// Classifies an error of the caller's own statements (inside
    /// [`with_fence`](crate::AsyncPgStore::with_fence)) as the store classifies its own, so that
    /// `?` works in a closure that returns this `Error`.
    fn from(e: tokio_postgres::Error) -> Self {
        crate::sqlstate::classify(crate::Statement::Caller, e).into_error()
    }
}
