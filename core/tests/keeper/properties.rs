//! The keeper's promises over random histories: random configurations, renewals, answers in any
//! order (duplicates, stale ones, refusals, failures) and clocks that mostly move forward but may
//! jump anywhere, backwards included.
//!
//! The harness keeps its own ledger of what it sent and how it answered, and checks the keeper's
//! deadline against that ledger, never against the keeper's own bookkeeping.

use std::time::Duration;

use leasehold_core::{
    Answered, DriftMargin, Keeper, KeeperAction, KeeperConfig, LocalInstant, LossReason,
    LostReason, RenewReply, RenewTicket, Ttl,
};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// The clock moves forward by this many microseconds.
    Advance(u64),
    /// The clock reads this, whatever it read before.
    Jump(u64),
    Poll,
    Send,
    /// Answers the `pick`-th ticket sent so far.
    Answer {
        pick: usize,
        reply: RenewReply,
    },
}

fn reply() -> impl Strategy<Value = RenewReply> {
    let reason = prop_oneof![
        Just(LostReason::Expired),
        Just(LostReason::Released),
        Just(LostReason::Evicted),
        Just(LostReason::NotCurrent),
    ];
    prop_oneof![
        6 => Just(RenewReply::Renewed),
        3 => Just(RenewReply::Failed),
        1 => reason.prop_map(RenewReply::Refused),
    ]
}

fn op(jumps: bool) -> impl Strategy<Value = Op> {
    let jump_weight = u32::from(jumps);
    prop_oneof![
        6 => (0..150_000_u64).prop_map(Op::Advance),
        jump_weight => any::<u64>().prop_map(Op::Jump),
        4 => Just(Op::Poll),
        3 => Just(Op::Send),
        4 => (0..12_usize, reply()).prop_map(|(pick, reply)| Op::Answer { pick, reply }),
    ]
}

/// A valid configuration: ttl 10 ms to 1 s, up to 20 % drift and 10 % fixed margin, renewal and
/// retry anywhere they are allowed.
fn config() -> impl Strategy<Value = KeeperConfig> {
    (
        10..=1_000_u64,
        0..=200_000_u32,
        0..=100_u64,
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(ttl_ms, ppm, fixed_permille, renew, retry)| {
            let ttl = Ttl::from_millis(ttl_ms).expect("non-zero");
            let margin = DriftMargin {
                max_drift_ppm: ppm,
                fixed: ttl.as_duration() * u32::try_from(fixed_permille).expect("small") / 1_000,
            };
            let mut config = KeeperConfig {
                margin,
                ..KeeperConfig::new(ttl)
            };
            let lifetime = u64::try_from(config.lifetime().as_nanos()).expect("under 1 s");
            config.renew_after = Duration::from_nanos(1 + renew % (lifetime - 1));
            config.retry_after = Duration::from_nanos(1 + retry % (ttl_ms * 1_000_000));
            config
        })
}

struct Harness {
    keeper: Keeper,
    lifetime: Duration,
    renew_after: Duration,
    now: LocalInstant,
    /// Whether the clock ever read backwards.
    jumped: bool,
    tickets: Vec<RenewTicket>,
    /// Send instants the store is known to have renewed after: the acquire's, and those of the
    /// tickets answered `Renewed`.
    confirmed_sends: Vec<LocalInstant>,
    /// Arrival instants of `Renewed` answers (and the acquire's, taken as arriving at its send).
    arrivals: Vec<LocalInstant>,
    /// Whether a renewal was sent since the last `Extended`.
    open_attempts: bool,
    /// The loss the keeper reported, once it did.
    lost: Option<LossReason>,
}

impl Harness {
    fn new(config: &KeeperConfig, start: LocalInstant) -> Self {
        Self {
            keeper: Keeper::new(config, start).expect("the strategy builds valid configurations"),
            lifetime: config.lifetime(),
            renew_after: config.renew_after,
            now: start,
            jumped: false,
            tickets: Vec::new(),
            confirmed_sends: vec![start],
            arrivals: vec![start],
            open_attempts: false,
            lost: None,
        }
    }

    fn run(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Advance(micros) => {
                self.now = self.now.saturating_add(Duration::from_micros(micros));
            }
            Op::Jump(nanos) => {
                let to = LocalInstant::from_nanos(nanos);
                self.jumped |= to < self.now;
                self.now = to;
            }
            Op::Poll => self.poll()?,
            Op::Send => {
                self.tickets.push(self.keeper.renew_sent(self.now));
                self.open_attempts = true;
            }
            Op::Answer { pick, reply } => {
                if let Some(&ticket) = self.tickets.get(pick % self.tickets.len().max(1)) {
                    self.answer(ticket, reply)?;
                }
            }
        }
        self.check_deadline()
    }

    fn poll(&mut self) -> Result<(), TestCaseError> {
        let deadline = self.keeper.deadline();
        let confirmed = self.keeper.confirmed_at();
        let action = self.keeper.poll(self.now);
        if let Some(lost) = self.lost {
            prop_assert_eq!(action, KeeperAction::Lost(lost), "a loss is for good");
            return Ok(());
        }
        match action {
            KeeperAction::Lost(reason) => {
                prop_assert_eq!(reason, LossReason::DeadlinePassed);
                prop_assert!(self.now >= deadline, "lost before the deadline");
                self.lost = Some(reason);
            }
            KeeperAction::Renew => prop_assert!(self.now < deadline, "retry past the deadline"),
            KeeperAction::WaitUntil(until) => {
                prop_assert!(self.now < deadline, "not lost at the deadline");
                prop_assert!(
                    self.now < until && until <= deadline,
                    "waits past the deadline"
                );
                if !self.open_attempts {
                    let due = confirmed.saturating_add(self.renew_after);
                    prop_assert!(until <= due, "renewal asked for later than renew_after");
                }
            }
        }
        Ok(())
    }

    fn answer(&mut self, ticket: RenewTicket, reply: RenewReply) -> Result<(), TestCaseError> {
        let before = self.keeper.deadline();
        let answered = self.keeper.renew_answered(ticket, reply, self.now);
        if let Some(lost) = self.lost {
            prop_assert_eq!(answered, Answered::Lost(lost), "a loss is for good");
            return Ok(());
        }
        if self.now >= before {
            prop_assert_eq!(answered, Answered::Lost(LossReason::DeadlinePassed));
            self.lost = Some(LossReason::DeadlinePassed);
            return Ok(());
        }
        match (reply, answered) {
            (RenewReply::Refused(reason), Answered::Lost(LossReason::Refused(told))) => {
                prop_assert_eq!(reason, told);
                self.lost = Some(LossReason::Refused(reason));
            }
            (RenewReply::Failed, Answered::Unchanged) => {}
            (RenewReply::Renewed, Answered::Stale) => {
                prop_assert_eq!(self.keeper.deadline(), before, "a stale answer changed it");
            }
            (RenewReply::Renewed, Answered::Extended { deadline }) => {
                prop_assert_eq!(deadline, self.keeper.deadline());
                prop_assert!(deadline >= before, "a renewal shortened the deadline");
                let own = ticket.sent_at().saturating_add(self.lifetime);
                prop_assert!(
                    deadline == before || deadline <= own,
                    "extended past its send"
                );
                self.open_attempts = false;
            }
            other => return Err(TestCaseError::fail(format!("answered {other:?}"))),
        }
        if reply == RenewReply::Renewed {
            self.confirmed_sends.push(ticket.sent_at());
            self.arrivals.push(self.now);
        }
        Ok(())
    }

    /// After every step: the deadline is never later than the latest send instant the store is
    /// known to have renewed after, plus `ttl − margin`; in a history whose clock never read
    /// backwards, never later than any answer's arrival plus the same; and a lost keeper is
    /// invalid at every instant.
    fn check_deadline(&self) -> Result<(), TestCaseError> {
        let deadline = self.keeper.deadline();
        let latest_send = self.confirmed_sends.iter().max().copied();
        let bound = latest_send.map(|s| s.saturating_add(self.lifetime));
        prop_assert!(
            Some(deadline) <= bound,
            "deadline past the last confirmed send"
        );
        if !self.jumped {
            let latest_arrival = self.arrivals.iter().max().copied();
            let by_arrival = latest_arrival.map(|a| a.saturating_add(self.lifetime));
            prop_assert!(Some(deadline) <= by_arrival, "later than by reply time");
        }
        if self.lost.is_some() {
            prop_assert!(!self.keeper.is_valid(self.now));
            prop_assert!(!self.keeper.is_valid(LocalInstant::ZERO));
        } else {
            prop_assert_eq!(self.keeper.is_valid(self.now), self.now < deadline);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Histories on a clock that only moves forward.
    #[test]
    fn forward_histories_keep_every_promise(
        config in config(),
        start in 0..1_000_000_000_u64,
        ops in prop::collection::vec(op(false), 1..80),
    ) {
        let mut harness = Harness::new(&config, LocalInstant::from_nanos(start));
        for op in ops {
            harness.run(op)?;
        }
    }

    /// Any instants at all, backwards and at the ends of the range: no panic, and the same
    /// promises.
    #[test]
    fn any_instants_keep_every_promise(
        config in config(),
        start in any::<u64>(),
        ops in prop::collection::vec(op(true), 1..80),
    ) {
        let mut harness = Harness::new(&config, LocalInstant::from_nanos(start));
        for op in ops {
            harness.run(op)?;
        }
    }

    /// A driver that does what `poll` says, and whose every renewal is answered `Renewed` in less
    /// than both `ttl − margin − renew_after` and half of `ttl − margin`, never loses its lease,
    /// however many retries it sends meanwhile. (An answer slower than `renew_after` makes the
    /// next renewal late by as much, hence the second bound.)
    #[test]
    fn answered_renewals_keep_the_lease(
        config in config(),
        delays in prop::collection::vec(any::<u64>(), 40),
    ) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).expect("under 1 s");
        let (lifetime, renew_after) = (nanos(config.lifetime()), nanos(config.renew_after));
        let slack = (lifetime - renew_after).min(lifetime.div_ceil(2));
        // At most a few dozen retries per renewal, so that the test stays quick.
        let retry_after = config.retry_after.max(Duration::from_nanos(slack / 32));
        let config = KeeperConfig { retry_after, ..config };
        let mut keeper = Keeper::new(&config, LocalInstant::ZERO).expect("valid");
        // (answer arrival, ticket), at most one per renewal round: the first attempt's.
        let mut pending: Option<(LocalInstant, RenewTicket)> = None;
        let mut now = LocalInstant::ZERO;
        let mut rounds = 0;
        while rounds < delays.len() {
            match keeper.poll(now) {
                KeeperAction::Lost(reason) => {
                    return Err(TestCaseError::fail(format!("lost at {now}: {reason}")));
                }
                KeeperAction::Renew => {
                    let ticket = keeper.renew_sent(now);
                    if pending.is_none() {
                        let delay = delays[rounds] % slack;
                        pending = Some((now.saturating_add(Duration::from_nanos(delay)), ticket));
                        rounds += 1;
                    }
                }
                KeeperAction::WaitUntil(until) => {
                    now = match pending {
                        Some((arrival, ticket)) if arrival <= until => {
                            let answered = keeper.renew_answered(ticket, RenewReply::Renewed, arrival);
                            prop_assert!(matches!(answered, Answered::Extended { .. }), "{answered:?}");
                            pending = None;
                            arrival
                        }
                        _ => until,
                    };
                }
            }
        }
    }
}
