//! The holder model's state: the store's clock and row, and each holder's own clock, its keeper
//! and the reply it is waiting for.
//!
//! A holder's clock is counted in steps of a quarter tick ([`SUB_TICKS`] per tick at the store's
//! rate); one tick is one millisecond of the store's clock, so one step is 250 µs of the
//! holder's, which is what its [`LocalInstant`]s say.

use leasehold_core::{Keeper, LocalInstant, RenewReply, RenewTicket};

use crate::config::{MAX_HOLDERS, SUB_TICKS};
use crate::state::{Resource, RowStatus};

/// Nanoseconds in one step of a holder's clock: a tick is 1 ms.
const NANOS_PER_STEP: u64 = 1_000_000 / SUB_TICKS as u64;

/// The instant a holder's clock reads after `steps` steps.
#[must_use]
pub fn local_instant(steps: u8) -> LocalInstant {
    LocalInstant::from_nanos(u64::from(steps) * NANOS_PER_STEP)
}

/// A holder's instant in steps, for traces: exact for every instant the model produces, whose
/// nanoseconds are whole steps (or saturated, for a deadline past the clock's range).
#[must_use]
pub fn steps(instant: LocalInstant) -> u64 {
    instant.as_nanos() / NANOS_PER_STEP
}

/// The reply a holder is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    /// The acquire was sent at `sent_at` (steps of its clock) and decided at once; its answer
    /// (the granted token, or `None` for busy) is on its way.
    Acquire {
        /// The holder's clock when it sent the acquire.
        sent_at: u8,
        /// The token granted, or `None` when the lock was busy.
        granted: Option<u8>,
        /// Ticks the reply has been travelling.
        age: u8,
    },
    /// A renewal's answer is on its way.
    Renew {
        /// The keeper's ticket for the renewal.
        ticket: RenewTicket,
        /// What the holder will be told.
        reply: RenewReply,
        /// Ticks the reply has been travelling.
        age: u8,
    },
}

impl Pending {
    /// Ticks the reply has been travelling.
    #[must_use]
    pub fn age(self) -> u8 {
        match self {
            Self::Acquire { age, .. } | Self::Renew { age, .. } => age,
        }
    }

    fn aged(self) -> Self {
        match self {
            Self::Acquire {
                sent_at,
                granted,
                age,
            } => Self::Acquire {
                sent_at,
                granted,
                age: age + 1,
            },
            Self::Renew { ticket, reply, age } => Self::Renew {
                ticket,
                reply,
                age: age + 1,
            },
        }
    }
}

/// One client of the holder model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Holder {
    /// Its clock, in steps. It runs only while the holder holds a lease or waits for a grant,
    /// and is 0 otherwise: nothing reads the clock of a holder without a lease, and its next
    /// lease starts a new count.
    pub clock: u8,
    /// Acquire attempts made.
    pub attempts: u8,
    /// The lease it holds: its token and its keeper.
    pub lease: Option<(u8, Keeper)>,
    /// The reply it is waiting for.
    pub pending: Option<Pending>,
    /// Ghost: a renewal of its lease failed (tracked only for `answered renewals keep the
    /// lease`).
    pub renewal_failed: bool,
}

impl Holder {
    /// Whether its clock runs: it holds a lease or waits for a grant.
    #[must_use]
    pub fn clock_runs(&self) -> bool {
        self.lease.is_some()
            || matches!(
                self.pending,
                Some(Pending::Acquire {
                    granted: Some(_),
                    ..
                })
            )
    }

    /// The holder forgets its lease, or its busy answer: its clock stops and reads 0 again.
    pub fn forget(&mut self) {
        self.lease = None;
        self.clock = 0;
        self.renewal_failed = false;
    }

    /// Its clock's reading.
    #[must_use]
    pub fn now(&self) -> LocalInstant {
        local_instant(self.clock)
    }

    /// Whether it would act now: it holds a lease its keeper says is valid.
    #[must_use]
    pub fn acts(&self) -> bool {
        self.lease
            .is_some_and(|(_, keeper)| keeper.is_valid(self.now()))
    }
}

/// The whole state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HolderState {
    /// How many holders the model has (constant).
    pub holders_in_use: u8,
    /// The store's clock, in ticks.
    pub clock: u8,
    /// The one resource: its stored row and its ghost history (no protected resource: holders
    /// are checked without fencing).
    pub resource: Resource,
    /// Holders `0..holders_in_use`; the rest stay default.
    pub holders: [Holder; MAX_HOLDERS as usize],
}

impl HolderState {
    /// Holder `index`.
    #[must_use]
    pub fn holder(&self, index: u8) -> &Holder {
        &self.holders[usize::from(index)]
    }

    /// Holder `index`, mutably.
    pub fn holder_mut(&mut self, index: u8) -> &mut Holder {
        &mut self.holders[usize::from(index)]
    }

    /// Whether the store counts `client`'s lease `token` as valid at its clock.
    #[must_use]
    pub fn store_counts_valid(&self, client: u8, token: u8) -> bool {
        let row = self.resource.row;
        row.status == RowStatus::Active
            && row.owner == client
            && row.token == token
            && row.is_valid_at(self.clock)
    }

    /// The clock ticks: the store's by one, each running holder clock by `SUB_TICKS + drift[i]`
    /// steps, and every reply in flight ages by one tick.
    pub fn tick(&mut self, drift: [i8; MAX_HOLDERS as usize]) {
        self.clock += 1;
        let used = usize::from(self.holders_in_use);
        for (holder, drift) in self.holders[..used].iter_mut().zip(drift) {
            if holder.clock_runs() {
                holder.clock = holder
                    .clock
                    .checked_add_signed(drift + SUB_TICKS.cast_signed())
                    .expect("the configuration bounds keep local clocks under 256 steps");
            }
            holder.pending = holder.pending.map(Pending::aged);
        }
    }

    /// The representative of this state's class under renumbering of holders: holders sorted by
    /// what distinguishes them, the row's owner renumbered to match. Holders that tie on the key
    /// keep their order, which loses some reduction but never merges different states.
    #[must_use]
    pub fn representative(&self) -> Self {
        let used = usize::from(self.holders_in_use);
        let mut order: Vec<u8> = (0..self.holders_in_use).collect();
        order.sort_by_key(|&i| self.symmetry_key(i));
        let mut out = *self;
        for (new, &old) in order.iter().enumerate() {
            out.holders[new] = self.holders[usize::from(old)];
        }
        if out.resource.row.status != RowStatus::Vacant {
            let owner = out.resource.row.owner;
            let new = order.iter().position(|&old| old == owner).unwrap_or(used);
            out.resource.row.owner = u8::try_from(new).expect("fewer than 256 holders");
        }
        out
    }

    fn symmetry_key(&self, index: u8) -> (u8, u8, Option<u8>, u64, u8, bool) {
        let holder = self.holder(index);
        let row = self.resource.row;
        let named = u8::from(row.status != RowStatus::Vacant && row.owner == index);
        let lease = holder.lease.map(|(token, _)| token);
        let deadline = holder.lease.map_or(0, |(_, k)| k.deadline().as_nanos());
        (
            named,
            holder.clock,
            lease,
            deadline,
            holder.attempts,
            holder.pending.is_some(),
        )
    }
}
