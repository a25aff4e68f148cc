//! Identities: [`FencingToken`] and [`RequestId`].

use core::fmt;
use core::num::NonZeroU64;

/// The number a grant carries: strictly greater than every token issued before it **for the same
/// resource**, never reused, never reset.
///
/// A holder passes its token to whatever it protects; the protected side remembers the largest
/// token it has accepted and refuses anything older. That is what keeps a holder that was paused
/// past its expiry (a GC pause, a stopped VM) from overwriting the work of the next holder.
///
/// Tokens range over `1..=FencingToken::MAX` (2^63 - 1) so that any store can keep them in a
/// signed 64-bit integer column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(NonZeroU64);

impl FencingToken {
    /// The first token issued for a resource that has no history.
    pub const FIRST: Self = Self(NonZeroU64::MIN);
    /// The largest token a store can keep: `i64::MAX`.
    pub const MAX: Self = match NonZeroU64::new(i64::MAX.unsigned_abs()) {
        Some(max) => Self(max),
        None => unreachable!(),
    };

    /// The token with value `value`, or `None` for zero or a value past [`FencingToken::MAX`].
    #[must_use]
    pub const fn new(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) if v.get() <= Self::MAX.get() => Some(Self(v)),
            _ => None,
        }
    }

    /// The token's value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The token issued after every token up to `high_water` (`0` for none), or `None` when
    /// [`FencingToken::MAX`] has been reached.
    #[must_use]
    pub const fn after(high_water: u64) -> Option<Self> {
        match high_water.checked_add(1) {
            Some(next) => Self::new(next),
            None => None,
        }
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A caller-chosen identity for one acquire attempt, e.g. 128 random bits.
///
/// An acquire that committed but whose reply was lost is retried with the **same** request id;
/// while the lease it produced is still valid, the retry returns that same grant instead of
/// reporting the caller's own ghost lease as someone else's. A fresh attempt must use a fresh id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u128);

impl RequestId {
    /// The request id `value`.
    #[must_use]
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The request id's value.
    #[must_use]
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Big-endian bytes, e.g. for a 16-byte BLOB column.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The inverse of [`RequestId::to_bytes`].
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stay_within_a_signed_64_bit_column() {
        assert_eq!(FencingToken::new(0), None);
        assert_eq!(FencingToken::FIRST.get(), 1);
        assert_eq!(FencingToken::MAX.get(), 9_223_372_036_854_775_807);
        assert_eq!(FencingToken::new(FencingToken::MAX.get() + 1), None);
        assert_eq!(FencingToken::after(0), Some(FencingToken::FIRST));
        assert_eq!(FencingToken::after(FencingToken::MAX.get()), None);
        assert_eq!(FencingToken::after(u64::MAX), None);
    }

    #[test]
    fn request_id_bytes_round_trip() {
        let id = RequestId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(RequestId::from_bytes(id.to_bytes()), id);
        assert_eq!(id.to_string(), "0123456789abcdef0011223344556677");
    }
}
