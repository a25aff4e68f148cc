//! A stored row: the checks that turn what PostgreSQL returns into the core's [`LeaseRecord`]
//! and [`Timestamp`]. The schema's constraints make most bad rows impossible; what they cannot
//! rule out (a hand-edited name) is reported as [`Error::CorruptRow`], never a panic.

use leasehold_contract::{Holder, Lease, StoreId};
use leasehold_core::{
    FencingToken, LeaseRecord, LockState, Owner, RequestId, ResourceName, Status, Timestamp,
};
use tokio_postgres::Row;

use crate::error::Error;
use crate::sql::status_code;

/// The status stored as `code`, if it is one.
pub(crate) fn status(code: i16) -> Option<Status> {
    Some(match code {
        status_code!(Active) => Status::Active,
        status_code!(Released) => Status::Released,
        status_code!(ReleasedAfterExpiry) => Status::ReleasedAfterExpiry,
        status_code!(Evicted) => Status::Evicted,
        _ => return None,
    })
}

/// A stored row as PostgreSQL returns it, before it is checked against the core's types.
#[derive(Debug)]
pub(crate) struct RawRow {
    resource: String,
    owner: String,
    token: i64,
    request_id: Vec<u8>,
    acquired_at: i64,
    expires_at: i64,
    status: i16,
}

/// A stored row, checked: its resource and its record.
pub(crate) type Record = (ResourceName, LeaseRecord);

impl RawRow {
    /// Reads the `columns!()` of `row` starting at column `from`; `None` when they are NULL (the
    /// outer join of a read found no row).
    pub(crate) fn read(row: &Row, from: usize) -> Result<Option<Self>, Error> {
        let Some(resource) = row
            .try_get::<_, Option<String>>(from)
            .map_err(Error::Postgres)?
        else {
            return Ok(None);
        };
        let get = |i| row.try_get::<_, i64>(from + i).map_err(Error::Postgres);
        Ok(Some(Self {
            resource,
            owner: row.try_get(from + 1).map_err(Error::Postgres)?,
            token: get(2)?,
            request_id: row.try_get(from + 3).map_err(Error::Postgres)?,
            acquired_at: get(4)?,
            expires_at: get(5)?,
            status: row.try_get(from + 6).map_err(Error::Postgres)?,
        }))
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

/// The clock reading a statement returned in column `index`.
pub(crate) fn now(row: &Row, index: usize) -> Result<Timestamp, Error> {
    let value = row.try_get::<_, i64>(index).map_err(Error::Postgres)?;
    time(value).ok_or_else(|| corrupt("the clock", "negative time"))
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

/// A stored token, if it is one.
pub(crate) fn token(value: i64) -> Option<FencingToken> {
    FencingToken::new(u64::try_from(value).ok()?)
}

/// A stored time, if it is one.
pub(crate) fn time(value: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(u64::try_from(value).ok()?))
}

/// A value the core keeps as `u64` and the schema as `bigint`. Every value the core accepts
/// (tokens, timestamps) is at most `i64::MAX`.
pub(crate) fn bigint(value: u64) -> i64 {
    i64::try_from(value).expect("the core keeps tokens and times at most i64::MAX")
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
        assert_eq!(bigint(FencingToken::MAX.get()), i64::MAX);
    }
}
