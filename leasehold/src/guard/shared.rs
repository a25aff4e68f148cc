//! [`Shared`]: the keeper and the lease, shared by a guard and the driver that keeps its lease.
//! The driver executes what the keeper decides; every reader asks the keeper too, so a loss at
//! the deadline is seen at the deadline even while the driver waits for a slow store.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use leasehold_contract::Lease;
use leasehold_core::{
    Answered, Keeper, KeeperAction, LocalInstant, LossReason, RenewReply, RenewTicket,
};

use crate::guard::clock::LocalClock;

/// What the driver does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send a renewal of `lease`. `ticket` was taken just before this step was returned, or is
    /// `None` when a planted flaw takes it after the reply instead.
    Renew {
        ticket: Option<RenewTicket>,
        lease: Lease,
    },
    /// Nothing to do before this instant, unless the guard stops first.
    Wait(LocalInstant),
    /// The lease is lost.
    Lost(LossReason),
    /// The guard asked its driver to release and stop.
    Stop,
}

struct State {
    keeper: Keeper,
    lease: Lease,
    stop: bool,
}

/// A guard's state and its driver's, behind one mutex.
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    clock: LocalClock,
}

impl Shared {
    pub(crate) fn new(keeper: Keeper, lease: Lease, clock: LocalClock) -> Self {
        Self {
            state: Mutex::new(State {
                keeper,
                lease,
                stop: false,
            }),
            changed: Condvar::new(),
            clock,
        }
    }

    pub(crate) fn clock(&self) -> LocalClock {
        self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under this lock is one keeper call or one field store, none of which can
        // panic half-way: a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The latest lease (the grant, or the last renewal the store answered).
    pub(crate) fn lease(&self) -> Lease {
        self.lock().lease.clone()
    }

    /// The keeper's deadline.
    pub(crate) fn deadline(&self) -> Instant {
        self.clock.instant(self.lock().keeper.deadline())
    }

    /// Whether the keeper says the holder may rely on its lease now.
    pub(crate) fn is_valid(&self) -> bool {
        self.lock().keeper.is_valid(self.clock.now())
    }

    /// The loss, if the keeper says the lease is lost now (latching a passed deadline).
    pub(crate) fn lost(&self) -> Option<LossReason> {
        Self::loss(&mut self.lock(), self.clock)
    }

    fn loss(state: &mut State, clock: LocalClock) -> Option<LossReason> {
        match state.keeper.poll(clock.now()) {
            KeeperAction::Lost(reason) => Some(reason),
            KeeperAction::Renew | KeeperAction::WaitUntil(_) => None,
        }
    }

    /// Waits until the lease is lost or `until` passes (`None`: for as long as it takes).
    pub(crate) fn wait_lost(&self, until: Option<Instant>) -> Option<LossReason> {
        let mut state = self.lock();
        loop {
            if let Some(reason) = Self::loss(&mut state, self.clock) {
                return Some(reason);
            }
            // Wake at the deadline even if the driver is stuck in a store call: the keeper
            // loses the lease then, answer or not.
            let mut wake = self.clock.instant(state.keeper.deadline());
            if let Some(until) = until {
                if Instant::now() >= until {
                    return None;
                }
                wake = wake.min(until);
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            state = self
                .changed
                .wait_timeout(state, timeout)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Asks the driver to release the lease and stop.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }

    /// What the driver does next, now (the async driver, which waits on its own). With `ticket_after_reply` (a planted flaw), a renewal's
    /// ticket is left for the driver to take after the reply.
    #[cfg(feature = "tokio")]
    pub(crate) fn step(&self, ticket_after_reply: bool) -> Step {
        Self::step_locked(&mut self.lock(), self.clock, ticket_after_reply)
    }

    fn step_locked(state: &mut State, clock: LocalClock, ticket_after_reply: bool) -> Step {
        if state.stop {
            return Step::Stop;
        }
        match state.keeper.poll(clock.now()) {
            KeeperAction::Lost(reason) => Step::Lost(reason),
            KeeperAction::WaitUntil(at) => Step::Wait(at),
            KeeperAction::Renew => Step::Renew {
                // The clock is read here, before the request leaves: the keeper extends the
                // deadline from this instant, never from the reply's arrival.
                ticket: (!ticket_after_reply).then(|| state.keeper.renew_sent(clock.now())),
                lease: state.lease.clone(),
            },
        }
    }

    /// [`Shared::step`], waiting on this thread through every `Wait` (the blocking driver).
    pub(crate) fn next_step(&self, ticket_after_reply: bool) -> Step {
        let mut state = self.lock();
        loop {
            match Self::step_locked(&mut state, self.clock, ticket_after_reply) {
                Step::Wait(at) => {
                    let timeout = self.clock.until(at);
                    state = self
                        .changed
                        .wait_timeout(state, timeout)
                        .map_or_else(|e| e.into_inner().0, |r| r.0);
                }
                step => return step,
            }
        }
    }

    /// Takes a renewal ticket now (the planted flaw's late ticket).
    pub(crate) fn renew_sent_now(&self) -> RenewTicket {
        let mut state = self.lock();
        state.keeper.renew_sent(self.clock.now())
    }

    /// Tells the keeper the answer to `ticket`, and keeps the store's renewed lease.
    pub(crate) fn answered(
        &self,
        ticket: RenewTicket,
        reply: RenewReply,
        renewed: Option<Lease>,
    ) -> Answered {
        let mut state = self.lock();
        let answered = state.keeper.renew_answered(ticket, reply, self.clock.now());
        if let Some(lease) = renewed {
            state.lease = lease;
        }
        drop(state);
        self.changed.notify_all();
        answered
    }

    /// Blocks until the guard asks its driver to stop (after a loss: the lease is still released
    /// when the guard goes, in case the store still counts it).
    pub(crate) fn wait_for_stop(&self) {
        let mut state = self.lock();
        while !state.stop {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Whether the guard asked its driver to stop.
    #[cfg(feature = "tokio")]
    pub(crate) fn stopping(&self) -> bool {
        self.lock().stop
    }
}
