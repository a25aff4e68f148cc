//! [`Audit`] (feature `test-util`): a store's whole state as the core's [`LockTable`], so a test
//! kit can compare it with the reference after every step.

use leasehold_core::LockTable;

/// Reads a store's every record and its high-water mark, for tests (feature `test-util`).
pub trait Audit {
    /// The store's error.
    type Error;

    /// Every stored record and the store's high-water mark for resources without a record, as
    /// the core's [`LockTable`].
    ///
    /// # Errors
    ///
    /// A store failure, or a row that breaks the schema's rules.
    fn snapshot(&self) -> Result<LockTable, Self::Error>;
}
