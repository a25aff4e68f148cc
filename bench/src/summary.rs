//! [`Summary`]: one scenario's rounds reduced to the figures the report shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::handoff::{Handoff, handoff};
use crate::histogram::Histogram;
use crate::scenario::{ClientResult, Scenario};

/// Acquire latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest seen.
    pub max_us: f64,
}

/// How evenly the grants spread over the clients.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Fewest grants of one client ÷ the mean: 1 is perfectly even, 0 is a starved client.
    pub min_over_mean: f64,
    /// Most grants of one client ÷ the mean.
    pub max_over_mean: f64,
    /// Jain's fairness index, (Σg)² ÷ (n·Σg²): 1 is even, 1/n is one client taking all.
    pub jain: f64,
    /// Clients with fewer than [`STARVED_SHARE`] of the mean.
    pub starved_clients: usize,
}

/// A client with fewer grants than this share of the mean starves.
pub const STARVED_SHARE: f64 = 0.5;

/// One scenario over all its rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// What was measured.
    pub scenario: Scenario,
    /// Acquire+release cycles per second, all clients together: the median round.
    pub cycles_per_second: f64,
    /// Each round's figure, in run order.
    pub rounds_cycles_per_second: Vec<f64>,
    /// Time from wanting the lease to holding it, over every cycle of every round.
    pub acquire_latency: Latency,
    /// Grants per client, summed over the rounds.
    pub grants_per_client: Vec<u64>,
    /// How evenly they spread.
    pub spread: Spread,
    /// Attempts answered busy, all rounds.
    pub busy_attempts: u64,
    /// Grants made while another client held the resource (the witness was taken).
    pub double_grants: u64,
    /// Operations that hit the busy timeout.
    pub busy_errors: u64,
    /// Waiting acquires cut off by the end of a round.
    pub unfinished_waits: u64,
    /// How the lease passed between clients ([`Style::Hold`](crate::scenario::Style::Hold)
    /// scenarios only).
    #[serde(default)]
    pub handoff: Option<Handoff>,
    /// Each operation's latency ([`Style::Mixed`](crate::scenario::Style::Mixed) only).
    #[serde(default)]
    pub operations: BTreeMap<String, Latency>,
    /// Every operation together, as a client sees its calls ([`Style::Mixed`] only).
    ///
    /// [`Style::Mixed`]: crate::scenario::Style::Mixed
    #[serde(default)]
    pub all_operations: Option<Latency>,
    /// The merged latency histogram, for the plots (not in the JSON).
    #[serde(skip)]
    pub histogram: Histogram,
}

impl Summary {
    /// Reduces the rounds of `scenario`: one `Vec` of client results per round.
    #[must_use]
    pub fn new(scenario: Scenario, rounds: &[Vec<ClientResult>]) -> Self {
        let rounds_cycles_per_second: Vec<f64> = rounds.iter().map(|r| throughput(r)).collect();
        let mut histogram = Histogram::default();
        let mut grants_per_client = vec![0; scenario.clients];
        let all = rounds.iter().flatten();
        for result in all.clone() {
            histogram.merge(&result.acquire_latency);
        }
        for round in rounds {
            for (total, result) in grants_per_client.iter_mut().zip(round) {
                *total += result.grants;
            }
        }
        let sum = |f: fn(&ClientResult) -> u64| all.clone().map(f).sum();
        let mut operations: BTreeMap<String, Histogram> = BTreeMap::new();
        for result in all.clone() {
            for (name, h) in &result.operations {
                operations.entry(name.clone()).or_default().merge(h);
            }
        }
        Self {
            scenario,
            cycles_per_second: median(&rounds_cycles_per_second),
            rounds_cycles_per_second,
            acquire_latency: latency(&histogram),
            spread: spread(&grants_per_client),
            grants_per_client,
            busy_attempts: sum(|r| r.busy_attempts),
            double_grants: sum(|r| r.double_grants),
            busy_errors: sum(|r| r.busy_errors),
            unfinished_waits: sum(|r| r.unfinished_waits),
            handoff: handoff(rounds),
            operations: operations
                .iter()
                .map(|(name, h)| (name.clone(), latency(h)))
                .collect(),
            all_operations: (!operations.is_empty()).then(|| {
                let mut all = Histogram::default();
                for h in operations.values() {
                    all.merge(h);
                }
                latency(&all)
            }),
            histogram,
        }
    }
}

/// Cycles per second of one round: every client's cycles over the longest client's time.
fn throughput(round: &[ClientResult]) -> f64 {
    let cycles: u64 = round.iter().map(|r| r.grants).sum();
    let elapsed = round.iter().map(|r| r.elapsed_s).fold(0.0, f64::max);
    if elapsed > 0.0 {
        cycles as f64 / elapsed
    } else {
        0.0
    }
}

/// The median (the mean of the middle two for an even count); 0 for none.
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

fn latency(histogram: &Histogram) -> Latency {
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    Latency {
        p50_us: us(histogram.quantile(0.50)),
        p99_us: us(histogram.quantile(0.99)),
        max_us: us(histogram.max()),
    }
}

/// The spread of `grants` over clients.
#[must_use]
pub fn spread(grants: &[u64]) -> Spread {
    let n = grants.len().max(1) as f64;
    let total: f64 = grants.iter().map(|&g| g as f64).sum();
    let squares: f64 = grants.iter().map(|&g| (g as f64).powi(2)).sum();
    let mean = total / n;
    let share = |g: u64| if mean > 0.0 { g as f64 / mean } else { 0.0 };
    Spread {
        min_over_mean: grants.iter().copied().min().map_or(0.0, share),
        max_over_mean: grants.iter().copied().max().map_or(0.0, share),
        jain: if squares > 0.0 {
            total * total / (n * squares)
        } else {
            0.0
        },
        starved_clients: grants.iter().filter(|&&g| share(g) < STARVED_SHARE).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_spread_is_fair_and_a_starved_client_is_seen() {
        let even = spread(&[10, 10, 10, 10]);
        assert_eq!(
            (even.min_over_mean, even.jain, even.starved_clients),
            (1.0, 1.0, 0)
        );
        let starved = spread(&[19, 19, 1, 1]);
        assert_eq!(starved.starved_clients, 2);
        assert!(starved.jain < 0.6, "{starved:?}");
        let one_takes_all = spread(&[40, 0, 0, 0]);
        assert!((one_takes_all.jain - 0.25).abs() < 1e-9);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
