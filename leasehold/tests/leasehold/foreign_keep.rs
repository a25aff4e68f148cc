//! Regression: `Store::keep` of a lease another store granted.
//!
//! Interleaving: store B is given a lease of store A to keep. It returned a guard that said
//! `is_valid() == true`, and every renewal failed with `ForeignLease`, which the keeper driver
//! took as a transient failure to retry until the deadline. Fix: `keep` checks the lease's store
//! id first and returns `Error::ForeignLease` (kind `ForeignLease`), keeping and releasing
//! nothing; the driver takes a `ForeignLease` answer as a refusal.

use std::time::Duration;

use leasehold::{
    Acquire, AsyncStore, ErrorKind, HoldOptions, KeeperConfig, Lease, StoreError, Ttl,
};

use crate::support::Scratch;

fn lease_of(store: &leasehold::Store) -> Lease {
    match store
        .try_acquire("r", "a", Duration::from_secs(30))
        .expect("acquire")
    {
        Acquire::Granted(lease) => lease,
        Acquire::Busy(holder) => panic!("busy: {holder:?}"),
    }
}

fn options() -> HoldOptions {
    HoldOptions::new(KeeperConfig::new(
        Ttl::from_duration(Duration::from_secs(30)).expect("a ttl"),
    ))
}

#[test]
fn keep_refuses_a_lease_of_another_store_and_leaves_it_held() {
    let (a, b) = (Scratch::new(), Scratch::new());
    let (a, b) = (a.store(), b.store());
    let lease = lease_of(&a);
    let refused = b.keep(lease.clone(), options());
    let error = refused.expect_err("a guard for a foreign lease");
    assert_eq!(error.kind(), ErrorKind::ForeignLease, "{error}");
    let holder = a
        .holder("r")
        .expect("read")
        .expect("still held in its own store");
    assert_eq!(holder.token(), lease.token());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_keep_refuses_a_lease_of_another_store() {
    let (a, b) = (Scratch::new(), Scratch::new());
    let lease = lease_of(&a.store());
    let b = AsyncStore::from(b.store());
    let refused = b.keep(lease, options()).await;
    let error = refused.expect_err("a guard for a foreign lease");
    assert_eq!(error.kind(), ErrorKind::ForeignLease, "{error}");
}
