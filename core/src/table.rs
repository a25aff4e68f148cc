//! [`LockTable`]: the specification of a whole store, many resources plus pruning.

use std::collections::BTreeMap;

use crate::error::DecideError;
use crate::name::{Owner, ResourceName};
use crate::outcome::{Holder, Outcome};
use crate::state::{LeaseRecord, LockState};
use crate::time::Timestamp;
use crate::token::FencingToken;
use crate::transition::{Decision, Request};

/// Every resource's [`LockState`], as one store keeps them: the reference an adapter's whole API
/// is tested against.
///
/// Resources are independent: a request about one never reads or writes another. The one thing
/// they share is the **pruned high-water mark**: when [`LockTable::prune`] deletes records, it
/// keeps the largest token among them, and every resource without a record starts above it. One
/// number for the whole table (rather than one per pruned resource) is what lets pruning actually
/// free space while still never repeating a token for any resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockTable<R = ResourceName, O = Owner> {
    records: BTreeMap<R, LeaseRecord<O>>,
    pruned_high_water: Option<FencingToken>,
}

impl<R, O> Default for LockTable<R, O> {
    fn default() -> Self {
        Self {
            records: BTreeMap::new(),
            pruned_high_water: None,
        }
    }
}

impl<R: Ord + Clone, O: Clone + Eq> LockTable<R, O> {
    /// An empty table: no resource has ever been granted.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A table holding `records`, whose resources without a record start above
    /// `pruned_high_water` — for example a store's state read back for comparison, or a store
    /// whose token sequence starts above a floor.
    #[must_use]
    pub fn from_records(
        records: impl IntoIterator<Item = (R, LeaseRecord<O>)>,
        pruned_high_water: Option<FencingToken>,
    ) -> Self {
        Self {
            records: records.into_iter().collect(),
            pruned_high_water,
        }
    }

    /// The state of `resource`.
    #[must_use]
    pub fn state(&self, resource: &R) -> LockState<O> {
        match self.records.get(resource) {
            Some(record) => LockState::Recorded(record.clone()),
            None => LockState::Vacant {
                high_water: self.pruned_high_water,
            },
        }
    }

    /// Decides `request` about `resource` at `now`, without changing the table.
    ///
    /// # Errors
    ///
    /// As [`LockState::decide`].
    pub fn decide(
        &self,
        resource: &R,
        request: &Request<O>,
        now: Timestamp,
    ) -> Result<Decision<O>, DecideError> {
        self.state(resource).decide(request, now)
    }

    /// Decides `request` about `resource` at `now` and writes the result.
    ///
    /// # Errors
    ///
    /// As [`LockState::decide`]; the table is unchanged on error.
    pub fn apply(
        &mut self,
        resource: &R,
        request: &Request<O>,
        now: Timestamp,
    ) -> Result<Outcome<O>, DecideError> {
        let decision = self.decide(resource, request, now)?;
        if let Some(record) = decision.write {
            self.records.insert(resource.clone(), record);
        }
        Ok(decision.outcome)
    }

    /// The holder of `resource`'s lease valid at `now`, if any.
    #[must_use]
    pub fn holder(&self, resource: &R, now: Timestamp) -> Option<Holder<O>> {
        self.records
            .get(resource)
            .filter(|record| record.is_valid_at(now))
            .map(LeaseRecord::holder)
    }

    /// Every lease valid at `now`, ordered by resource.
    pub fn holders(&self, now: Timestamp) -> impl Iterator<Item = (&R, Holder<O>)> {
        self.records
            .iter()
            .filter(move |(_, record)| record.is_valid_at(now))
            .map(|(resource, record)| (resource, record.holder()))
    }

    /// Deletes every record over for more than `idle_for_ms` milliseconds at `now` (see
    /// [`LeaseRecord::is_prunable`]), raising the pruned high-water mark to the largest token
    /// deleted. Returns how many records were deleted.
    pub fn prune(&mut self, now: Timestamp, idle_for_ms: u64) -> usize {
        let before = self.records.len();
        let mut high_water = self.pruned_high_water;
        self.records.retain(|_, record| {
            let prunable = record.is_prunable(now, idle_for_ms);
            if prunable {
                high_water = high_water.max(Some(record.token));
            }
            !prunable
        });
        self.pruned_high_water = high_water;
        before - self.records.len()
    }

    /// Every stored record, ordered by resource.
    pub fn records(&self) -> impl Iterator<Item = (&R, &LeaseRecord<O>)> {
        self.records.iter()
    }

    /// The largest token among all pruned records (`None`: nothing was pruned yet).
    #[must_use]
    pub fn pruned_high_water(&self) -> Option<FencingToken> {
        self.pruned_high_water
    }
}
