//! Checks stored rows against the core's types. The schema's `CHECK`s and `STRICT` types make most
//! bad rows impossible; what they cannot rule out (a hand-edited name or a negative time) is
//! reported as [`Error::CorruptRow`], never a panic.

use leasehold_core::{
    FencingToken, LeaseRecord, LockState, Owner, RequestId, ResourceName, Status, Timestamp,
};

use crate::error::Error;
use crate::outcome::{Holder, Lease};
use crate::sql::RawRow;

/// A stored row, checked: its resource and its record.
pub(crate) type Record = (ResourceName, LeaseRecord);

impl RawRow {
    fn corrupt(&self, reason: &'static str) -> Error {
        Error::CorruptRow {
            resource: self.resource.clone(),
            reason,
        }
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

pub(crate) fn holder(resource: &ResourceName, record: &LeaseRecord) -> Holder {
    Holder {
        resource: resource.clone(),
        owner: record.owner.clone(),
        token: record.token,
        acquired_at: record.acquired_at,
        expires_at: record.expires_at,
    }
}

pub(crate) fn core_holder(resource: &ResourceName, holder: leasehold_core::Holder) -> Holder {
    Holder {
        resource: resource.clone(),
        owner: holder.owner,
        token: holder.token,
        acquired_at: holder.acquired_at,
        expires_at: holder.expires_at,
    }
}

pub(crate) fn lease(resource: ResourceName, record: LeaseRecord) -> Lease {
    Lease::from_parts(
        resource,
        record.owner,
        record.token,
        record.request_id,
        record.acquired_at,
        record.expires_at,
    )
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

fn status(value: i64) -> Option<Status> {
    Some(match value {
        0 => Status::Active,
        1 => Status::Released,
        2 => Status::ReleasedAfterExpiry,
        3 => Status::Evicted,
        _ => return None,
    })
}
