//! A stored row: the one mapping of status codes, and the checks that turn a row into the core's
//! [`LeaseRecord`]. The schema's `CHECK`s and `STRICT` types make most bad rows impossible; what
//! they cannot rule out (a hand-edited name or a negative time) is reported as
//! [`Error::CorruptRow`], never a panic.

use leasehold_contract::{Holder, Lease, StoreId};
use leasehold_core::{
    FencingToken, LeaseRecord, LockState, Owner, RequestId, ResourceName, Status, Timestamp,
};
use rusqlite::Row;

use crate::error::Error;

/// The integer each [`Status`] is stored as: the one mapping, used by the SQL texts (through
/// `concat!`) and by [`status`] alike.
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
pub(crate) use status_code;

/// The columns of a stored row, in the order [`RawRow::from_row`] reads them.
macro_rules! columns {
    () => {
        "resource, owner, token, request_id, acquired_at, expires_at, status"
    };
}
pub(crate) use columns;

/// The status stored as `code`, if it is one.
pub(crate) fn status(code: i64) -> Option<Status> {
    Some(match code {
        status_code!(Active) => Status::Active,
        status_code!(Released) => Status::Released,
        status_code!(ReleasedAfterExpiry) => Status::ReleasedAfterExpiry,
        status_code!(Evicted) => Status::Evicted,
        _ => return None,
    })
}

/// A stored row as SQLite returns it, before it is checked against the core's types.
#[derive(Debug)]
pub(crate) struct RawRow {
    resource: String,
    owner: String,
    token: i64,
    request_id: Vec<u8>,
    acquired_at: i64,
    expires_at: i64,
    status: i64,
}

/// A stored row, checked: its resource and its record.
pub(crate) type Record = (ResourceName, LeaseRecord);

impl RawRow {
    /// Reads the [`columns!`] of `row`.
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            resource: row.get(0)?,
            owner: row.get(1)?,
            token: row.get(2)?,
            request_id: row.get(3)?,
            acquired_at: row.get(4)?,
            expires_at: row.get(5)?,
            status: row.get(6)?,
        })
    }

    fn corrupt(&self, reason: &'static str) -> Error {
        corrupt(&self.resource, reason)
    }

    /// The row as the core's record.
    pub(crate) fn into_record(self) -> Result<Record, Error> {
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
    pub(crate) fn into_holder(self) -> Result<Holder, Error> {
        let (resource, record) = self.into_record()?;
        Ok(holder(resource, &record))
    }
}

/// The resource's state as the core sees it, given the read of its row.
pub(crate) fn state_of(row: Option<RawRow>) -> Result<LockState, Error> {
    Ok(match row {
        Some(row) => LockState::Recorded(row.into_record()?.1),
        // A vacant resource's high-water mark only matters to a grant, and a follow-up read never
        // grants, so the mark is not read.
        None => LockState::Vacant { high_water: None },
    })
}

/// The holder `record` describes.
pub(crate) fn holder(resource: ResourceName, record: &LeaseRecord) -> Holder {
    Holder::new(
        resource,
        record.owner.clone(),
        record.token,
        record.acquired_at,
        record.expires_at,
    )
}

/// The lease `record` describes, granted by `store` to a request sent at `sent` for `ttl`.
pub(crate) fn lease(
    (resource, record): Record,
    store: StoreId,
    sent: std::time::Instant,
    ttl: std::time::Duration,
) -> Lease {
    let request_id = record.request_id;
    Lease::new(holder(resource, &record), request_id, store, sent, ttl)
}

pub(crate) fn token(value: i64) -> Option<FencingToken> {
    FencingToken::new(u64::try_from(value).ok()?)
}

pub(crate) fn time(value: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(u64::try_from(value).ok()?))
}

fn request_id(bytes: &[u8]) -> Option<RequestId> {
    Some(RequestId::from_bytes(bytes.try_into().ok()?))
}

/// A [`Error::CorruptRow`] about `resource`.
pub(crate) fn corrupt(resource: impl ToString, reason: &'static str) -> Error {
    Error::CorruptRow {
        resource: resource.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
