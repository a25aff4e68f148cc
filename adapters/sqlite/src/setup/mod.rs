//! Opening: the connection's settings are checked, the schema is read, and only then is anything
//! written — the switch to WAL, the schema's creation or upgrade. A database this build must
//! refuse is left as it was.

pub(crate) mod connection;
pub(crate) mod schema;

use leasehold_contract::StoreId;
use leasehold_core::Timestamp;

use crate::error::Error;
use crate::options::Durability;
use crate::seam::{Seam, Statement};
use crate::store::SqliteStore;
use schema::Found;

impl<S: Seam> SqliteStore<S> {
    /// Checks the connection and the database, creates or upgrades the schema if needed, and
    /// returns the store's id.
    pub(crate) fn prepare(&self, durability: Option<Durability>) -> Result<StoreId, Error> {
        self.run_waiting(Statement::Schema, None, |c| connection::check(c))?;
        let found = schema::check(&self.run(Statement::Schema, |c| schema::inspect(c))?)?;
        match durability {
            Some(durability) => self.set_durability(durability)?,
            None => {
                let mode = self.run(Statement::Schema, |c| connection::journal_mode(c))?;
                connection::check_journal_mode(&mode)?;
            }
        }
        match found {
            Found::Current(id) => Ok(id),
            Found::Absent | Found::Version1 => self.create_or_upgrade(),
        }
    }

    fn set_durability(&self, durability: Durability) -> Result<(), Error> {
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        let mode = self.run(Statement::Schema, |c| {
            connection::set_durability(c, synchronous)
        })?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        Err(Error::UnsafeSetting {
            setting: "journal_mode = WAL (refused by SQLite)",
            found: mode,
        })
    }

    /// Creates the schema, or upgrades version 1, unless another opener got there first: all run
    /// under `BEGIN IMMEDIATE` and inspect again inside, so exactly one writes and the others see
    /// its work whole.
    fn create_or_upgrade(&self) -> Result<StoreId, Error> {
        let high_water = starting_high_water(self.now()?);
        let store_id = StoreId::random().map_err(Error::Random)?.as_u64();
        // In 1..=i64::MAX by construction: it is kept in an `INTEGER` column.
        let store_id = i64::try_from(store_id).unwrap_or(i64::MAX);
        let found = self.run_waiting(Statement::Schema, None, |conn| {
            let tx = crate::fence::begin_immediate(conn)?;
            let found = match schema::check(&schema::inspect(&tx)?) {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            match found {
                Found::Absent => schema::create(&tx, high_water, store_id)?,
                Found::Version1 => schema::upgrade_from_1(&tx, store_id)?,
                Found::Current(_) => {}
            }
            let found = schema::check(&schema::inspect(&tx)?);
            tx.commit()?;
            Ok(found)
        })?;
        match found {
            Found::Current(id) => Ok(id),
            other => unreachable!("a created or upgraded schema is current, found {other:?}"),
        }
    }
}

/// The high-water mark a new database's tokens start above, as the contract sets it for every
/// store (`leasehold_contract::starting_high_water`), as stored: 0 for none.
fn starting_high_water(now: Timestamp) -> i64 {
    leasehold_contract::starting_high_water(now)
        .and_then(|token| i64::try_from(token.get()).ok())
        .unwrap_or(0)
}
