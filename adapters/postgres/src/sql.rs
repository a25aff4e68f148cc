//! The pieces every statement text is built from (with `concat!`, so each text is one literal):
//! the clock, the columns of a row, the stored status codes, and the largest storable value.

/// `now` in SQL: the bound reading of a manual clock (feature `test-util`), or else — in
/// production the parameter is always NULL — the server's `clock_timestamp()` in whole
/// milliseconds since the Unix epoch. Never `now()` or `CURRENT_TIMESTAMP`, which are the start
/// of the transaction. `EXTRACT` gives an exact `numeric` (PostgreSQL 14 and later), so the
/// floor is exact. Every name is schema-qualified (`EXTRACT` is grammar, always `pg_catalog`'s),
/// so no object in the caller's `search_path` can stand in for it.
macro_rules! clock {
    ($param:literal) => {
        concat!(
            "COALESCE(",
            $param,
            "::bigint, pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000)::bigint)"
        )
    };
}
pub(crate) use clock;

/// The largest value a `bigint` column holds, `i64::MAX`: the core's `Timestamp::MAX` and
/// `FencingToken::MAX`.
macro_rules! max {
    () => {
        "9223372036854775807"
    };
}
pub(crate) use max;

/// The columns of a stored row with the table alias `l`, in the order `row::read` reads them.
macro_rules! columns {
    () => {
        "l.resource, l.owner, l.token, l.request_id, l.acquired_at, l.expires_at, l.status"
    };
}
pub(crate) use columns;

/// The integer each [`Status`](leasehold_core::Status) is stored as: every store's one mapping.
pub(crate) use leasehold_contract::status_code;

/// What every store's channel name starts with; the rest is the object id of the schema's
/// `leasehold_locks` table, so that the name is unique per schema in its database, short (at most
/// 20 bytes, far below the 63 a channel name may have, however long the schema's name) and
/// needs no quoting.
macro_rules! channel_prefix {
    () => {
        "leasehold_"
    };
}
pub(crate) use channel_prefix;

/// The wake-up hint for the changed row `l` (a `RETURNING` row of the lock table, which carries
/// the table's `tableoid`): a notification on the schema's channel whose payload is the resource
/// name. PostgreSQL delivers it when the statement's transaction commits, and never if it rolls
/// back.
macro_rules! notify {
    () => {
        concat!(
            "pg_catalog.pg_notify('",
            crate::sql::channel_prefix!(),
            "' || l.tableoid, l.resource)"
        )
    };
}
pub(crate) use notify;
