//! The transactional alternative: what a careful application writes without leasehold —
//! `BEGIN IMMEDIATE` (the write lock, taken before the read), `SELECT` the row, decide in Rust,
//! `UPDATE` or `INSERT`, `COMMIT`. Correct, because nothing can commit between the read and the
//! write; several statements, where the store sends one.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, named_params};

use crate::error::BenchError;
use crate::floor::{lock, millis};
use crate::locker::{Durability, Locker, TTL};
use crate::pragmas::{now_millis, open_raw};

const SELECT_ROW: &str =
    "SELECT token, status, expires_at FROM leasehold_locks WHERE resource = :resource";

const UPDATE_ROW: &str = "UPDATE leasehold_locks SET owner = :owner, token = token + 1, \
request_id = :request_id, acquired_at = :now, expires_at = :expires_at, status = 0 \
WHERE resource = :resource RETURNING token";

const INSERT_ROW: &str = "INSERT INTO leasehold_locks (resource, owner, token, request_id, \
acquired_at, expires_at, status) VALUES (:resource, :owner, \
(SELECT value FROM leasehold_meta WHERE key = 'pruned_high_water') + 1, \
:request_id, :now, :expires_at, 0) RETURNING token";

const END_ROW: &str = "UPDATE leasehold_locks SET status = :status, expires_at = :expires_at WHERE resource = :resource";

/// `(token, status, expires_at)` of a row.
type Row = (i64, i64, i64);

/// `BEGIN IMMEDIATE; SELECT; UPDATE or INSERT; COMMIT` on one raw connection.
#[derive(Debug)]
pub struct Transactional {
    conn: Mutex<Connection>,
}

/// A lease the transactional contender granted.
#[derive(Debug)]
pub struct TransactionalGrant {
    resource: String,
    token: i64,
}

impl Transactional {
    /// Opens a raw connection to `path` with the store's settings for `durability`.
    ///
    /// # Errors
    ///
    /// SQLite's.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, BenchError> {
        Ok(Self {
            conn: Mutex::new(open_raw(path, durability)?),
        })
    }
}

fn read_row(tx: &Transaction<'_>, resource: &str) -> rusqlite::Result<Option<Row>> {
    tx.prepare_cached(SELECT_ROW)?
        .query_row(named_params! { ":resource": resource }, |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
}

/// Writes a new lease for `owner` over the row (or into the vacancy) it found free.
fn grant(
    tx: &Transaction<'_>,
    found: Option<Row>,
    resource: &str,
    owner: &str,
) -> rusqlite::Result<i64> {
    let now = now_millis();
    let params = named_params! {
        ":resource": resource, ":owner": owner, ":request_id": [0_u8; 16],
        ":now": now, ":expires_at": now + millis(TTL),
    };
    let sql = if found.is_some() {
        UPDATE_ROW
    } else {
        INSERT_ROW
    };
    tx.prepare_cached(sql)?.query_row(params, |row| row.get(0))
}

impl Locker for Transactional {
    type Grant = TransactionalGrant;

    fn try_acquire(
        &self,
        resource: &str,
        owner: &str,
    ) -> Result<Option<TransactionalGrant>, BenchError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = read_row(&tx, resource)?;
        let held = matches!(found, Some((_, 0, expires_at)) if expires_at > now_millis_i64());
        let token = if held {
            None
        } else {
            Some(grant(&tx, found, resource, owner)?)
        };
        tx.commit()?;
        Ok(token.map(|token| TransactionalGrant {
            resource: resource.to_owned(),
            token,
        }))
    }

    fn release(&self, grant: &TransactionalGrant) -> Result<(), BenchError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_millis_i64();
        match read_row(&tx, &grant.resource)? {
            Some((token, 0, expires_at)) if token == grant.token => {
                let status = if expires_at > now { 1 } else { 2 };
                let params = named_params! {
                    ":resource": grant.resource, ":status": status,
                    ":expires_at": expires_at.min(now),
                };
                tx.prepare_cached(END_ROW)?.execute(params)?;
                tx.commit()?;
                Ok(())
            }
            other => Err(BenchError::protocol(format!(
                "transactional release of {} found {other:?}",
                grant.resource
            ))),
        }
    }
}

fn now_millis_i64() -> i64 {
    i64::try_from(now_millis()).unwrap_or(i64::MAX)
}
