//! The holder's side of a lease: [`Keeper`], a second pure state machine.
//!
//! [`LockState::decide`](crate::LockState::decide) says what the store does; a `Keeper` says what
//! a holder does with the answers. Given the send instant of the acquire that was granted, the
//! answers to its renewals and the time on its own clock, it decides when to renew, when to retry,
//! and until when the holder may rely on its lease.
//!
//! The rule that makes it safe: **the deadline is counted from the instant a request was sent,
//! never from the instant its answer arrived.** The store dates a grant or a renewal when the
//! request reaches it, which is after the holder sent it, so `send + ttl` on the store's clock is
//! no later than the store's own expiry; the keeper counts `ttl − margin` on the holder's clock
//! from the send instant, and the [`DriftMargin`] makes up for that clock running slower than the
//! store's. A reply that took long to arrive therefore shortens what is left, as it must.
//!
//! Like the lock's core, a keeper reads no clock and does no I/O: a driver (a thread or a task)
//! owns it, passes `now` from a monotonic clock, sends the renewals it asks for and reports their
//! answers:
//!
//! ```text
//! loop {
//!     match keeper.poll(now()) {
//!         KeeperAction::Renew => {
//!             let ticket = keeper.renew_sent(now()); // read the clock *before* sending
//!             send_renew(ticket);                    // answer later: renew_answered(ticket, ..)
//!         }
//!         KeeperAction::WaitUntil(t) => sleep_until_or_answer(t),
//!         KeeperAction::Lost(reason) => break reason,
//!     }
//! }
//! ```
//!
//! What a keeper cannot do: protect a holder that checked [`Keeper::is_valid`] and was then paused
//! (a GC pause, a stopped VM) past its deadline before it acted. Only fencing protects against
//! that; see `docs/keeper.md` in the repository.

mod config;
mod instant;

use core::fmt;

pub use config::{DriftMargin, KeeperConfig};
pub use instant::LocalInstant;

use crate::error::KeeperConfigError;
use crate::outcome::{LostReason, RenewOutcome};

/// What the holder should do next, from [`Keeper::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeeperAction {
    /// Send a renewal now: call [`Keeper::renew_sent`] and send the renew request.
    Renew,
    /// Nothing to do before this instant, unless an answer arrives first.
    WaitUntil(LocalInstant),
    /// The lease is lost: stop relying on it.
    Lost(LossReason),
}

/// Why a keeper gave its lease up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossReason {
    /// The store refused a renewal: the lease is over on the store.
    Refused(LostReason),
    /// The deadline passed with no renewal confirmed in time (no answer, or only failures). The
    /// store may still count the lease as valid for a while; the holder cannot know.
    DeadlinePassed,
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(reason) => {
                let why = match reason {
                    LostReason::Expired => "it had expired",
                    LostReason::Released => "it was released",
                    LostReason::Evicted => "it was evicted",
                    LostReason::NotCurrent => "a later lease replaced it",
                };
                write!(f, "the store refused the renewal: {why}")
            }
            Self::DeadlinePassed => f.write_str("no renewal was confirmed before the deadline"),
        }
    }
}

/// The answer to one renewal, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RenewReply {
    /// The store renewed the lease. (The store's new expiry is on the store's clock, so the keeper
    /// does not use it.)
    Renewed,
    /// The store refused: the lease is over.
    Refused(LostReason),
    /// No answer: a transient failure, a timeout, a lost connection. The store may or may not
    /// have renewed.
    Failed,
}

impl<O> From<&RenewOutcome<O>> for RenewReply {
    fn from(outcome: &RenewOutcome<O>) -> Self {
        match outcome {
            RenewOutcome::Renewed { .. } => Self::Renewed,
            RenewOutcome::Lost { reason, .. } => Self::Refused(*reason),
        }
    }
}

/// The identity of one renewal attempt: its send instant, which is what its answer extends the
/// deadline from. Keep it with the request and give it back with the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RenewTicket {
    sent_at: LocalInstant,
}

impl RenewTicket {
    /// When the renewal was sent, on the holder's clock.
    #[must_use]
    pub const fn sent_at(self) -> LocalInstant {
        self.sent_at
    }
}

/// What an answer changed, from [`Keeper::renew_answered`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Answered {
    /// The renewal is confirmed; the deadline is now `deadline`.
    Extended {
        /// The new deadline.
        deadline: LocalInstant,
    },
    /// A failure: nothing changes; the next attempt is due `retry_after` after the latest one.
    Unchanged,
    /// An answer to an attempt that is already accounted for (a duplicate, or an attempt older
    /// than the last confirmation) or that this keeper never sent: ignored.
    Stale,
    /// The lease is lost, by this answer or before it.
    Lost(LossReason),
}

/// The renewal attempts sent since the last confirmation: the first and the latest send instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Attempts {
    first: LocalInstant,
    latest: LocalInstant,
}

/// The holder's side of one lease: when to renew, and until when to rely on it.
///
/// Build it when the acquire is granted, with the instant the acquire was **sent**; then follow
/// [`Keeper::poll`]. All instants are on the holder's monotonic clock ([`LocalInstant`]). An
/// instant earlier than one passed before (a clock that went backwards) is never a panic: it is
/// decided like any other instant, and a lost lease stays lost.
///
/// # Example
///
/// ```
/// use leasehold_core::{Answered, Keeper, KeeperAction, KeeperConfig, LocalInstant, RenewReply, Ttl};
///
/// let ms = |ms: u64| LocalInstant::from_nanos(ms * 1_000_000);
/// let config = KeeperConfig::new(Ttl::from_millis(30_000)?);
/// // The acquire was sent at 1 000 ms on the holder's clock, and granted.
/// let mut keeper = Keeper::new(&config, ms(1_000))?;
/// // ttl − margin after the send: the default margin is 30 ms of drift (1,000 ppm) plus 1 ms.
/// assert_eq!(keeper.deadline(), ms(30_969));
/// // Nothing to do until a third of the ttl has passed.
/// assert_eq!(keeper.poll(ms(2_000)), KeeperAction::WaitUntil(ms(11_000)));
/// assert_eq!(keeper.poll(ms(11_000)), KeeperAction::Renew);
/// let ticket = keeper.renew_sent(ms(11_000));
/// // The answer takes 5 s to arrive: the new deadline still counts from the send.
/// let answered = keeper.renew_answered(ticket, RenewReply::Renewed, ms(16_000));
/// assert_eq!(answered, Answered::Extended { deadline: ms(40_969) });
/// assert!(keeper.is_valid(ms(40_968)));
/// assert!(!keeper.is_valid(ms(40_969)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Keeper {
    /// `ttl − margin`, in nanoseconds (saturated, which only makes the deadline earlier).
    lifetime: u64,
    /// `renew_after`, in nanoseconds.
    renew_after: u64,
    /// `retry_after`, in nanoseconds.
    retry_after: u64,
    /// The send instant of the last confirmed request: the acquire, or a renewal answered
    /// `Renewed`.
    confirmed: LocalInstant,
    unconfirmed: Option<Attempts>,
    lost: Option<LossReason>,
}

fn nanos(duration: core::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Keeper {
    /// The keeper of a lease granted in answer to an acquire sent at `acquire_sent_at`.
    ///
    /// # Errors
    ///
    /// The configuration's [`KeeperConfigError`], if any.
    pub fn new(
        config: &KeeperConfig,
        acquire_sent_at: LocalInstant,
    ) -> Result<Self, KeeperConfigError> {
        config.validate()?;
        Ok(Self {
            lifetime: nanos(config.lifetime()),
            renew_after: nanos(config.renew_after),
            retry_after: nanos(config.retry_after),
            confirmed: acquire_sent_at,
            unconfirmed: None,
            lost: None,
        })
    }

    /// The instant from which the holder must no longer rely on its lease: the send instant of
    /// the last confirmed request plus `ttl − margin`. It only moves later, and only when a
    /// renewal is confirmed.
    #[must_use]
    pub fn deadline(&self) -> LocalInstant {
        LocalInstant::from_nanos(self.confirmed.as_nanos().saturating_add(self.lifetime))
    }

    /// Whether the holder may rely on its lease at `now`: not lost, and `now < deadline`.
    #[must_use]
    pub fn is_valid(&self, now: LocalInstant) -> bool {
        self.lost.is_none() && now < self.deadline()
    }

    /// Why the lease was given up, if it was.
    #[must_use]
    pub fn lost(&self) -> Option<LossReason> {
        self.lost
    }

    /// The send instant of the last confirmed request: the acquire, or the last renewal the store
    /// answered `Renewed`.
    #[must_use]
    pub fn confirmed_at(&self) -> LocalInstant {
        self.confirmed
    }

    /// What to do at `now`. Once the deadline has passed the lease is lost for good, even if `now`
    /// later reads earlier.
    #[must_use]
    pub fn poll(&mut self, now: LocalInstant) -> KeeperAction {
        if let Some(reason) = self.lose_at_deadline(now) {
            return KeeperAction::Lost(reason);
        }
        let due = self.renewal_due();
        if now >= due {
            KeeperAction::Renew
        } else {
            KeeperAction::WaitUntil(due.min(self.deadline()))
        }
    }

    /// Records a renewal attempt sent at `now`, read **before** the request left: reading the
    /// clock after sending would date the renewal later than the store may have, and make the
    /// deadline too late.
    #[must_use = "the ticket identifies the answer to this renewal"]
    pub fn renew_sent(&mut self, now: LocalInstant) -> RenewTicket {
        self.unconfirmed = Some(match self.unconfirmed {
            None => Attempts {
                first: now,
                latest: now,
            },
            Some(attempts) => Attempts {
                first: attempts.first.min(now),
                latest: attempts.latest.max(now),
            },
        });
        RenewTicket { sent_at: now }
    }

    /// Records the answer to the renewal `ticket`, received at `now`.
    ///
    /// A `Renewed` answer extends the deadline from the send instant of its own attempt, or, for
    /// an answer to an earlier attempt of the same unconfirmed run, from the run's first attempt
    /// (all that is known is that it was sent no earlier). A `Refused` answer loses the lease at
    /// once. An answer at or after the deadline changes nothing: the lease was lost then.
    pub fn renew_answered(
        &mut self,
        ticket: RenewTicket,
        reply: RenewReply,
        now: LocalInstant,
    ) -> Answered {
        if let Some(reason) = self.lose_at_deadline(now) {
            return Answered::Lost(reason);
        }
        match reply {
            RenewReply::Refused(reason) => {
                let reason = LossReason::Refused(reason);
                self.lost = Some(reason);
                Answered::Lost(reason)
            }
            RenewReply::Failed => Answered::Unchanged,
            RenewReply::Renewed => match self.confirmation(ticket) {
                Some(sent_at) => {
                    self.confirmed = self.confirmed.max(sent_at);
                    self.unconfirmed = None;
                    Answered::Extended {
                        deadline: self.deadline(),
                    }
                }
                None => Answered::Stale,
            },
        }
    }

    /// Latches the loss when `now` has reached the deadline, and returns the loss, if any.
    fn lose_at_deadline(&mut self, now: LocalInstant) -> Option<LossReason> {
        if self.lost.is_none() && now >= self.deadline() {
            self.lost = Some(LossReason::DeadlinePassed);
        }
        self.lost
    }

    /// When the next renewal attempt is due: `renew_after` after the last confirmation, or
    /// `retry_after` after the latest unconfirmed attempt.
    fn renewal_due(&self) -> LocalInstant {
        let (from, wait) = match self.unconfirmed {
            None => (self.confirmed, self.renew_after),
            Some(attempts) => (attempts.latest, self.retry_after),
        };
        LocalInstant::from_nanos(from.as_nanos().saturating_add(wait))
    }

    /// The send instant a `Renewed` answer to `ticket` proves the store renewed after, or `None`
    /// when the ticket is not one of the unconfirmed attempts.
    fn confirmation(&self, ticket: RenewTicket) -> Option<LocalInstant> {
        let attempts = self.unconfirmed?;
        let sent_at = ticket.sent_at;
        if sent_at == attempts.latest {
            Some(sent_at)
        } else if (attempts.first..=attempts.latest).contains(&sent_at) {
            Some(attempts.first)
        } else {
            None
        }
    }
}
