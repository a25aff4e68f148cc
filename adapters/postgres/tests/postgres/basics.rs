//! The store's answers on a real server, step by step.

use leasehold_postgres::{Acquire, Release, Renew};

use super::support::{TestDb, granted, ms};

#[test]
fn acquire_renew_release_on_the_server_clock() {
    let db = TestDb::create();
    let store = db.store();
    let lease = granted(store.try_acquire("plan/42", "worker-a", ms(30_000)));
    let Ok(Acquire::Busy(holder)) = store.try_acquire("plan/42", "worker-b", ms(30_000)) else {
        panic!("the lease is valid");
    };
    assert_eq!(holder.token(), lease.token());
    assert!(matches!(
        store.renew(&lease, ms(60_000)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    assert!(store.holder("plan/42").expect("holder").is_none());
}
