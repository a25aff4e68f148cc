//! What every store does when it creates its schema: draw the store's id, and choose the
//! high-water mark its tokens start above. Shared so that every store numbers its tokens, and
//! names itself, by the same rule.

use leasehold_core::Timestamp;

use crate::lease::StoreId;

/// The largest high-water mark a new store starts from: 2^53 - 1, so that tokens stay exact
/// integers in JavaScript and in double-precision JSON parsers for as long as the clock allows.
pub const MAX_STARTING_HIGH_WATER: u64 = (1 << 53) - 1;

/// The high-water mark a new store's tokens start above: its creation instant `now` (the store's
/// clock, in milliseconds) in microseconds, capped at [`MAX_STARTING_HIGH_WATER`]. It fits every
/// store's signed 64-bit column.
///
/// A store deleted and created again then issues tokens above every token its predecessor can
/// have issued for any resource, provided the clock did not go back and the predecessor did not
/// grant one resource more than a thousand times a millisecond on average over its life. A
/// protected resource that remembers the old tokens keeps accepting the new holders instead of
/// refusing them all.
#[must_use]
pub fn starting_high_water(now: Timestamp) -> u64 {
    now.as_millis()
        .saturating_mul(1_000)
        .min(MAX_STARTING_HIGH_WATER)
}

/// A random store id in `1..=i64::MAX`, so that it fits every store's signed 64-bit column.
///
/// # Errors
///
/// The operating system's random source failed.
pub fn new_store_id() -> Result<StoreId, getrandom::Error> {
    Ok(StoreId::from_u64((getrandom::u64()? >> 1).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_starts_above_its_creation_instant_in_microseconds() {
        assert_eq!(starting_high_water(Timestamp::ZERO), 0);
        assert_eq!(
            starting_high_water(Timestamp::from_millis(1_764_000_000_123)),
            1_764_000_000_123_000
        );
        assert_eq!(starting_high_water(Timestamp::MAX), MAX_STARTING_HIGH_WATER);
        assert_eq!(
            starting_high_water(Timestamp::from_millis(u64::MAX)),
            MAX_STARTING_HIGH_WATER
        );
    }

    #[test]
    fn store_ids_are_positive_signed_64_bit_values_and_differ() {
        let ids: Vec<_> = (0..32)
            .map(|_| new_store_id().expect("random").as_u64())
            .collect();
        assert!(
            ids.iter()
                .all(|id| (1..=i64::MAX.unsigned_abs()).contains(id))
        );
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
