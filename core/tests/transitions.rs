//! Every request against every kind of state, with the exact outcome and next state.
//!
//! The states are those a resource can be in at `NOW` = 100 ms: never granted, pruned, held,
//! expired at exactly `NOW`, released, released after expiry, evicted. The current lease (when
//! there is one) is worker-a's, token 3, request id 30, granted at 50 ms.

use leasehold_core::{
    AcquireOutcome, DecideError, EvictOutcome, FencingToken, Grant, GrantKind, Holder, LeaseRecord,
    LockState, LostReason, Outcome, Owner, ReleaseOutcome, RenewOutcome, Request, RequestId,
    Status, Timestamp, Ttl,
};

const NOW: u64 = 100;

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn tok(n: u64) -> FencingToken {
    FencingToken::new(n).expect("test tokens are in range")
}

fn owner(name: &str) -> Owner {
    Owner::new(name).expect("test names are valid")
}

fn ttl(ms: u64) -> Ttl {
    Ttl::from_millis(ms).expect("test ttls are non-zero")
}

/// worker-a's lease, token 3, granted at 50 ms, in `status`, ending/ended at `expires_at`.
fn record(status: Status, expires_at: u64) -> LeaseRecord {
    LeaseRecord {
        owner: owner("worker-a"),
        token: tok(3),
        request_id: RequestId::from_u128(30),
        acquired_at: t(50),
        expires_at: t(expires_at),
        status,
    }
}

fn recorded(status: Status, expires_at: u64) -> LockState {
    LockState::Recorded(record(status, expires_at))
}

fn holder_a(expires_at: u64) -> Holder {
    Holder {
        owner: owner("worker-a"),
        token: tok(3),
        acquired_at: t(50),
        expires_at: t(expires_at),
    }
}

/// The states of the table, by name.
fn states() -> Vec<(&'static str, LockState)> {
    vec![
        ("never granted", LockState::default()),
        (
            "pruned at #7",
            LockState::Vacant {
                high_water: Some(tok(7)),
            },
        ),
        ("held until 150", recorded(Status::Active, 150)),
        ("expired at NOW", recorded(Status::Active, NOW)),
        ("released at 80", recorded(Status::Released, 80)),
        (
            "released after expiry",
            recorded(Status::ReleasedAfterExpiry, 90),
        ),
        ("evicted (was due at 95)", recorded(Status::Evicted, 95)),
    ]
}

fn acquire(who: &str, id: u128, ttl_ms: u64) -> Request {
    Request::Acquire {
        owner: owner(who),
        request_id: RequestId::from_u128(id),
        ttl: ttl(ttl_ms),
    }
}

/// The requests of the table, by name.
fn requests() -> Vec<(&'static str, Request)> {
    vec![
        ("acquire b", acquire("worker-b", 40, 50)),
        ("acquire a, new id", acquire("worker-a", 41, 50)),
        ("acquire a, retry id 30", acquire("worker-a", 30, 50)),
        ("acquire b, reusing id 30", acquire("worker-b", 30, 50)),
        (
            "renew #3 +20",
            Request::Renew {
                token: tok(3),
                ttl: ttl(20),
            },
        ),
        (
            "renew #3 +100",
            Request::Renew {
                token: tok(3),
                ttl: ttl(100),
            },
        ),
        (
            "renew #2",
            Request::Renew {
                token: tok(2),
                ttl: ttl(100),
            },
        ),
        ("release #3", Request::Release { token: tok(3) }),
        ("release #2", Request::Release { token: tok(2) }),
        ("evict", Request::Evict),
    ]
}

/// A new grant of `token` to `who` with request id `id`, at `NOW` for 50 ms.
fn granted(who: &str, id: u128, token: u64) -> (Outcome, Option<LockState>) {
    let token = tok(token);
    let outcome = Outcome::Acquire(AcquireOutcome::Granted(Grant {
        token,
        acquired_at: t(NOW),
        expires_at: t(NOW + 50),
        kind: GrantKind::New,
    }));
    let next = LockState::Recorded(LeaseRecord {
        owner: owner(who),
        token,
        request_id: RequestId::from_u128(id),
        acquired_at: t(NOW),
        expires_at: t(NOW + 50),
        status: Status::Active,
    });
    (outcome, Some(next))
}

fn unchanged(outcome: Outcome) -> (Outcome, Option<LockState>) {
    (outcome, None)
}

fn busy() -> (Outcome, Option<LockState>) {
    unchanged(Outcome::Acquire(AcquireOutcome::Busy(holder_a(150))))
}

fn lost(reason: LostReason, current: Option<Holder>) -> (Outcome, Option<LockState>) {
    unchanged(Outcome::Renew(RenewOutcome::Lost { reason, current }))
}

fn renewed(expires_at: u64) -> (Outcome, Option<LockState>) {
    let outcome = Outcome::Renew(RenewOutcome::Renewed {
        expires_at: t(expires_at),
    });
    (outcome, Some(recorded(Status::Active, expires_at)))
}

fn release(outcome: ReleaseOutcome, next: Option<LockState>) -> (Outcome, Option<LockState>) {
    (Outcome::Release(outcome), next)
}

fn not_holder(current: Option<Holder>) -> (Outcome, Option<LockState>) {
    unchanged(Outcome::Release(ReleaseOutcome::NotHolder { current }))
}

fn not_held() -> (Outcome, Option<LockState>) {
    unchanged(Outcome::Evict(EvictOutcome::NotHeld))
}

/// The expected answer of `request` on `state`, and the state it writes (`None`: no write).
fn expected(state: &str, request: &str) -> (Outcome, Option<LockState>) {
    use LostReason::{Evicted, Expired, NotCurrent, Released};
    let free_first = |who, id| granted(who, id, 1);
    let after_7 = |who, id| granted(who, id, 8);
    let after_3 = |who, id| granted(who, id, 4);
    match (state, request) {
        // A resource with no history starts at #1; a pruned one above its high-water mark.
        ("never granted", "acquire b") => free_first("worker-b", 40),
        ("never granted", "acquire b, reusing id 30") => free_first("worker-b", 30),
        ("never granted", "acquire a, new id") => free_first("worker-a", 41),
        ("never granted", "acquire a, retry id 30") => free_first("worker-a", 30),
        ("pruned at #7", "acquire b") => after_7("worker-b", 40),
        ("pruned at #7", "acquire b, reusing id 30") => after_7("worker-b", 30),
        ("pruned at #7", "acquire a, new id") => after_7("worker-a", 41),
        ("pruned at #7", "acquire a, retry id 30") => after_7("worker-a", 30),
        ("never granted" | "pruned at #7", r) if r.starts_with("renew") => lost(NotCurrent, None),
        ("never granted" | "pruned at #7", r) if r.starts_with("release") => not_holder(None),
        ("never granted" | "pruned at #7", "evict") => not_held(),

        // Held: nobody else gets it, the holder under a new id neither; the retry is replayed.
        ("held until 150", "acquire b" | "acquire a, new id" | "acquire b, reusing id 30") => {
            busy()
        }
        ("held until 150", "acquire a, retry id 30") => {
            unchanged(Outcome::Acquire(AcquireOutcome::Granted(Grant {
                token: tok(3),
                acquired_at: t(50),
                expires_at: t(150),
                kind: GrantKind::Replayed,
            })))
        }
        // now + 20 = 120 is before 150: a renew never shortens the lease.
        ("held until 150", "renew #3 +20") => renewed(150),
        ("held until 150", "renew #3 +100") => renewed(200),
        ("held until 150", "renew #2") => lost(NotCurrent, Some(holder_a(150))),
        ("held until 150", "release #3") => release(
            ReleaseOutcome::Released,
            Some(recorded(Status::Released, NOW)),
        ),
        ("held until 150", "release #2") => not_holder(Some(holder_a(150))),
        ("held until 150", "evict") => (
            Outcome::Evict(EvictOutcome::Evicted(holder_a(150))),
            Some(recorded(Status::Evicted, 150)),
        ),

        // Every ended lease is free to acquire, with the next token.
        (_, "acquire b") => after_3("worker-b", 40),
        (_, "acquire a, new id") => after_3("worker-a", 41),
        (_, "acquire a, retry id 30") => after_3("worker-a", 30),
        (_, "acquire b, reusing id 30") => after_3("worker-b", 30),
        (_, "renew #2") => lost(NotCurrent, None),
        (_, "release #2") => not_holder(None),
        (_, "evict") => not_held(),

        ("expired at NOW", r) if r.starts_with("renew #3") => lost(Expired, None),
        ("expired at NOW", "release #3") => release(
            ReleaseOutcome::Expired,
            Some(recorded(Status::ReleasedAfterExpiry, NOW)),
        ),
        ("released at 80" | "released after expiry", r) if r.starts_with("renew #3") => {
            lost(Released, None)
        }
        ("released at 80", "release #3") => release(ReleaseOutcome::Released, None),
        ("released after expiry", "release #3") => release(ReleaseOutcome::Expired, None),
        ("evicted (was due at 95)", r) if r.starts_with("renew #3") => lost(Evicted, None),
        ("evicted (was due at 95)", "release #3") => not_holder(None),
        other => panic!("the table has no row for {other:?}"),
    }
}

#[test]
fn every_request_on_every_state() {
    let mut rows = 0;
    for (state_name, state) in states() {
        for (request_name, request) in requests() {
            let decision = state
                .decide(&request, t(NOW))
                .unwrap_or_else(|e| panic!("{state_name} × {request_name}: {e}"));
            let (outcome, write) = expected(state_name, request_name);
            assert_eq!(
                decision.outcome, outcome,
                "{state_name} × {request_name}: outcome"
            );
            let wrote = decision.write.map(LockState::Recorded);
            assert_eq!(wrote, write, "{state_name} × {request_name}: write");
            let mut applied = state.clone();
            let applied_outcome = applied.apply(&request, t(NOW)).expect("decided above");
            assert_eq!(
                applied_outcome, outcome,
                "{state_name} × {request_name}: apply"
            );
            assert_eq!(
                applied,
                write.unwrap_or(state.clone()),
                "{state_name} × {request_name}"
            );
            rows += 1;
        }
    }
    assert_eq!(rows, 70);
}

#[test]
fn a_renew_that_does_not_extend_still_writes_the_record_it_matched() {
    // The store's conditional UPDATE matches the row and rewrites the same expiry: the decision
    // says so, so that adapters and the core agree on which requests write.
    let state = recorded(Status::Active, 150);
    let decision = state
        .decide(
            &Request::Renew {
                token: tok(3),
                ttl: ttl(20),
            },
            t(NOW),
        )
        .expect("valid input");
    assert_eq!(decision.write, Some(record(Status::Active, 150)));
}

#[test]
fn the_validity_boundary_is_exclusive() {
    let state = recorded(Status::Active, 150);
    let request = acquire("worker-b", 40, 50);
    let before = state.decide(&request, t(149)).expect("valid input");
    assert!(matches!(
        before.outcome,
        Outcome::Acquire(AcquireOutcome::Busy(_))
    ));
    let at = state.decide(&request, t(150)).expect("valid input");
    assert!(matches!(
        at.outcome,
        Outcome::Acquire(AcquireOutcome::Granted(Grant {
            kind: GrantKind::New,
            ..
        }))
    ));
    let renew = Request::Renew {
        token: tok(3),
        ttl: ttl(10),
    };
    assert!(matches!(
        state.decide(&renew, t(149)).expect("valid").outcome,
        Outcome::Renew(RenewOutcome::Renewed { .. })
    ));
    assert!(matches!(
        state.decide(&renew, t(150)).expect("valid").outcome,
        Outcome::Renew(RenewOutcome::Lost {
            reason: LostReason::Expired,
            ..
        })
    ));
    let release = Request::Release { token: tok(3) };
    assert_eq!(
        state.decide(&release, t(149)).expect("valid").outcome,
        Outcome::Release(ReleaseOutcome::Released)
    );
    assert_eq!(
        state.decide(&release, t(150)).expect("valid").outcome,
        Outcome::Release(ReleaseOutcome::Expired)
    );
}

#[test]
fn refused_input_is_refused_whatever_the_state() {
    let huge = Ttl::from_millis(Timestamp::MAX.as_millis()).expect("non-zero");
    for (name, state) in states() {
        let overflowing = [
            acquire("worker-b", 40, Timestamp::MAX.as_millis()),
            Request::Renew {
                token: tok(3),
                ttl: huge,
            },
        ];
        for request in overflowing {
            assert_eq!(
                state.decide(&request, t(NOW)),
                Err(DecideError::ExpiryOverflow {
                    now: t(NOW),
                    ttl: huge
                }),
                "{name}"
            );
        }
        for (_, request) in requests() {
            let beyond = Timestamp::from_millis(Timestamp::MAX.as_millis() + 1);
            assert_eq!(
                state.decide(&request, beyond),
                Err(DecideError::ClockOutOfRange { now: beyond }),
                "{name}"
            );
        }
    }
}

#[test]
fn the_last_token_cannot_be_followed() {
    let mut last = record(Status::Released, 80);
    last.token = FencingToken::MAX;
    let state = LockState::Recorded(last);
    let mut after = state.clone();
    assert_eq!(
        after.apply(&acquire("worker-b", 40, 50), t(NOW)),
        Err(DecideError::TokensExhausted)
    );
    assert_eq!(after, state, "a refused request changes nothing");
    let vacant = LockState::<Owner>::Vacant {
        high_water: Some(FencingToken::MAX),
    };
    assert_eq!(
        vacant.decide(&acquire("worker-b", 40, 50), t(NOW)),
        Err(DecideError::TokensExhausted)
    );
}
