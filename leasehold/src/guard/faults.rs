//! Test hooks for the keeper's drivers (feature `test-util`): slow replies, and a planted driver
//! bug the guard's tests must catch. Without the feature, [`Faults`] is empty and every hook is a
//! no-op, so the drivers carry no `cfg`.

use std::time::Duration;

/// A driver bug a test plants to show that it catches it (feature `test-util`).
#[cfg(feature = "test-util")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlantedFlaw {
    /// The driver reads the clock for a renewal's ticket after the reply arrived instead of
    /// before the request left, so a slow reply moves the deadline past the store's expiry.
    DeadlineFromReply,
}

/// The faults a guard's driver injects.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    #[cfg(feature = "test-util")]
    slow_replies: Vec<(u32, Duration)>,
    #[cfg(feature = "test-util")]
    flaw: Option<PlantedFlaw>,
}

impl Faults {
    /// How long the reply to renewal number `renewal` (from 0) is held back after the store
    /// answered, before the keeper hears of it.
    #[cfg_attr(not(feature = "test-util"), allow(clippy::unused_self))]
    pub(crate) fn reply_delay(&self, renewal: u32) -> Option<Duration> {
        #[cfg(feature = "test-util")]
        if let Some(&(_, delay)) = self.slow_replies.iter().find(|(n, _)| *n == renewal) {
            return Some(delay);
        }
        let _ = renewal;
        None
    }

    /// Whether the driver is planted with [`PlantedFlaw::DeadlineFromReply`].
    #[cfg_attr(not(feature = "test-util"), allow(clippy::unused_self))]
    pub(crate) fn dates_from_reply(&self) -> bool {
        #[cfg(feature = "test-util")]
        if self.flaw == Some(PlantedFlaw::DeadlineFromReply) {
            return true;
        }
        false
    }

    #[cfg(feature = "test-util")]
    pub(crate) fn slow_reply(&mut self, renewal: u32, delay: Duration) {
        self.slow_replies.push((renewal, delay));
    }

    #[cfg(feature = "test-util")]
    pub(crate) fn plant(&mut self, flaw: PlantedFlaw) {
        self.flaw = Some(flaw);
    }
}
