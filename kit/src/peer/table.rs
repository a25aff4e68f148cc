//! The table as a whole: one resource's operations leave the others alone, `holders` lists
//! exactly the valid leases, and tokens keep growing across prune and reopen.

use std::collections::BTreeMap;

use leasehold_contract::{Audit, Evict, Holder, Lease, LockStore, ManualClock};

use crate::backend::Backend;
use crate::support::{Fixture, T0, granted, holder_of, ms, ok, released, renewed, show};

/// The owner holds `lock-1`, `lock-2` and `lock-3`; on `lock-2` it renews, releases, prunes
/// (deleting only `lock-2`'s record), acquires again and has it evicted: after each, `lock-1` and `lock-3` have exactly the holder
/// they had, and still renew.
///
/// Peers: lukas-krecan/ShedLock `AbstractLockProviderIntegrationTest.shouldCreateTwoIndependentLocks`
/// and `AbstractJdbcLockProviderIntegrationTest.shouldCreateLockIfRecordAlreadyExists`;
/// etcd-io/etcd `TestLeaseKeepAliveCloseAfterDisconnectRevoke` (revoking one lease leaves the
/// others' keep-alives). Catches [`Flaw::TruncatesNames`](crate::Flaw::TruncatesNames) (the
/// three names are one lock).
///
/// # Panics
///
/// When an operation on `lock-2` changes another resource.
pub fn ops_on_one_name_leave_others<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, other) = (&fixture.store, fixture.open());
    let hold = |name: &str| granted(store.try_acquire(name, "o", ms(60_000)), name);
    let (one, two, three) = (hold("lock-1"), hold("lock-2"), hold("lock-3"));
    let untouched = |after: &str| {
        for lease in [&one, &three] {
            let seen = holder_of(&other, lease.resource().as_str());
            assert_eq!(seen.as_ref(), Some(lease.holder()), "after {after}");
        }
    };
    let two = renewed(store.renew(&two, ms(90_000)), "lock-2's renewal");
    untouched("renewing lock-2");
    released(store.release(&two), "lock-2's release");
    untouched("releasing lock-2");
    fixture.advance(10);
    assert_eq!(
        ok(other.prune(ms(0)), "the prune"),
        1,
        "only lock-2's ended lease is pruned"
    );
    untouched("pruning");
    let two = hold("lock-2");
    untouched("acquiring lock-2 again");
    let evicted = ok(other.evict("lock-2"), "lock-2's eviction");
    assert_eq!(evicted, Evict::Evicted(two.holder().clone()));
    untouched("evicting lock-2");
    for lease in [&one, &three] {
        renewed(
            store.renew(lease, ms(60_000)),
            "renewing the others afterwards",
        );
    }
}

/// `holders` lists exactly the valid leases, each once, in byte order, as granted: nothing on a
/// fresh store, then one, then 121 valid among 20 expired, 20 released and 20 evicted, read
/// through another store.
///
/// Peers: awslabs/amazon-dynamodb-lock-client `GetAllLocksTests`
/// (`testGetAllLocksFromDynamoDBNoLocks`, `…SingleLock`, `…MultipleLocks`,
/// `…MultiplePagedResultSet`); etcd-io/etcd `TestLeaseGrantAndList`. Catches
/// [`Flaw::StaleReads`](crate::Flaw::StaleReads) (the list lags behind another store's grants).
///
/// # Panics
///
/// When the list misses a valid lease, lists an ended one, or repeats one.
pub fn holders_lists_exactly_the_valid<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let (store, reader) = (&fixture.store, fixture.open());
    assert_eq!(ok(reader.holders(), "holders of a fresh store"), []);
    let first = granted(
        store.try_acquire("list/first", "o", ms(60_000)),
        "the first",
    );
    assert_eq!(ok(reader.holders(), "holders"), [first.holder().clone()]);
    let mut valid: BTreeMap<String, Holder> = BTreeMap::new();
    valid.insert("list/first".to_owned(), first.holder().clone());
    let mut grant = |name: String, ttl| {
        let lease = granted(store.try_acquire(&name, "o", ms(ttl)), &name);
        valid.insert(name, lease.holder().clone());
        lease
    };
    for i in 0..20 {
        grant(format!("list/short/{i:02}"), 10);
    }
    for i in 0..120 {
        grant(format!("list/valid/{i:03}"), 60_000);
    }
    for i in 0..20 {
        let lease = grant(format!("list/released/{i:02}"), 60_000);
        released(store.release(&lease), "a release");
        let evicted = grant(format!("list/evicted/{i:02}"), 60_000);
        let answer = ok(store.evict(evicted.resource().as_str()), "an eviction");
        assert_eq!(answer, Evict::Evicted(evicted.holder().clone()));
    }
    fixture.advance(10);
    valid.retain(|name, _| name.starts_with("list/valid") || name == "list/first");
    let listed = ok(reader.holders(), "holders");
    let expected: Vec<Holder> = valid.into_values().collect();
    assert_eq!(listed.len(), 121, "{} listed", listed.len());
    assert!(
        listed == expected,
        "holders lists {:?}",
        listed.iter().map(show).collect::<Vec<_>>()
    );
}

/// Tokens never go back: a released lease's record pruned, the resource's next token is still
/// larger; a new resource's first token is above every pruned one; and after every store is
/// closed and a new one opened on the same database, the holder is as it was (same token, same
/// expiry, not extended) and the next grant's token is larger again.
///
/// Peers: etcd-io/etcd `TestLessorRecover` and `TestV3LeaseRecoverAndRevoke` (and the bug
/// behind etcd-io/etcd #20273, a lease's ttl refreshed by a restart); lukas-krecan/ShedLock
/// `AbstractJdbcLockProviderIntegrationTest.shouldCreateLockIfRecordAlreadyExists`. Catches
/// [`Flaw::ResetsTokens`](crate::Flaw::ResetsTokens).
///
/// # Panics
///
/// When a token repeats or goes back, or reopening changes a lease.
pub fn tokens_survive_prune_and_reopen<B: Backend>() {
    // No fixture: its store would keep the database open.
    let (backend, clock) = (B::default(), ManualClock::new(T0));
    let db = backend.database();
    let first = backend.open(&db, &clock);
    let held = held_after_a_prune::<B>(&first, &clock);
    drop(first);
    let reopened = backend.open(&db, &clock);
    let seen = holder_of(&reopened, "tokens/r");
    assert_eq!(seen.as_ref(), Some(held.holder()), "reopened");
    clock.advance(ms(2_000));
    let after = granted(
        reopened.try_acquire("tokens/r", "p", ms(60_000)),
        "reopened",
    );
    let (before, after) = (held.token(), after.token());
    assert!(after > before, "{after} after {before}");
}

/// Grants, releases and prunes `tokens/r`, then grants it again for 2 s (returned) and a new
/// resource: both tokens above the pruned one.
fn held_after_a_prune<B: Backend>(store: &B::Store, clock: &ManualClock) -> Lease {
    let lease = granted(store.try_acquire("tokens/r", "o", ms(60_000)), "the first");
    released(store.release(&lease), "its release");
    clock.advance(ms(10));
    assert!(ok(store.prune(ms(0)), "the prune") >= 1, "nothing pruned");
    let table = ok(store.snapshot(), "a snapshot");
    assert!(table.state(lease.resource()).record().is_none(), "pruned");
    let again = granted(
        store.try_acquire("tokens/r", "o", ms(2_000)),
        "after the prune",
    );
    let fresh = granted(
        store.try_acquire("tokens/new", "o", ms(60_000)),
        "a new one",
    );
    for later in [&again, &fresh] {
        let (before, after) = (lease.token(), later.token());
        assert!(
            after > before,
            "{}: {after} after the pruned {before}",
            later.resource()
        );
    }
    again
}
