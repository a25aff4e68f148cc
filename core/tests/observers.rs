//! What the core shows its callers besides decisions: every `Display`, the table's observers
//! (`holders`, `records`, `pruned_high_water`) and `prune`'s effects, and the request id's value.
//! Each assertion pins an exact answer, so that a change to any of them is seen.

use leasehold_core::{
    AcquireOutcome, DecideError, FencingToken, Holder, LockState, LockTable, NameError, NameKind,
    Outcome, Owner, Request, RequestId, ResourceName, Status, Timestamp, Ttl, TtlError,
};

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn tok(n: u64) -> FencingToken {
    FencingToken::new(n).expect("test tokens are in range")
}

fn resource(name: &str) -> ResourceName {
    ResourceName::new(name).expect("valid name")
}

fn owner(name: &str) -> Owner {
    Owner::new(name).expect("valid name")
}

fn acquire(who: &str, id: u128, ttl_ms: u64) -> Request {
    Request::Acquire {
        owner: owner(who),
        request_id: RequestId::from_u128(id),
        ttl: Ttl::from_millis(ttl_ms).expect("non-zero"),
    }
}

/// Grants `who` the lease on `name` at `now`, and returns its token.
fn grant(table: &mut LockTable, name: &str, who: &str, now: u64, ttl_ms: u64) -> FencingToken {
    let id = u128::from(now) << 8 | u128::from(ttl_ms);
    match table.apply(&resource(name), &acquire(who, id, ttl_ms), t(now)) {
        Ok(Outcome::Acquire(AcquireOutcome::Granted(grant))) => grant.token,
        other => panic!("{name} not granted to {who} at {now}: {other:?}"),
    }
}

#[test]
fn every_error_reads_as_a_sentence() {
    let cases: [(Box<dyn std::error::Error>, &str); 9] = [
        (
            Box::new(NameError::Empty {
                kind: NameKind::Owner,
            }),
            "owner name is empty",
        ),
        (
            Box::new(NameError::TooLong {
                kind: NameKind::Resource,
                len: 300,
            }),
            "resource name is 300 bytes long; the limit is 255 bytes",
        ),
        (
            Box::new(NameError::ControlCharacter {
                kind: NameKind::Resource,
                offset: 4,
            }),
            "resource name has a control character at byte 4",
        ),
        (
            Box::new(TtlError::Zero),
            "ttl is zero; a lease must last at least 1 ms",
        ),
        (
            Box::new(TtlError::TooLong),
            "ttl does not fit in 64-bit milliseconds",
        ),
        (
            Box::new(DecideError::ClockOutOfRange { now: t(u64::MAX) }),
            "clock reading 18446744073709551615ms is past the largest storable timestamp",
        ),
        (
            Box::new(DecideError::ExpiryOverflow {
                now: t(7),
                ttl: Ttl::from_millis(9).expect("non-zero"),
            }),
            "expiry 7ms + 9ms is past the largest storable timestamp",
        ),
        (
            Box::new(DecideError::TokensExhausted),
            "every fencing token has been issued",
        ),
        (
            Box::new(NameError::Empty {
                kind: NameKind::Resource,
            }),
            "resource name is empty",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
    assert_eq!(NameKind::Owner.to_string(), "owner");
    assert_eq!(NameKind::Resource.to_string(), "resource");
}

#[test]
fn values_display_with_their_unit_or_form() {
    assert_eq!(t(1_500).to_string(), "1500ms");
    assert_eq!(Ttl::from_millis(30).expect("non-zero").to_string(), "30ms");
    assert_eq!(tok(42).to_string(), "#42");
    assert_eq!(
        RequestId::from_u128(0xab).to_string(),
        format!("{:032x}", 0xab)
    );
    assert_eq!(owner("worker-a").to_string(), "worker-a");
    assert_eq!(resource("plan/42").to_string(), "plan/42");
}

#[test]
fn a_request_id_keeps_its_value() {
    for value in [0, 1, 0xdead_beef, u128::MAX] {
        let id = RequestId::from_u128(value);
        assert_eq!(id.as_u128(), value);
        assert_eq!(RequestId::from_bytes(id.to_bytes()).as_u128(), value);
    }
}

#[test]
fn holders_lists_exactly_the_valid_leases_in_resource_order() {
    let mut table = LockTable::new();
    assert_eq!(table.holders(t(0)).count(), 0);
    let c = grant(&mut table, "c", "worker-c", 0, 100);
    let a = grant(&mut table, "a", "worker-a", 10, 50);
    let b = grant(&mut table, "b", "worker-b", 20, 5);
    let holder = |who: &str, token, at, until| Holder {
        owner: owner(who),
        token,
        acquired_at: t(at),
        expires_at: t(until),
    };
    let holders: Vec<(ResourceName, Holder)> =
        table.holders(t(24)).map(|(r, h)| (r.clone(), h)).collect();
    assert_eq!(
        holders,
        [
            (resource("a"), holder("worker-a", a, 10, 60)),
            (resource("b"), holder("worker-b", b, 20, 25)),
            (resource("c"), holder("worker-c", c, 0, 100)),
        ]
    );
    // b expires at 25, a at 60: each drops out at its expiry, not a millisecond later.
    let names = |now| -> Vec<String> {
        table
            .holders(t(now))
            .map(|(r, _)| r.as_str().to_owned())
            .collect()
    };
    assert_eq!(names(25), ["a", "c"]);
    assert_eq!(names(60), ["c"]);
    assert_eq!(names(100), Vec::<String>::new());
    assert_eq!(
        table.holder(&resource("a"), t(59)).map(|h| h.token),
        Some(a)
    );
    assert_eq!(table.holder(&resource("a"), t(60)), None);
}

#[test]
fn prune_deletes_only_what_is_over_and_remembers_the_largest_token() {
    let mut table = LockTable::new();
    assert_eq!(table.pruned_high_water(), None);
    grant(&mut table, "old", "worker-a", 0, 10); // #1, over at 10
    let mid = grant(&mut table, "mid", "worker-b", 0, 30); // #1 of its own resource, over at 30
    let old_again = grant(&mut table, "old", "worker-c", 10, 10); // #2, over at 20
    let live = grant(&mut table, "live", "worker-d", 0, 1_000); // valid throughout
    assert_eq!(old_again, tok(2));

    // At 30: "old" has been over for 10 ms, "mid" for 0 ms (not prunable), "live" is valid.
    assert_eq!(table.prune(t(30), 10), 0, "over for exactly 10 ms is kept");
    assert_eq!(table.prune(t(30), 9), 1);
    assert_eq!(table.pruned_high_water(), Some(old_again));
    let kept: Vec<(&str, FencingToken, Status)> = table
        .records()
        .map(|(r, rec)| (r.as_str(), rec.token, rec.status))
        .collect();
    assert_eq!(
        kept,
        [("live", live, Status::Active), ("mid", mid, Status::Active)]
    );
    assert_eq!(
        table.state(&resource("old")),
        LockState::Vacant {
            high_water: Some(old_again)
        }
    );

    // A pruned resource, and one never granted, start above the high-water mark.
    assert_eq!(grant(&mut table, "old", "worker-e", 40, 10), tok(3));
    assert_eq!(grant(&mut table, "new", "worker-f", 40, 10), tok(3));

    // Pruning "mid" (#1) alone does not lower the mark; nothing valid is ever pruned.
    assert_eq!(table.prune(t(45), 0), 1);
    assert_eq!(table.pruned_high_water(), Some(old_again));
    assert_eq!(table.prune(t(100), 0), 2);
    assert_eq!(table.pruned_high_water(), Some(tok(3)));
    let left: Vec<&str> = table.records().map(|(r, _)| r.as_str()).collect();
    assert_eq!(left, ["live"]);
    assert_eq!(table.prune(t(100), 0), 0);
}

#[test]
fn a_table_built_from_records_decides_as_the_table_it_was_read_from() {
    let mut table = LockTable::new();
    grant(&mut table, "held", "worker-a", 0, 100);
    grant(&mut table, "gone", "worker-b", 0, 10);
    assert_eq!(table.prune(t(20), 0), 1);
    let records: Vec<_> = table
        .records()
        .map(|(r, rec)| (r.clone(), rec.clone()))
        .collect();
    let mut rebuilt = LockTable::from_records(records, table.pruned_high_water());
    assert_eq!(rebuilt, table);
    // Both refuse the held resource and number the pruned one above the mark.
    assert_eq!(grant(&mut rebuilt, "gone", "worker-c", 30, 10), tok(2));
    let busy = rebuilt.apply(&resource("held"), &acquire("worker-d", 9, 10), t(30));
    assert!(matches!(
        busy,
        Ok(Outcome::Acquire(AcquireOutcome::Busy(_)))
    ));
    // A table that starts above a floor numbers its first grant after it.
    let mut floored = LockTable::from_records(Vec::new(), Some(tok(1_000)));
    assert_eq!(grant(&mut floored, "new", "worker-a", 0, 10), tok(1_001));
}
