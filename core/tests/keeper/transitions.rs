//! Scenarios as tables: each step is a call and the exact answer it must get.
//!
//! The configuration is `table_config()`: the acquire is sent at 0 ms, a renewal is due at 100 ms
//! after each confirmed send, retries every 15 ms, and the deadline is 270 ms after the last
//! confirmed send.

use leasehold_core::{
    Answered, Keeper, KeeperAction, LossReason, LostReason, RenewReply, RenewTicket,
};

use super::{at, table_config};

/// One call and what it must answer. Tickets are named by the order of their `Send`.
#[derive(Clone, Copy, Debug)]
enum Step {
    Poll(u64, KeeperAction),
    Send(u64),
    Answer(usize, RenewReply, u64, Answered),
    /// A ticket this keeper never issued (from another keeper), answered.
    Foreign(u64, RenewReply, u64, Answered),
    Valid(u64, bool),
    Deadline(u64),
}

use KeeperAction::{Lost, Renew, WaitUntil};
use Step::{Answer, Deadline, Foreign, Poll, Send, Valid};

const RENEWED: RenewReply = RenewReply::Renewed;
const FAILED: RenewReply = RenewReply::Failed;
const DEADLINE: LossReason = LossReason::DeadlinePassed;

fn extended(ms: u64) -> Answered {
    Answered::Extended { deadline: at(ms) }
}

fn wait(ms: u64) -> KeeperAction {
    WaitUntil(at(ms))
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    let refused = RenewReply::Refused(LostReason::Expired);
    let lost_refused = LossReason::Refused(LostReason::Expired);
    vec![
        (
            "a fresh grant waits a third of the ttl, then renews",
            vec![
                Deadline(270),
                Poll(0, wait(100)),
                Poll(99, wait(100)),
                Poll(100, Renew),
            ],
        ),
        (
            "a renewal extends from its send, not from its answer",
            vec![
                Send(100),
                Poll(101, wait(115)),
                Answer(0, RENEWED, 180, extended(370)),
                Poll(180, wait(200)),
                Valid(369, true),
                Valid(370, false),
            ],
        ),
        (
            "a refused renewal is lost at once",
            vec![
                Send(100),
                Valid(110, true),
                Answer(0, refused, 110, Answered::Lost(lost_refused)),
                Valid(110, false),
                Poll(111, Lost(lost_refused)),
            ],
        ),
        (
            "no answer: retried every 15 ms, lost exactly at the deadline",
            vec![
                Send(100),
                Poll(114, wait(115)),
                Poll(115, Renew),
                Send(115),
                Poll(116, wait(130)),
                Valid(269, true),
                Poll(269, Renew),
                Poll(270, Lost(DEADLINE)),
                Valid(269, false),
            ],
        ),
        (
            "a failure changes nothing; the retry is due 15 ms after the attempt",
            vec![
                Send(100),
                Answer(0, FAILED, 101, Answered::Unchanged),
                Poll(101, wait(115)),
                Deadline(270),
            ],
        ),
        (
            "retries stop at the deadline",
            vec![
                Send(260),
                Poll(261, wait(270)),
                Poll(270, Lost(DEADLINE)),
                Poll(300, Lost(DEADLINE)),
            ],
        ),
        (
            "a duplicate answer extends nothing",
            vec![
                Send(100),
                Answer(0, RENEWED, 120, extended(370)),
                Answer(0, RENEWED, 130, Answered::Stale),
                Send(200),
                Answer(0, RENEWED, 210, Answered::Stale),
                Deadline(370),
            ],
        ),
        (
            "an answer to an earlier attempt extends from the run's first attempt",
            vec![
                Send(100),
                Send(115),
                Send(130),
                Answer(1, RENEWED, 140, extended(370)),
                Answer(2, RENEWED, 141, Answered::Stale),
            ],
        ),
        (
            "an answer to the latest attempt extends from that attempt",
            vec![Send(100), Send(115), Answer(1, RENEWED, 120, extended(385))],
        ),
        (
            "a renewal confirmed at the deadline does not revive the lease",
            vec![
                Send(100),
                Answer(0, RENEWED, 270, Answered::Lost(DEADLINE)),
                Valid(100, false),
                Deadline(270),
            ],
        ),
        (
            "an answer to a ticket this keeper never issued is stale",
            vec![
                Foreign(50, RENEWED, 60, Answered::Stale),
                Send(100),
                Foreign(90, RENEWED, 110, Answered::Stale),
                Deadline(270),
            ],
        ),
        (
            "a refusal after the deadline keeps the first reason",
            vec![
                Poll(270, Lost(DEADLINE)),
                Send(271),
                Answer(0, refused, 272, Answered::Lost(DEADLINE)),
            ],
        ),
        (
            "a clock that reads backwards after a loss finds it still lost",
            vec![
                Poll(300, Lost(DEADLINE)),
                Poll(0, Lost(DEADLINE)),
                Valid(0, false),
            ],
        ),
    ]
}

fn run(name: &str, steps: &[Step]) {
    let mut keeper = Keeper::new(&table_config(), at(0)).expect("valid");
    let mut tickets: Vec<RenewTicket> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let context = format!("{name}, step {i}: {step:?}");
        match *step {
            Poll(t, want) => assert_eq!(keeper.poll(at(t)), want, "{context}"),
            Send(t) => tickets.push(keeper.renew_sent(at(t))),
            Answer(n, reply, t, want) => {
                let got = keeper.renew_answered(tickets[n], reply, at(t));
                assert_eq!(got, want, "{context}");
            }
            Foreign(sent, reply, t, want) => {
                let mut other = Keeper::new(&table_config(), at(0)).expect("valid");
                let ticket = other.renew_sent(at(sent));
                assert_eq!(
                    keeper.renew_answered(ticket, reply, at(t)),
                    want,
                    "{context}"
                );
            }
            Valid(t, want) => assert_eq!(keeper.is_valid(at(t)), want, "{context}"),
            Deadline(t) => assert_eq!(keeper.deadline(), at(t), "{context}"),
        }
    }
}

#[test]
fn every_scenario() {
    let scenarios = scenarios();
    for (name, steps) in &scenarios {
        run(name, steps);
    }
    assert_eq!(scenarios.len(), 13);
}

#[test]
fn tickets_and_accessors_report_what_happened() {
    let mut keeper = Keeper::new(&table_config(), at(7)).expect("valid");
    assert_eq!(keeper.confirmed_at(), at(7));
    assert_eq!(keeper.lost(), None);
    let ticket = keeper.renew_sent(at(107));
    assert_eq!(ticket.sent_at(), at(107));
    let _ = keeper.renew_answered(ticket, RENEWED, at(150));
    assert_eq!(keeper.confirmed_at(), at(107));
    assert_eq!(keeper.poll(at(377)), Lost(DEADLINE));
    assert_eq!(keeper.lost(), Some(DEADLINE));
}

#[test]
fn a_store_answer_converts_to_a_reply() {
    use leasehold_core::{Owner, RenewOutcome, Timestamp};
    let renewed: RenewOutcome<Owner> = RenewOutcome::Renewed {
        expires_at: Timestamp::from_millis(5),
    };
    assert_eq!(RenewReply::from(&renewed), RENEWED);
    let lost: RenewOutcome<Owner> = RenewOutcome::Lost {
        reason: LostReason::Evicted,
        current: None,
    };
    assert_eq!(
        RenewReply::from(&lost),
        RenewReply::Refused(LostReason::Evicted)
    );
}

#[test]
fn loss_reasons_read_as_sentences() {
    let cases = [
        (
            LossReason::Refused(LostReason::Expired),
            "the store refused the renewal: it had expired",
        ),
        (
            LossReason::Refused(LostReason::Released),
            "the store refused the renewal: it was released",
        ),
        (
            LossReason::Refused(LostReason::Evicted),
            "the store refused the renewal: it was evicted",
        ),
        (
            LossReason::Refused(LostReason::NotCurrent),
            "the store refused the renewal: a later lease replaced it",
        ),
        (DEADLINE, "no renewal was confirmed before the deadline"),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
}
