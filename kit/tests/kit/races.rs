//! The TOCTOU races: the reference store wins every round; check-then-act, a release by name
//! and a store that forgets request ids are caught.

use leasehold_kit::{MemoryBackend, planted, races};

use super::caught;

#[test]
fn the_reference_store_survives_the_races() {
    races::expired_lease_race::<MemoryBackend>(40);
    races::stale_release_races_new_acquire::<MemoryBackend>(40);
    races::lost_reply_retry::<MemoryBackend>(40);
}

#[test]
fn check_then_act_grants_an_expired_lease_twice() {
    let message = caught(|| races::expired_lease_race::<MemoryBackend<planted::CheckThenAct>>(40));
    assert!(message.contains("grants of one lease"), "{message}");
}

#[test]
fn a_release_by_name_frees_the_newcomer() {
    let message = caught(|| {
        races::stale_release_races_new_acquire::<MemoryBackend<planted::ReleaseByName>>(40);
    });
    assert!(message.contains("stale release"), "{message}");
}

#[test]
fn a_store_that_forgets_request_ids_fails_the_retry() {
    let message = caught(|| races::lost_reply_retry::<MemoryBackend<planted::NoReplay>>(40));
    assert!(message.contains("the retry"), "{message}");
}

#[test]
fn check_then_act_grants_two_duplicates_anew() {
    let message = caught(|| races::lost_reply_retry::<MemoryBackend<planted::CheckThenAct>>(40));
    assert!(message.contains("two leases"), "{message}");
}

#[test]
fn a_store_that_is_always_busy_wins_no_round() {
    let message = caught(|| races::expired_lease_race::<MemoryBackend<planted::AlwaysBusy>>(4));
    assert!(message.contains("the store failed"), "{message}");
}
