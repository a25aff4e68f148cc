//! The peer suite: what other lock libraries' own test suites check, re-stated for leasehold's
//! contract and written from scratch (each scenario's doc names the peer tests it restates, by
//! repository and test name; ideas only, no code).
//!
//! The peers are ShedLock (lukas-krecan/ShedLock), DistributedLock (madelson/DistributedLock),
//! etcd's lock and lease (etcd-io/etcd) and the DynamoDB lock client
//! (awslabs/amazon-dynamodb-lock-client). Scenarios that need several processes (exact counts
//! across processes, killed holders) are the multi-process stress test's; scenarios about
//! features leasehold does not have (re-entrance, minimum hold times, payloads, keep-alive
//! threads, sessions, cancellation) are left out.
//!
//! | scenario | what it shows | planted flaws it catches |
//! |---|---|---|
//! | [`exact_count_threads`] | lock-protected increments are exact under 6 threads | `CheckThenAct`, `AlwaysBusy` |
//! | [`try_race_exactly_one`] | one winner per try-lock race | `CheckThenAct`, `AlwaysBusy` |
//! | [`not_reentrant`] | the holder asking again is `Busy`; its retry is the same lease | `Reentrant`, `NoReplay` |
//! | [`stale_handle_cannot_touch_newer`] | an old lease cannot release or renew a newer one | `ReleaseByName`, `RenewsAnyToken` |
//! | [`foreign_token_cannot_release`] | a wrong token or the owner's name alone acts on nothing | `ReleaseByName`, `RenewsAnyToken`, `Reentrant` |
//! | [`cross_handle_visibility`] | every store sees a grant and a release at once | `StaleReads` |
//! | [`grant_fields_exact`] | a grant says exactly what was asked, from when it was granted | `TruncatesNames` |
//! | [`renew_after_end_is_lost`] | an ended lease stays ended, also racing its release | `RenewResurrects` |
//! | [`renew_keeps_lease_alive`] | a renewing holder keeps its lease past many ttls | `ShortensOnRenew`, `NeverExpires` |
//! | [`renew_never_shortens`] | renew means "at least until now + ttl" | `ShortensOnRenew` |
//! | [`expiry_frees`] | a lease ends at its expiry; every ending is told as it is | `NeverExpires` |
//! | [`abandoned_holder_frees_after_ttl`] | a holder that walks away frees at its expiry, not before | `NeverExpires` |
//! | [`independent_names`] | prefixes and pattern look-alikes are different locks | `TruncatesNames` |
//! | [`names_differ_by_case_and_form`] | case, normalisation and white space make different locks | `FoldsCase` |
//! | [`name_boundaries`] | the core's name and ttl limits, in bytes; endless waits | `TruncatesNames` |
//! | [`bounded_wait_timing`] | a bounded wait answers `Busy` at its deadline | `ReturnsEarly`, `ReturnsLate` |
//! | [`wait_succeeds_when_freed`] | a waiter is granted when the lease expires or is released | `ReturnsEarly` |
//! | [`departing_waiter_does_not_free`] | a waiter that gives up hands nothing on | `ReturnsEarly` |
//! | [`crossed_waits_time_out`] | crossed waits time out instead of deadlocking | `ReturnsEarly`, `ReturnsLate` |
//! | [`ops_on_one_name_leave_others`] | one resource's operations leave the others alone | `TruncatesNames` |
//! | [`holders_lists_exactly_the_valid`] | `holders` lists exactly the valid leases | `StaleReads` |
//! | [`tokens_survive_prune_and_reopen`] | tokens keep growing across prune and reopen | `ResetsTokens` |
//!
//! **Assumptions.** Every scenario runs on a fresh database with a [`ManualClock`] that the
//! scenario moves; waiting is measured on the real monotonic clock. Timing bounds allow the
//! store's tolerance (see [`waits`](self#waits)); the rest are counts and exact values.
//!
//! [`ManualClock`]: leasehold_contract::ManualClock
//!
//! # Waits
//!
//! A bounded wait may answer up to one whole 50 ms pause (the contract's backoff cap), ten
//! statements ([`Backend::statement_time`](crate::Backend::statement_time)) and 50 ms of
//! scheduling on a loaded machine after its deadline, and never before it.

mod counts;
mod handles;
mod lifetime;
mod names;
mod table;
mod waits;

pub use counts::{exact_count_threads, try_race_exactly_one};
pub use handles::{
    cross_handle_visibility, foreign_token_cannot_release, not_reentrant,
    stale_handle_cannot_touch_newer,
};
pub use lifetime::{
    abandoned_holder_frees_after_ttl, expiry_frees, grant_fields_exact, renew_after_end_is_lost,
    renew_keeps_lease_alive, renew_never_shortens,
};
pub use names::{independent_names, name_boundaries, names_differ_by_case_and_form};
pub use table::{
    holders_lists_exactly_the_valid, ops_on_one_name_leave_others, tokens_survive_prune_and_reopen,
};
pub use waits::{
    Timings, bounded_wait_timing, crossed_waits_time_out, departing_waiter_does_not_free,
    wait_succeeds_when_freed,
};
