//! The blocking driver: a thread that executes what the keeper decides, and releases the lease
//! when its guard goes.

use std::sync::Arc;
use std::thread;

use leasehold_contract::{ErrorKind, Lease, LostReason, Release, Renew, StoreError};
use leasehold_core::{Answered, RenewReply, RenewTicket};

use crate::error::Error;
use crate::guard::shared::{Shared, Step};
use crate::guard::{Faults, GuardEvent, Observer};
use crate::store::Store;

/// Everything the driver thread owns.
pub(crate) struct Driver {
    pub(crate) store: Store,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ttl: std::time::Duration,
    pub(crate) observer: Option<Observer>,
    pub(crate) faults: Faults,
}

impl Driver {
    /// Keeps the lease until the guard stops the driver, then releases it and returns the
    /// store's answer.
    pub(crate) fn run(mut self) -> Result<Release, Error> {
        let mut renewals = 0;
        loop {
            match self.shared.next_step(self.faults.dates_from_reply()) {
                Step::Renew { ticket, lease } => {
                    self.renew(ticket, &lease, renewals);
                    renewals += 1;
                }
                Step::Lost(reason) => {
                    self.emit(&GuardEvent::Lost(reason));
                    self.shared.wait_for_stop();
                    break;
                }
                Step::Stop => break,
                Step::Wait(_) => unreachable!("next_step waits through every Wait"),
            }
        }
        self.store.release(&self.shared.lease())
    }

    /// One renewal: send it, hand the answer to the keeper, report what changed.
    fn renew(&mut self, ticket: Option<RenewTicket>, lease: &Lease, renewal: u32) {
        let answer = self.store.renew(lease, self.ttl);
        if let Some(delay) = self.faults.reply_delay(renewal) {
            thread::sleep(delay);
        }
        let ticket = ticket.unwrap_or_else(|| self.shared.renew_sent_now());
        let (reply, renewed, failure) = reply_to(answer);
        if let Some(event) = failure {
            self.emit(&event);
        }
        if let Some(event) = record(&self.shared, ticket, reply, renewed) {
            self.emit(&event);
        }
    }

    fn emit(&mut self, event: &GuardEvent) {
        if let Some(observer) = self.observer.as_mut() {
            observer(event);
        }
    }
}

/// The keeper's reply for a store's answer to a renewal, the lease the store renewed, and the
/// event a failure reports.
pub(crate) fn reply_to(
    answer: Result<Renew, Error>,
) -> (RenewReply, Option<Lease>, Option<GuardEvent>) {
    match answer {
        Ok(Renew::Renewed(lease)) => (RenewReply::Renewed, Some(lease), None),
        Ok(Renew::Lost(lost)) => (RenewReply::Refused(lost.reason()), None, None),
        Err(e) => {
            let event = GuardEvent::RenewFailed {
                kind: e.kind(),
                message: e.to_string(),
            };
            // A store that calls the lease foreign will say so at every retry: a refusal (the
            // lease is not this store's to renew), not a transient failure.
            let reply = if e.kind() == ErrorKind::ForeignLease {
                RenewReply::Refused(LostReason::NotCurrent)
            } else {
                RenewReply::Failed
            };
            (reply, None, Some(event))
        }
    }
}

/// Tells the keeper the answer to `ticket`; the event a confirmed renewal reports.
pub(crate) fn record(
    shared: &Shared,
    ticket: RenewTicket,
    reply: RenewReply,
    renewed: Option<Lease>,
) -> Option<GuardEvent> {
    let answered = shared.answered(ticket, reply, renewed.clone());
    // Only a `Renewed` reply extends the deadline, so `renewed` is there when it did.
    match (answered, renewed) {
        (Answered::Extended { deadline }, Some(lease)) => Some(GuardEvent::Renewed {
            lease,
            deadline: shared.clock().instant(deadline),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use leasehold_contract::{ErrorKind, LostReason, StoreError, StoreId};
    use leasehold_core::RenewReply;

    use super::reply_to;
    use crate::error::Error;

    #[test]
    fn a_foreign_lease_answer_is_a_refusal_not_a_failure_to_retry() {
        let foreign = Error::ForeignLease {
            lease_store: StoreId::from_u64(1),
            store: StoreId::from_u64(2),
        };
        assert_eq!(foreign.kind(), ErrorKind::ForeignLease);
        let (reply, renewed, event) = reply_to(Err(foreign));
        assert_eq!(reply, RenewReply::Refused(LostReason::NotCurrent));
        assert!(renewed.is_none());
        assert!(event.is_some(), "the observer hears why");
    }
}
