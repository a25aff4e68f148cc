//! The one mapping from a PostgreSQL failure to what the store does with it: retry the
//! statement, drop the connection, or report a typed [`Error`].

use tokio_postgres::error::SqlState;

use crate::error::Error;
use crate::seam::Statement;

/// The SQLSTATE the token guard raises when the high-water mark is at `i64::MAX`: every fencing
/// token has been issued (see `setup::schema`).
pub(crate) const TOKENS_EXHAUSTED: &str = "LH001";

/// What to do with a failed statement.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A serialization failure or a deadlock: the statement was rolled back and may be sent again
    /// as it was (same request id).
    Retry(tokio_postgres::Error),
    /// The connection is gone, or must go (no answer in time): the caller drops it. The
    /// statement may or may not have been applied. Carries the caller's error
    /// ([`Error::Disconnected`] or [`Error::TimedOut`]).
    Lost(Error),
    /// Anything else: the statement was rolled back, and the caller gets this error.
    Fail(Error),
}

impl Failure {
    /// The error a caller sees when the store does not retry.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Self::Retry(source) => Error::SerializationFailure {
                attempts: 1,
                source,
            },
            Self::Lost(e) | Self::Fail(e) => e,
        }
    }
}

/// Classifies a failure of `statement`.
pub(crate) fn classify(statement: Statement, e: tokio_postgres::Error) -> Failure {
    if connection_is_gone(&e) {
        return Failure::Lost(Error::Disconnected { source: Some(e) });
    }
    let Some(code) = e.code().cloned() else {
        return Failure::Fail(Error::Postgres(e));
    };
    if code == SqlState::T_R_SERIALIZATION_FAILURE || code == SqlState::T_R_DEADLOCK_DETECTED {
        return Failure::Retry(e);
    }
    Failure::Fail(refusal(statement, &code, e))
}

/// A failure that rolled the statement back, as the caller's error.
fn refusal(statement: Statement, code: &SqlState, e: tokio_postgres::Error) -> Error {
    match code.code() {
        // statement_timeout or a cancel request; lock_timeout.
        "57014" | "55P03" => Error::Busy(e),
        "42501" => Error::PermissionDenied {
            privilege: e
                .as_db_error()
                .map_or_else(String::new, |db| db.message().to_owned()),
            source: Some(e),
        },
        "25006" => Error::ReadOnly(Some(e)),
        // `token + 1` past i64::MAX (a recorded resource), or the token guard (a vacant one).
        "22003" | TOKENS_EXHAUSTED if statement == Statement::Acquire => {
            Error::Rejected(leasehold_core::DecideError::TokensExhausted)
        }
        "3D000" => Error::NoSuchDatabase(e),
        "28P01" | "28000" => Error::Auth(e),
        _ => Error::Postgres(e),
    }
}

/// Whether the connection died under the statement: the client saw the socket close or fail, or
/// the server ended the session (a `FATAL` error such as `pg_terminate_backend`'s 57P01, or
/// `idle_in_transaction_session_timeout`).
fn connection_is_gone(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let fatal = matches!(db.severity(), "FATAL" | "PANIC");
        return fatal || db.code().code().starts_with("08");
    }
    std::error::Error::source(e).is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
}

/// Classifies a failure to connect.
pub(crate) fn connect_error(e: tokio_postgres::Error) -> Error {
    match e.code().map(SqlState::code) {
        Some("28P01" | "28000") => Error::Auth(e),
        Some("3D000") => Error::NoSuchDatabase(e),
        _ => Error::Connect(e),
    }
}
