//! A stored row, for store implementations: the one mapping between the columns every SQL store
//! keeps and the core's [`LeaseRecord`], and the answers built from a record.
//!
//! A store reads its row's seven columns into a [`StoredRow`] with its own driver and hands it
//! here; the checks that turn it into the core's types are the same for every store. The schemas'
//! constraints make most bad rows impossible; what they cannot rule out (a hand-edited name, a
//! negative time) is a [`CorruptRow`], never a panic.

use std::fmt;
use std::time::{Duration, Instant};

use leasehold_core::{
    FencingToken, LeaseRecord, LockState, Owner, RequestId, ResourceName, Status, Timestamp,
};

use crate::{Holder, Lease, StoreId};

/// The integer each [`Status`](leasehold_core::Status) is stored as: the one mapping, for the SQL
/// texts (through `concat!`, so each text stays one literal) and for [`status`] alike.
///
/// ```
/// assert_eq!(concat!("status = ", leasehold_contract::status_code!(Active)), "status = 0");
/// ```
#[macro_export]
macro_rules! status_code {
    (Active) => {
        0
    };
    (Released) => {
        1
    };
    (ReleasedAfterExpiry) => {
        2
    };
    (Evicted) => {
        3
    };
}

/// The status stored as `code`, if it is one.
#[must_use]
pub fn status(code: i64) -> Option<Status> {
    Some(match code {
        status_code!(Active) => Status::Active,
        status_code!(Released) => Status::Released,
        status_code!(ReleasedAfterExpiry) => Status::ReleasedAfterExpiry,
        status_code!(Evicted) => Status::Evicted,
        _ => return None,
    })
}

/// A stored token, if it is one (1 to `i64::MAX`).
#[must_use]
pub fn token(value: i64) -> Option<FencingToken> {
    FencingToken::new(u64::try_from(value).ok()?)
}

/// A stored time in milliseconds, if it is one (not negative).
#[must_use]
pub fn time(value: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(u64::try_from(value).ok()?))
}

/// A value the core keeps as `u64` and the schemas as a signed 64-bit integer.
///
/// # Panics
///
/// If `value` is over `i64::MAX`, which no token or time the core accepts is.
#[must_use]
pub fn bigint(value: u64) -> i64 {
    i64::try_from(value).expect("the core keeps tokens and times at most i64::MAX")
}

fn request_id(bytes: &[u8]) -> Option<RequestId> {
    Some(RequestId::from_bytes(bytes.try_into().ok()?))
}

/// A stored row as the database returns it, before it is checked against the core's types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the columns, named as in every schema
pub struct StoredRow {
    pub resource: String,
    pub owner: String,
    pub token: i64,
    pub request_id: Vec<u8>,
    pub acquired_at: i64,
    pub expires_at: i64,
    pub status: i64,
}

/// A stored row, checked: its resource and its record.
pub type Record = (ResourceName, LeaseRecord);

/// A row the core's types cannot hold: which resource, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRow {
    /// The row's resource (or, for a row that is not a lock, what was being read).
    pub resource: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl CorruptRow {
    /// A corrupt row about `resource`.
    pub fn new(resource: impl ToString, reason: &'static str) -> Self {
        Self {
            resource: resource.to_string(),
            reason,
        }
    }
}

impl fmt::Display for CorruptRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the stored row of {:?} is corrupt: {}",
            self.resource, self.reason
        )
    }
}

impl std::error::Error for CorruptRow {}

impl StoredRow {
    fn corrupt(&self, reason: &'static str) -> CorruptRow {
        CorruptRow::new(&self.resource, reason)
    }

    /// The row as the core's record.
    ///
    /// # Errors
    ///
    /// [`CorruptRow`] if a column holds what the core's type cannot.
    pub fn into_record(self) -> Result<Record, CorruptRow> {
        let record = LeaseRecord {
            owner: Owner::new(self.owner.as_str()).map_err(|_| self.corrupt("invalid owner"))?,
            token: token(self.token).ok_or_else(|| self.corrupt("invalid token"))?,
            request_id: request_id(&self.request_id)
                .ok_or_else(|| self.corrupt("invalid request id"))?,
            acquired_at: time(self.acquired_at).ok_or_else(|| self.corrupt("negative time"))?,
            expires_at: time(self.expires_at).ok_or_else(|| self.corrupt("negative time"))?,
            status: status(self.status).ok_or_else(|| self.corrupt("invalid status"))?,
        };
        let resource =
            ResourceName::new(self.resource.as_str()).map_err(|_| self.corrupt("invalid name"))?;
        Ok((resource, record))
    }

    /// The row as the holder it records.
    ///
    /// # Errors
    ///
    /// As [`StoredRow::into_record`].
    pub fn into_holder(self) -> Result<Holder, CorruptRow> {
        let (resource, record) = self.into_record()?;
        Ok(holder(resource, &record))
    }
}

/// The resource's state as the core sees it, given the read of its row (`None`: no row).
///
/// A vacant resource's high-water mark only matters to a grant, and a store's follow-up read
/// never grants, so the mark is left unread (`None`).
///
/// # Errors
///
/// As [`StoredRow::into_record`].
pub fn state_of(row: Option<StoredRow>) -> Result<LockState, CorruptRow> {
    Ok(match row {
        Some(row) => LockState::Recorded(row.into_record()?.1),
        None => LockState::Vacant { high_water: None },
    })
}

/// The holder `record` describes.
#[must_use]
pub fn holder(resource: ResourceName, record: &LeaseRecord) -> Holder {
    Holder::new(
        resource,
        record.owner.clone(),
        record.token,
        record.acquired_at,
        record.expires_at,
    )
}

/// The lease `record` describes, granted by `store` to a request sent at `sent` for `ttl`.
#[must_use]
pub fn lease((resource, record): Record, store: StoreId, sent: Instant, ttl: Duration) -> Lease {
    let request_id = record.request_id;
    Lease::new(holder(resource, &record), request_id, store, sent, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> StoredRow {
        StoredRow {
            resource: "r".into(),
            owner: "alice".into(),
            token: 7,
            request_id: vec![0; 16],
            acquired_at: 10,
            expires_at: 20,
            status: status_code!(Active),
        }
    }

    #[test]
    fn every_status_has_one_code_and_back() {
        let all = [
            Status::Active,
            Status::Released,
            Status::ReleasedAfterExpiry,
            Status::Evicted,
        ];
        for (code, expected) in (0..).zip(all) {
            assert_eq!(status(code), Some(expected));
        }
        assert_eq!(status(4), None);
        assert_eq!(status(-1), None);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert_eq!(token(0), None);
        assert_eq!(token(-1), None);
        assert_eq!(token(1), FencingToken::new(1));
        assert_eq!(time(-1), None);
        assert_eq!(time(0), Some(Timestamp::ZERO));
        assert_eq!(request_id(&[0; 15]), None);
        assert_eq!(request_id(&[0; 16]), Some(RequestId::from_u128(0)));
        assert_eq!(bigint(FencingToken::MAX.get()), i64::MAX);
    }

    #[test]
    fn a_good_row_is_its_record() {
        let (resource, record) = row().into_record().unwrap();
        assert_eq!(resource.as_str(), "r");
        assert_eq!(record.owner.as_str(), "alice");
        assert_eq!(record.token.get(), 7);
        assert_eq!(record.acquired_at, Timestamp::from_millis(10));
        assert_eq!(record.expires_at, Timestamp::from_millis(20));
        assert_eq!(record.status, Status::Active);
        assert_eq!(
            state_of(None).unwrap(),
            LockState::Vacant { high_water: None }
        );
        assert_eq!(state_of(Some(row())).unwrap(), LockState::Recorded(record));
    }

    /// A change that spoils one column.
    type Spoil = fn(&mut StoredRow);

    #[test]
    fn each_bad_column_is_named() {
        let cases: [(Spoil, &str); 7] = [
            (|r| r.owner = String::new(), "invalid owner"),
            (|r| r.token = 0, "invalid token"),
            (|r| r.request_id = vec![1; 3], "invalid request id"),
            (|r| r.acquired_at = -1, "negative time"),
            (|r| r.expires_at = -5, "negative time"),
            (|r| r.status = 9, "invalid status"),
            (|r| r.resource = "a\nb".into(), "invalid name"),
        ];
        for (spoil, reason) in cases {
            let mut bad = row();
            spoil(&mut bad);
            let resource = bad.resource.clone();
            assert_eq!(
                bad.into_record(),
                Err(CorruptRow { resource, reason }),
                "{reason}"
            );
        }
    }
}
