//! The model's state: the clock, the store (one core lock state per resource), the protected
//! resources and the clients.
//!
//! Everything is kept in small `Copy` values of 8-bit fields, so that the checker clones and
//! hashes states without touching the heap. A stored row converts losslessly to and from the
//! core's [`LockState`]; every decision about it is the core's.
//!
//! # The abstraction of stored rows
//!
//! Before a row is stored, [`Row::abstracted`] erases what no decision of this model can
//! observe, so that states that differ only there are one state:
//!
//! - `acquired_at` is never read by a decision;
//! - `request_id` is only read by an acquire carrying the same id, which happens only when lost
//!   replies are modelled (the retry); otherwise every attempt has a fresh id;
//! - of a lease ended by release, only "ended" matters: decisions on an ended record never read
//!   its expiry, and the released-in-time / released-after-expiry distinction only changes the
//!   answer to a second release with the same token, which no client of this model sends
//!   (a client forgets its lease as soon as it releases it).
//!
//! The reduction is sound because the erased fields never change which transitions are enabled or
//! what they write; a test in `tests/model.rs` checks that every verdict is the same without it.

use leasehold_core::{FencingToken, LeaseRecord, LockState, RequestId, Status, Timestamp};

use crate::config::{MAX_ATTEMPTS, MAX_CLIENTS, MAX_RESOURCES};

/// The request id of `client`'s acquire attempt number `attempt` (from 0): unique per attempt,
/// never 0 (the abstraction's "erased"), and with the client in the high nibble so that symmetry
/// reduction can renumber it.
#[must_use]
pub fn request_id(client: u8, attempt: u8) -> u8 {
    debug_assert!(client < MAX_CLIENTS && attempt < MAX_ATTEMPTS);
    1 + (client << 4) + attempt
}

/// How a stored row stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowStatus {
    /// No record: never granted.
    #[default]
    Vacant,
    /// The core's [`Status::Active`].
    Active,
    /// The core's [`Status::Released`].
    Released,
    /// The core's [`Status::ReleasedAfterExpiry`].
    ReleasedAfterExpiry,
    /// The core's [`Status::Evicted`].
    Evicted,
}

/// One resource's stored row: the core's [`LockState`] in 8-bit fields. For a vacant row,
/// `token` is the high-water mark (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Row {
    /// Vacant, or the record's status.
    pub status: RowStatus,
    /// The holder's client index.
    pub owner: u8,
    /// The record's token (the high-water mark when vacant).
    pub token: u8,
    /// The record's request id.
    pub request: u8,
    /// When the record's lease was granted.
    pub acquired_at: u8,
    /// When the record's lease ends or ended.
    pub expires_at: u8,
}

/// Narrows a core value the configuration bounds keep under 256 (see `Config::validate`).
fn narrow<T: TryInto<u8> + Copy + core::fmt::Display>(value: T, what: &str) -> u8 {
    value
        .try_into()
        .unwrap_or_else(|_| panic!("{what} {value} escaped the configuration bounds"))
}

impl Row {
    /// The row as the core sees it.
    #[must_use]
    pub fn to_core(self) -> LockState<u8> {
        let status = match self.status {
            RowStatus::Vacant => {
                return LockState::Vacant {
                    high_water: FencingToken::new(self.token.into()),
                };
            }
            RowStatus::Active => Status::Active,
            RowStatus::Released => Status::Released,
            RowStatus::ReleasedAfterExpiry => Status::ReleasedAfterExpiry,
            RowStatus::Evicted => Status::Evicted,
        };
        LockState::Recorded(LeaseRecord {
            owner: self.owner,
            token: FencingToken::new(self.token.into())
                .expect("a recorded row's token is at least 1"),
            request_id: RequestId::from_u128(self.request.into()),
            acquired_at: Timestamp::from_millis(self.acquired_at.into()),
            expires_at: Timestamp::from_millis(self.expires_at.into()),
            status,
        })
    }

    /// The row of a core record the core decided to write.
    #[must_use]
    pub fn from_record(record: &LeaseRecord<u8>) -> Self {
        let status = match record.status {
            Status::Active => RowStatus::Active,
            Status::Released => RowStatus::Released,
            Status::ReleasedAfterExpiry => RowStatus::ReleasedAfterExpiry,
            Status::Evicted => RowStatus::Evicted,
        };
        Self {
            status,
            owner: record.owner,
            token: narrow(record.token.get(), "token"),
            request: narrow(record.request_id.as_u128(), "request id"),
            acquired_at: narrow(record.acquired_at.as_millis(), "time"),
            expires_at: narrow(record.expires_at.as_millis(), "time"),
        }
    }

    /// The row with what no decision of the model observes erased (see the module docs).
    #[must_use]
    pub fn abstracted(self, keep_request_ids: bool) -> Self {
        let ended = matches!(
            self.status,
            RowStatus::Released | RowStatus::ReleasedAfterExpiry
        );
        Self {
            status: if ended {
                RowStatus::Released
            } else {
                self.status
            },
            request: if keep_request_ids { self.request } else { 0 },
            acquired_at: 0,
            expires_at: if ended { 0 } else { self.expires_at },
            ..self
        }
    }

    /// The row with its owner (and the client in its request id) renumbered.
    fn renumbered(self, renumber: &[u8; MAX_CLIENTS as usize]) -> Self {
        if self.status == RowStatus::Vacant {
            return self;
        }
        let request = match self.request {
            0 => 0,
            id => request_id(renumber[usize::from((id - 1) >> 4)], (id - 1) & 0x0f),
        };
        Self {
            owner: renumber[usize::from(self.owner)],
            request,
            ..self
        }
    }

    /// Whether the row holds a lease valid at `clock`.
    #[must_use]
    pub fn is_valid_at(self, clock: u8) -> bool {
        self.status == RowStatus::Active && clock < self.expires_at
    }
}

/// What a client is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Holds nothing.
    #[default]
    Idle,
    /// `check-then-act` only: read the row at `read_at`, found it free, about to write.
    Deciding {
        /// The resource it read.
        resource: u8,
        /// The clock reading it decided with.
        read_at: u8,
    },
    /// Sent an acquire whose reply was lost; does not know whether it holds the lease.
    Unsure {
        /// The resource it asked for.
        resource: u8,
    },
    /// Believes it holds a lease.
    Holding {
        /// The resource.
        resource: u8,
        /// The lease's token.
        token: u8,
        /// The expiry it was told.
        expires_at: u8,
        /// Checked its lease, then paused: its next write will not check again.
        paused: bool,
    },
}

/// One client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Client {
    /// What it is doing.
    pub phase: Phase,
    /// How many acquire attempts it has made.
    pub attempts: u8,
}

impl Client {
    /// Whether the client believes it holds a lease on `resource` that is valid at `clock`.
    #[must_use]
    pub fn holds_valid(self, resource: u8, clock: u8) -> bool {
        matches!(self.phase, Phase::Holding { resource: r, expires_at, .. }
            if r == resource && clock < expires_at)
    }
}

/// Bits of [`Ghost::flags`]: facts about the history, tracked only for the properties that read
/// them (an untracked flag stays clear, so it does not split states).
pub mod flag {
    /// A grant reused or lowered a token.
    pub const TOKEN_NOT_INCREASED: u8 = 1;
    /// The protected resource accepted a token older than one it had accepted.
    pub const WRITE_OUT_OF_ORDER: u8 = 1 << 1;
    /// A lease was granted on a resource whose previous lease had expired.
    pub const GRANTED_AFTER_EXPIRY: u8 = 1 << 2;
    /// A lease was granted on a resource whose previous lease was released.
    pub const GRANTED_AFTER_RELEASE: u8 = 1 << 3;
    /// The protected resource accepted writes with two different tokens.
    pub const TWO_WRITERS: u8 = 1 << 4;
    /// A retried acquire got the lease its lost reply carried.
    pub const REPLAYED: u8 = 1 << 5;
    /// A lease was granted.
    pub const GRANTED: u8 = 1 << 6;
    /// Holder model: a renewal extended a keeper's deadline.
    pub const RENEWED: u8 = 1 << 7;
}

/// History a property needs and the state does not otherwise keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ghost {
    /// The largest token granted so far (tracked only for `tokens increase`).
    pub granted_max: u8,
    /// [`flag`] bits.
    pub flags: u8,
}

/// One resource: its stored row, its protected resource and its ghost history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    /// The store's row.
    pub row: Row,
    /// The protected resource: the newest token it accepted (0: none). A fenced resource refuses
    /// anything older.
    pub fence: u8,
    /// History for the properties.
    pub ghost: Ghost,
}

/// The whole state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// How many clients the model has (constant; symmetry reduction permutes only these).
    pub clients_in_use: u8,
    /// How many resources the model has (constant).
    pub resources_in_use: u8,
    /// The store's clock, in ticks.
    pub clock: u8,
    /// Resources `0..resources`; the rest stay default.
    pub resources: [Resource; MAX_RESOURCES as usize],
    /// Clients `0..clients`; the rest stay default.
    pub clients: [Client; MAX_CLIENTS as usize],
}

/// Bytes in [`State::pack`]: the clock, 9 per resource, 6 per client.
const PACKED_LEN: usize = 1 + 9 * MAX_RESOURCES as usize + 6 * MAX_CLIENTS as usize;

impl Phase {
    fn pack(self) -> [u8; 5] {
        match self {
            Self::Idle => [0; 5],
            Self::Deciding { resource, read_at } => [1, resource, read_at, 0, 0],
            Self::Unsure { resource } => [2, resource, 0, 0, 0],
            Self::Holding {
                resource,
                token,
                expires_at,
                paused,
            } => [3 + u8::from(paused), resource, token, expires_at, 0],
        }
    }
}

impl Resource {
    fn pack(&self) -> [u8; 9] {
        let row = self.row;
        let ghost = self.ghost;
        [
            row.status as u8,
            row.owner,
            row.token,
            row.request,
            row.acquired_at,
            row.expires_at,
            self.fence,
            ghost.granted_max,
            ghost.flags,
        ]
    }
}

/// The checker hashes every state it generates, tens of millions of times per run: one write of
/// the packed bytes is several times cheaper than a derived field-by-field hash. Equal states
/// pack to equal bytes, so this agrees with the derived `Eq`.
impl core::hash::Hash for State {
    fn hash<H: core::hash::Hasher>(&self, hasher: &mut H) {
        let (bytes, len) = self.pack();
        hasher.write(&bytes[..len]);
    }
}

impl State {
    /// Every field of the resources and clients in use, one byte each, and how many bytes that
    /// is. The counts in use are the same in every state of a run, so they are left out.
    #[must_use]
    pub fn pack(&self) -> ([u8; PACKED_LEN], usize) {
        let mut bytes = [0; PACKED_LEN];
        bytes[0] = self.clock;
        let mut len = 1;
        for resource in &self.resources[..usize::from(self.resources_in_use)] {
            bytes[len..len + 9].copy_from_slice(&resource.pack());
            len += 9;
        }
        for client in &self.clients[..usize::from(self.clients_in_use)] {
            bytes[len..len + 5].copy_from_slice(&client.phase.pack());
            bytes[len + 5] = client.attempts;
            len += 6;
        }
        (bytes, len)
    }

    /// The representative of this state's class under renumbering of clients: clients sorted by
    /// their own state and by which rows name them, rows renumbered to match. Two states that
    /// differ only by the clients' numbering have the same representative.
    #[must_use]
    pub fn representative(&self) -> Self {
        let used = usize::from(self.clients_in_use);
        let mut keys = [0_u64; MAX_CLIENTS as usize];
        let mut order = [0_u8; MAX_CLIENTS as usize];
        for ((key, slot), client) in keys.iter_mut().zip(&mut order).zip(0..self.clients_in_use) {
            *key = self.symmetry_key(client);
            *slot = client;
        }
        // The checker computes a representative for every state it generates: sort by keys
        // computed once, not by keys rebuilt at every comparison.
        order[..used].sort_unstable_by_key(|&client| keys[usize::from(client)]);
        let mut renumber = [0_u8; MAX_CLIENTS as usize];
        for (new, &old) in (0..).zip(&order[..used]) {
            renumber[usize::from(old)] = new;
        }
        let mut out = *self;
        for (new, &old) in order[..used].iter().enumerate() {
            out.clients[new] = self.clients[usize::from(old)];
        }
        for resource in &mut out.resources {
            resource.row = resource.row.renumbered(&renumber);
        }
        out
    }

    /// What distinguishes `client` from the others, packed so that equal keys mean
    /// interchangeable clients: its own state (the high 48 bits) and, per resource, whether the
    /// row names it and with which attempt's request id (5 bits each, the low 15 bits).
    fn symmetry_key(&self, client: u8) -> u64 {
        let me = self.client(client);
        let [p0, p1, p2, p3, p4] = me.phase.pack();
        let mut key = u64::from_be_bytes([p0, p1, p2, p3, p4, me.attempts, 0, 0]);
        for (shift, resource) in (0..).step_by(5).zip(&self.resources) {
            let row = resource.row;
            if row.status != RowStatus::Vacant && row.owner == client {
                let attempt = u64::from(row.request.wrapping_sub(1) & 0x0f);
                key |= (0x10 | attempt) << shift;
            }
        }
        key
    }

    /// Resource `index`.
    #[must_use]
    pub fn resource(&self, index: u8) -> &Resource {
        &self.resources[usize::from(index)]
    }

    /// Resource `index`, mutably.
    pub fn resource_mut(&mut self, index: u8) -> &mut Resource {
        &mut self.resources[usize::from(index)]
    }

    /// Client `index`.
    #[must_use]
    pub fn client(&self, index: u8) -> &Client {
        &self.clients[usize::from(index)]
    }

    /// Client `index`, mutably.
    pub fn client_mut(&mut self, index: u8) -> &mut Client {
        &mut self.clients[usize::from(index)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_the_core() {
        let row = Row {
            status: RowStatus::ReleasedAfterExpiry,
            owner: 2,
            token: 7,
            request: 9,
            acquired_at: 3,
            expires_at: 5,
        };
        let LockState::Recorded(record) = row.to_core() else {
            panic!("recorded")
        };
        assert_eq!(Row::from_record(&record), row);
        let vacant = Row {
            token: 4,
            ..Row::default()
        };
        assert_eq!(
            vacant.to_core(),
            LockState::Vacant {
                high_water: FencingToken::new(4)
            }
        );
    }

    #[test]
    fn abstraction_erases_only_unobservable_fields() {
        let active = Row {
            status: RowStatus::Active,
            owner: 1,
            token: 2,
            request: 3,
            acquired_at: 1,
            expires_at: 4,
        };
        let kept = active.abstracted(true);
        assert_eq!((kept.request, kept.acquired_at, kept.expires_at), (3, 0, 4));
        assert_eq!(active.abstracted(false).request, 0);
        let late = Row {
            status: RowStatus::ReleasedAfterExpiry,
            expires_at: 4,
            ..active
        };
        let early = Row {
            status: RowStatus::Released,
            expires_at: 2,
            ..active
        };
        assert_eq!(late.abstracted(false), early.abstracted(false));
        assert_eq!(late.abstracted(false).token, 2, "the token history is kept");
    }
}
