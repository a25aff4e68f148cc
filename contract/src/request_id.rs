//! [`RequestIds`]: request ids for one store's acquire attempts.

use std::sync::atomic::{AtomicU64, Ordering};

use leasehold_core::RequestId;

/// Request ids for one store's acquires: a random 64-bit prefix drawn once per store, then a
/// counter. Unique within the store, and across stores unless two draw the same prefix (one
/// chance in 2^64 per pair); one read of the random source per store instead of one per acquire.
/// A replay also needs the owner to match, so a prefix collision alone grants nothing.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    /// A generator with a fresh random prefix.
    ///
    /// # Errors
    ///
    /// The operating system's random source failed.
    pub fn new() -> Result<Self, getrandom::Error> {
        Ok(Self {
            prefix: getrandom::u64()?,
            next: AtomicU64::new(0),
        })
    }

    /// The next id.
    #[must_use]
    pub fn next(&self) -> RequestId {
        let counter = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId::from_u128((u128::from(self.prefix) << 64) | u128::from(counter))
    }
}

#[cfg(test)]
mod tests {
    use super::RequestIds;

    #[test]
    fn request_ids_never_repeat_within_a_store_and_differ_between_stores() {
        let first = RequestIds::new().expect("random source");
        let second = RequestIds::new().expect("random source");
        let ids: Vec<_> = (0..1_000).map(|_| first.next()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "a store repeated a request id");
        assert_ne!(
            first.prefix, second.prefix,
            "two stores drew the same prefix"
        );
        assert!(
            !ids.contains(&second.next()),
            "two stores issued the same id"
        );
        assert_eq!(
            ids[1].as_u128() - ids[0].as_u128(),
            1,
            "a counter after the prefix"
        );
    }
}
