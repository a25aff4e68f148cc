use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use leasehold_core::{FencingToken, Owner, RequestId, ResourceName, Timestamp};

use super::{Backoff, MAX_PAUSE, Turns, Waiter, acquire_until};
use crate::answer::Acquire;
use crate::lease::{Holder, Lease, StoreId};

fn holder() -> Holder {
    Holder::new(
        ResourceName::new("r").expect("valid"),
        Owner::new("other").expect("valid"),
        FencingToken::FIRST,
        Timestamp::ZERO,
        Timestamp::from_millis(1_000),
    )
}

fn lease() -> Lease {
    let sent = Instant::now();
    let id = RequestId::from_u128(1);
    Lease::new(
        holder(),
        id,
        StoreId::from_u64(1),
        sent,
        Duration::from_secs(1),
    )
}

/// A store that answers from a script: `Busy` (held for `expiry`), a busy error, another error,
/// or a grant, recording when each attempt came.
struct Scripted {
    answers: Vec<Answer>,
    attempts: Vec<Instant>,
    expiry: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Busy,
    BusyError,
    OtherError,
    Grant,
}

#[derive(Debug, PartialEq)]
enum Failure {
    Busy,
    Other,
}

impl Scripted {
    fn new(answers: &[Answer], expiry: Duration) -> Self {
        Self {
            answers: answers.iter().rev().copied().collect(),
            attempts: Vec::new(),
            expiry,
        }
    }
}

impl Waiter for Scripted {
    type Error = Failure;

    fn attempt(&mut self) -> Result<Acquire, Failure> {
        self.attempts.push(Instant::now());
        match self.answers.pop().unwrap_or(Answer::Busy) {
            Answer::Busy => Ok(Acquire::Busy(holder())),
            Answer::BusyError => Err(Failure::Busy),
            Answer::OtherError => Err(Failure::Other),
            Answer::Grant => Ok(Acquire::Granted(lease())),
        }
    }

    fn is_busy(&self, error: &Failure) -> bool {
        *error == Failure::Busy
    }

    fn until_expiry(&mut self, _: &Holder) -> Result<Duration, Failure> {
        Ok(self.expiry)
    }
}

fn wait(waiter: &mut Scripted, timeout: Duration) -> Result<Acquire, Failure> {
    acquire_until(
        &Turns::default(),
        "r",
        Some(Instant::now() + timeout),
        waiter,
    )
}

#[test]
fn retries_busy_answers_and_busy_errors_until_granted() {
    use Answer::{Busy, BusyError, Grant};
    let mut waiter = Scripted::new(&[Busy, BusyError, Busy, Grant], Duration::from_secs(60));
    let outcome = wait(&mut waiter, Duration::from_secs(10));
    assert!(matches!(outcome, Ok(Acquire::Granted(_))), "{outcome:?}");
    assert_eq!(waiter.attempts.len(), 4);
}

#[test]
fn another_error_ends_the_wait_at_once() {
    let mut waiter = Scripted::new(&[Answer::Busy, Answer::OtherError], Duration::from_secs(60));
    assert_eq!(
        wait(&mut waiter, Duration::from_secs(10)),
        Err(Failure::Other)
    );
    assert_eq!(waiter.attempts.len(), 2);
}

#[test]
fn returns_the_last_busy_answer_at_the_deadline_and_not_much_later() {
    let mut waiter = Scripted::new(&[], Duration::from_secs(60));
    let started = Instant::now();
    let outcome = wait(&mut waiter, Duration::from_millis(120));
    let took = started.elapsed();
    assert!(matches!(outcome, Ok(Acquire::Busy(_))), "{outcome:?}");
    assert!(
        took >= Duration::from_millis(120),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_millis(400), "returned late: {took:?}");
    // 4, 8, 16, 32, 50, … ms pauses with jitter: a handful of tries, not a spin.
    assert!(
        (3..=20).contains(&waiter.attempts.len()),
        "{} attempts",
        waiter.attempts.len()
    );
}

#[test]
fn a_busy_error_as_the_last_answer_is_returned() {
    let mut waiter = Scripted::new(&[Answer::BusyError; 64], Duration::from_secs(60));
    assert_eq!(
        wait(&mut waiter, Duration::from_millis(30)),
        Err(Failure::Busy)
    );
}

#[test]
fn never_pauses_past_the_holders_expiry() {
    // The holder's lease expires in 1 ms: the waiter tries again then, not 4-50 ms later. With
    // the backoff alone, 60 ms leave room for about five attempts (2-4, 4-8, 8-16, 16-32 ms).
    let mut waiter = Scripted::new(&[], Duration::from_millis(1));
    let outcome = wait(&mut waiter, Duration::from_millis(60));
    assert!(matches!(outcome, Ok(Acquire::Busy(_))), "{outcome:?}");
    assert!(
        waiter.attempts.len() >= 15,
        "{} attempts in 60 ms: paused past the expiry",
        waiter.attempts.len()
    );
}

#[test]
fn no_deadline_waits_until_granted() {
    let mut answers = vec![Answer::Busy; 5];
    answers.push(Answer::Grant);
    let mut waiter = Scripted::new(&answers, Duration::from_millis(1));
    let outcome = acquire_until(&Turns::default(), "r", None, &mut waiter);
    assert!(matches!(outcome, Ok(Acquire::Granted(_))));
}

#[test]
fn a_release_through_the_store_ends_the_front_waiters_pause() {
    let turns = Turns::default();
    let mut waiter = Scripted::new(&[Answer::Busy; 3], Duration::from_secs(60));
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(1));
                turns.notify("r");
            }
        });
        let deadline = Some(Instant::now() + Duration::from_millis(45));
        let _ = acquire_until(&turns, "r", deadline, &mut waiter);
    });
    // Without the wake-ups the pauses alone (4 + 8 + 16 ms at least 14 ms in total, with
    // jitter) would leave room for three or four attempts; woken every millisecond, it makes
    // many more.
    assert!(
        waiter.attempts.len() >= 10,
        "{} attempts in {:?}: wake-ups were not seen",
        waiter.attempts.len(),
        started.elapsed()
    );
}

#[test]
fn backoff_pauses_lie_between_half_the_ceiling_and_the_ceiling_and_double_to_fifty_ms() {
    let ms = Duration::from_millis;
    let mut backoff = Backoff::new();
    let ceilings = [ms(4), ms(8), ms(16), ms(32), ms(50), ms(50), ms(50)];
    let mut seen = BTreeSet::new();
    for ceiling in ceilings {
        let pause = backoff.next_pause();
        assert!(
            pause >= ceiling / 2 && pause <= ceiling,
            "{pause:?} for ceiling {ceiling:?}"
        );
        seen.insert(pause);
    }
    for _ in 0..50 {
        let pause = backoff.next_pause();
        assert!(pause >= MAX_PAUSE / 2 && pause <= MAX_PAUSE);
        seen.insert(pause);
    }
    assert!(seen.len() > 20, "pauses are not jittered: {seen:?}");
}

#[test]
fn a_fixed_backoff_pauses_the_same_every_time() {
    let pause = Duration::from_secs(30);
    let mut backoff = Backoff::fixed(pause);
    for _ in 0..5 {
        assert_eq!(backoff.next_pause(), pause);
    }
}

/// A line that records what `acquire_until` asks of it.
#[derive(Default)]
struct Recorded {
    calls: std::sync::Mutex<Vec<&'static str>>,
}

struct RecordedPlace<'a>(&'a Recorded);

impl RecordedPlace<'_> {
    fn note(&self, call: &'static str) {
        self.0.calls.lock().expect("not poisoned").push(call);
    }
}

impl super::Line for Recorded {
    type Place<'a> = RecordedPlace<'a>;

    fn join<'a>(&'a self, _resource: &'a str) -> RecordedPlace<'a> {
        let place = RecordedPlace(self);
        place.note("join");
        place
    }

    fn notify(&self, _resource: &str) {}
}

impl super::Place for RecordedPlace<'_> {
    fn wait_for_turn(&mut self, _deadline: Option<Instant>) -> bool {
        self.note("turn");
        true
    }

    fn mark(&mut self) {
        self.note("mark");
    }

    fn pause(&mut self, _pause: Duration) {
        self.note("pause");
    }

    fn granted(&mut self) {
        self.note("granted");
    }
}

impl Drop for RecordedPlace<'_> {
    fn drop(&mut self) {
        self.note("leave");
    }
}

#[test]
fn a_line_is_joined_once_marked_before_every_attempt_and_told_of_the_grant() {
    let line = Recorded::default();
    let mut waiter = Scripted::new(&[Answer::Busy, Answer::Grant], Duration::from_secs(60));
    let outcome = acquire_until(&line, "r", None, &mut waiter);
    assert!(matches!(outcome, Ok(Acquire::Granted(_))));
    let calls = line.calls.lock().expect("not poisoned").clone();
    assert_eq!(
        calls,
        [
            "join", "turn", "mark", "pause", "turn", "mark", "granted", "leave"
        ]
    );
}

#[test]
fn a_wait_that_ends_busy_leaves_without_a_grant() {
    let line = Recorded::default();
    let mut waiter = Scripted::new(&[], Duration::from_secs(60));
    let deadline = Some(Instant::now());
    let outcome = acquire_until(&line, "r", deadline, &mut waiter);
    assert!(matches!(outcome, Ok(Acquire::Busy(_))));
    let calls = line.calls.lock().expect("not poisoned").clone();
    assert!(!calls.contains(&"granted"), "{calls:?}");
    assert_eq!(calls.last(), Some(&"leave"));
}
