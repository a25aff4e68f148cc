//! [`Handoff`]: how a hot lease passes from one client to the next, from the clients' logs of
//! when they held it ([`ClientResult::held`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;
use crate::scenario::ClientResult;

/// From one holder's release to the next holder's grant, over every round.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// Median gap, µs: from the moment a release returned to the moment the next grant
    /// returned (0 when the grant came first: the release wakes the next waiter before it
    /// returns).
    pub p50_us: f64,
    /// 99th percentile gap, µs.
    pub p99_us: f64,
    /// Largest gap, µs.
    pub max_us: f64,
    /// Grants that went to the client that held the lease just before: with every client
    /// asking again at once, each one is a releaser taking its lease back ahead of waiters.
    pub barge_share: f64,
}

/// The hand-overs of `rounds` (each a round's client results); `None` without logs.
#[must_use]
pub fn handoff(rounds: &[Vec<ClientResult>]) -> Option<Handoff> {
    let mut gaps = Histogram::default();
    let (mut barges, mut passes) = (0_u64, 0_u64);
    for round in rounds {
        let mut held: Vec<(u64, u64, usize)> = round
            .iter()
            .enumerate()
            .flat_map(|(client, r)| r.held.iter().map(move |&(g, rel)| (g, rel, client)))
            .collect();
        held.sort_unstable();
        for pair in held.windows(2) {
            let ((_, released, before), (granted, _, after)) = (pair[0], pair[1]);
            gaps.record(Duration::from_nanos(granted.saturating_sub(released)));
            barges += u64::from(before == after);
            passes += 1;
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (passes > 0).then(|| Handoff {
        p50_us: us(gaps.quantile(0.5)),
        p99_us: us(gaps.quantile(0.99)),
        max_us: us(gaps.max()),
        barge_share: barges as f64 / passes as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(held: &[(u64, u64)]) -> ClientResult {
        ClientResult {
            held: held.to_vec(),
            ..ClientResult::default()
        }
    }

    #[test]
    fn gaps_and_barges_come_from_the_merged_logs() {
        // a holds 0-10, b 30-40, b again 41-50 (a barge), a 1050-1060.
        let round = vec![
            client(&[(0, 10_000), (1_050_000, 1_060_000)]),
            client(&[(30_000, 40_000), (41_000, 50_000)]),
        ];
        let h = handoff(&[round]).expect("logs");
        assert!((h.barge_share - 1.0 / 3.0).abs() < 1e-9, "{h:?}");
        assert!(h.max_us >= 990.0 && h.max_us <= 1_040.0, "{h:?}");
        assert!(handoff(&[vec![client(&[])]]).is_none());
    }
}
