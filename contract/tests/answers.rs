//! What the contract's answers and errors give a caller, read through the public API only.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use leasehold_contract::row::CorruptRow;
use leasehold_contract::{
    Acquire, ClockError, ErrorKind, FencingToken, Holder, Lease, Lost, LostReason, Owner,
    RequestId, ResourceName, StoreId, Timestamp, deadline_after,
};

fn holder(owner: &str) -> Holder {
    Holder::new(
        ResourceName::new("r").expect("valid"),
        Owner::new(owner).expect("valid"),
        FencingToken::FIRST,
        Timestamp::ZERO,
        Timestamp::from_millis(1_000),
    )
}

fn lease() -> Lease {
    Lease::new(
        holder("alice"),
        RequestId::from_u128(1),
        StoreId::from_u64(7),
        Instant::now(),
        Duration::from_secs(10),
    )
}

#[test]
fn a_grant_gives_its_lease_and_busy_gives_none() {
    let lease = lease();
    assert_eq!(Acquire::Granted(lease.clone()).granted(), Some(lease));
    assert_eq!(Acquire::Busy(holder("bob")).granted(), None);
}

#[test]
fn a_lost_lease_names_the_current_holder() {
    let lost = Lost::new(LostReason::NotCurrent, Some(holder("bob")));
    assert_eq!(lost.reason(), LostReason::NotCurrent);
    assert_eq!(lost.current(), Some(&holder("bob")));
    assert_eq!(Lost::new(LostReason::Expired, None).current(), None);
}

#[test]
fn every_error_kind_and_clock_error_says_something_of_its_own() {
    let kinds = [
        ErrorKind::InvalidInput,
        ErrorKind::ForeignLease,
        ErrorKind::Busy,
        ErrorKind::Unavailable,
        ErrorKind::Environment,
        ErrorKind::Setup,
        ErrorKind::Storage,
    ];
    let texts: HashSet<String> = kinds.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), kinds.len(), "{texts:?}");
    assert!(texts.iter().all(|t| !t.is_empty()));
    let clock = [ClockError::BeforeEpoch, ClockError::OutOfRange].map(|e| e.to_string());
    assert!(clock[0].contains("before the Unix epoch"), "{}", clock[0]);
    assert!(clock[1].contains("64-bit"), "{}", clock[1]);
}

#[test]
fn a_corrupt_row_names_its_resource_and_why() {
    let text = CorruptRow::new("plan/42", "invalid owner").to_string();
    assert!(
        text.contains("plan/42") && text.contains("invalid owner"),
        "{text}"
    );
}

#[test]
fn a_timeout_is_a_deadline_from_now_or_none_when_too_long_to_add() {
    let before = Instant::now();
    let deadline = deadline_after(Duration::from_secs(5)).expect("addable");
    assert!(deadline >= before + Duration::from_secs(5));
    assert!(deadline <= Instant::now() + Duration::from_secs(5));
    assert_eq!(deadline_after(Duration::MAX), None);
}
