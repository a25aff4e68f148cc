//! [`Histogram`]: latencies in log-linear buckets (32 per power of two, so a percentile is off by
//! at most 1/32 ≈ 3%), small enough to send from a worker process as JSON and mergeable across
//! clients, processes and rounds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Buckets per power of two: the resolution of every percentile.
const SUB_BUCKETS: u64 = 32;
/// `log2(SUB_BUCKETS)`.
const SUB_BITS: u32 = 5;

/// Latencies in nanoseconds, bucketed; the exact maximum is kept beside the buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bucket index → count; only non-empty buckets.
    buckets: BTreeMap<u32, u64>,
    count: u64,
    max_ns: u64,
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        *self.buckets.entry(bucket(ns)).or_default() += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds every latency `other` recorded.
    pub fn merge(&mut self, other: &Self) {
        for (index, count) in &other.buckets {
            *self.buckets.entry(*index).or_default() += count;
        }
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// How many latencies were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest latency recorded, exactly.
    #[must_use]
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The latency at quantile `q` (0 to 1): the upper edge of its bucket, capped at the exact
    /// maximum. Zero when nothing was recorded.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = rank(q, self.count);
        let mut seen = 0;
        for (index, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(upper_edge(*index).min(self.max_ns));
            }
        }
        self.max()
    }

    /// `(latency, fraction of latencies at or below it)` at each bucket's upper edge: the
    /// cumulative distribution the latency plot draws.
    #[must_use]
    pub fn cumulative(&self) -> Vec<(Duration, f64)> {
        let mut seen = 0;
        let total = self.count.max(1) as f64;
        self.buckets
            .iter()
            .map(|(index, count)| {
                seen += count;
                let edge = upper_edge(*index).min(self.max_ns);
                (Duration::from_nanos(edge), seen as f64 / total)
            })
            .collect()
    }
}

/// The 1-based rank of quantile `q` among `count` values.
fn rank(q: f64, count: u64) -> u64 {
    let q = q.clamp(0.0, 1.0);
    // `count` is far below 2^52, so the product is exact enough; the cast only drops the fraction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = (q * count as f64).ceil() as u64;
    rank.clamp(1, count.max(1))
}

/// The bucket of `ns`: exact below `SUB_BUCKETS`, then `SUB_BUCKETS` buckets per power of two.
fn bucket(ns: u64) -> u32 {
    if ns < SUB_BUCKETS {
        return u32::try_from(ns).unwrap_or(0);
    }
    let exponent = u64::BITS - 1 - ns.leading_zeros();
    let sub = (ns >> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
    let sub = u32::try_from(sub).unwrap_or(0);
    (exponent - SUB_BITS + 1) * 32 + sub
}

/// The largest value that falls in bucket `index`.
fn upper_edge(index: u32) -> u64 {
    let Some(power) = (index / 32).checked_sub(1) else {
        return u64::from(index);
    };
    let sub = u64::from(index % 32);
    let width = 1_u64 << power;
    ((SUB_BUCKETS + sub) << power) + (width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lies_in_its_bucket_within_one_thirty_second() {
        for ns in (0..5_000).chain([1 << 20, (1 << 20) + 12_345, u64::MAX / 3, u64::MAX]) {
            let edge = upper_edge(bucket(ns));
            assert!(edge >= ns, "{ns} above its bucket's edge {edge}");
            assert!(edge - ns <= ns / 32, "{ns}: edge {edge} too far");
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut histogram = Histogram::default();
        for us in 1..=100 {
            histogram.record(Duration::from_micros(us));
        }
        let within = |q: f64, us: u64| {
            let got = histogram.quantile(q).as_nanos() as f64;
            let want = (us * 1_000) as f64;
            assert!((got - want).abs() <= want / 32.0, "q{q}: {got} vs {want}");
        };
        within(0.5, 50);
        within(0.99, 99);
        assert_eq!(histogram.quantile(1.0), Duration::from_micros(100));
        assert_eq!(histogram.max(), Duration::from_micros(100));
    }

    #[test]
    fn merging_is_recording_both() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for ns in [5, 700, 90_000] {
            a.record(Duration::from_nanos(ns));
            both.record(Duration::from_nanos(ns));
        }
        for ns in [3, 1_000_000] {
            b.record(Duration::from_nanos(ns));
            both.record(Duration::from_nanos(ns));
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }
}
