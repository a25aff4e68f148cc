//! The peer suite: the reference store passes every scenario, and each scenario catches the
//! planted flaws its documentation names.

use leasehold_kit::{MemoryBackend, peer, planted};

use super::caught;

type Reference = MemoryBackend;

#[test]
fn the_reference_store_passes_the_peer_suite() {
    peer::exact_count_threads::<Reference>();
    peer::try_race_exactly_one::<Reference>(40);
    peer::not_reentrant::<Reference>();
    peer::stale_handle_cannot_touch_newer::<Reference>();
    peer::foreign_token_cannot_release::<Reference>();
    peer::cross_handle_visibility::<Reference>();
    peer::grant_fields_exact::<Reference>();
    peer::renew_after_end_is_lost::<Reference>();
    peer::renew_keeps_lease_alive::<Reference>();
    peer::renew_never_shortens::<Reference>();
    peer::expiry_frees::<Reference>();
    peer::independent_names::<Reference>();
    peer::names_differ_by_case_and_form::<Reference>();
    peer::name_boundaries::<Reference>();
    peer::ops_on_one_name_leave_others::<Reference>();
    peer::holders_lists_exactly_the_valid::<Reference>();
    peer::tokens_survive_prune_and_reopen::<Reference>();
}

#[test]
fn the_reference_store_waits_as_the_peers_do() {
    let timings = peer::bounded_wait_timing::<Reference>();
    eprintln!("{timings:?}");
    peer::wait_succeeds_when_freed::<Reference>();
    peer::departing_waiter_does_not_free::<Reference>();
    peer::crossed_waits_time_out::<Reference>();
    peer::abandoned_holder_frees_after_ttl::<Reference>();
}

#[test]
fn counts_catch_check_then_act() {
    let message = caught(peer::exact_count_threads::<MemoryBackend<planted::CheckThenAct>>);
    assert!(message.contains("totals"), "{message}");
    caught(|| peer::try_race_exactly_one::<MemoryBackend<planted::CheckThenAct>>(40));
}

#[test]
fn counts_catch_a_store_that_is_always_busy() {
    caught(|| peer::try_race_exactly_one::<MemoryBackend<planted::AlwaysBusy>>(4));
}

#[test]
fn handles_catch_reentrance_and_forgotten_ids() {
    caught(peer::not_reentrant::<MemoryBackend<planted::Reentrant>>);
    caught(peer::not_reentrant::<MemoryBackend<planted::NoReplay>>);
    caught(peer::foreign_token_cannot_release::<MemoryBackend<planted::Reentrant>>);
}

#[test]
fn handles_catch_releases_and_renewals_by_name() {
    caught(peer::stale_handle_cannot_touch_newer::<MemoryBackend<planted::ReleaseByName>>);
    caught(peer::stale_handle_cannot_touch_newer::<MemoryBackend<planted::RenewsAnyToken>>);
    caught(peer::foreign_token_cannot_release::<MemoryBackend<planted::ReleaseByName>>);
    caught(peer::foreign_token_cannot_release::<MemoryBackend<planted::RenewsAnyToken>>);
}

#[test]
fn visibility_catches_stale_reads() {
    caught(peer::cross_handle_visibility::<MemoryBackend<planted::StaleReads>>);
    caught(peer::holders_lists_exactly_the_valid::<MemoryBackend<planted::StaleReads>>);
}

#[test]
fn lifetime_catches_resurrection_shortening_and_eternity() {
    caught(peer::renew_after_end_is_lost::<MemoryBackend<planted::RenewResurrects>>);
    caught(peer::renew_keeps_lease_alive::<MemoryBackend<planted::ShortensOnRenew>>);
    caught(peer::renew_keeps_lease_alive::<MemoryBackend<planted::NeverExpires>>);
    caught(peer::renew_never_shortens::<MemoryBackend<planted::ShortensOnRenew>>);
    caught(peer::expiry_frees::<MemoryBackend<planted::NeverExpires>>);
    caught(peer::abandoned_holder_frees_after_ttl::<MemoryBackend<planted::NeverExpires>>);
}

#[test]
fn names_catch_folding_and_truncation() {
    caught(peer::names_differ_by_case_and_form::<MemoryBackend<planted::FoldsCase>>);
    caught(peer::independent_names::<MemoryBackend<planted::TruncatesNames>>);
    caught(peer::name_boundaries::<MemoryBackend<planted::TruncatesNames>>);
    caught(peer::grant_fields_exact::<MemoryBackend<planted::TruncatesNames>>);
    caught(peer::ops_on_one_name_leave_others::<MemoryBackend<planted::TruncatesNames>>);
}

#[test]
fn waits_catch_early_and_late_answers() {
    let early = caught(peer::bounded_wait_timing::<MemoryBackend<planted::ReturnsEarly>>);
    assert!(early.contains("wait answered after"), "{early}");
    let late = caught(peer::bounded_wait_timing::<MemoryBackend<planted::ReturnsLate>>);
    assert!(late.contains("median past"), "{late}");
    caught(peer::wait_succeeds_when_freed::<MemoryBackend<planted::ReturnsEarly>>);
    caught(peer::departing_waiter_does_not_free::<MemoryBackend<planted::ReturnsEarly>>);
    caught(peer::crossed_waits_time_out::<MemoryBackend<planted::ReturnsEarly>>);
    caught(peer::crossed_waits_time_out::<MemoryBackend<planted::ReturnsLate>>);
}

#[test]
fn tokens_catch_a_prune_that_resets_them() {
    let message =
        caught(peer::tokens_survive_prune_and_reopen::<MemoryBackend<planted::ResetsTokens>>);
    assert!(message.contains("after"), "{message}");
}
