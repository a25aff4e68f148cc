//! A schema used before and reset is what a new schema is to the kit: no rows, a new store id,
//! and the high-water mark a new store starts above — for a first store on a manual clock and
//! for one on the server's clock.

use std::time::Duration;

use leasehold_contract::{Audit, ManualClock, starting_high_water};
use leasehold_kit::Backend;
use leasehold_postgres::{Acquire, PgStore, Release, Timestamp};

use super::{PgBackend, PgDatabase, pool};

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// Uses `store` as a test would: grants, a release, an expiry and a prune, so that the table has
/// rows and the high-water mark has risen.
fn use_up(store: &PgStore, clock: &ManualClock) {
    for resource in ["a", "b", "c"] {
        let granted = store.try_acquire(resource, "o", Duration::from_millis(10));
        assert!(matches!(granted, Ok(Acquire::Granted(_))), "{granted:?}");
    }
    let Ok(Acquire::Granted(lease)) = store.try_acquire("d", "o", Duration::from_secs(60)) else {
        panic!("d is free");
    };
    assert_eq!(store.release(&lease).ok(), Some(Release::Released));
    clock.advance(Duration::from_secs(120));
    assert!(store.prune(Duration::from_secs(1)).expect("a prune") > 0);
}

#[test]
fn a_schema_used_before_is_reset_to_what_a_new_one_holds() {
    let backend = PgBackend::<false>;
    let clock = ManualClock::new(T0);
    let new = PgDatabase::empty();
    let first = backend.open(&new, &clock);
    let (new_table, new_id, new_meta) = (
        first.snapshot().expect("rows"),
        first.store_id(),
        pool::meta(&new.schema),
    );
    assert_eq!(new_table.records().count(), 0);
    assert_eq!(new_table.pruned_high_water(), starting_high_water(T0));
    use_up(&first, &clock);
    assert_ne!(first.snapshot().expect("rows"), new_table, "used up");
    drop(first);

    // The same schema again, first opened at the same reading: the same table as when new.
    let used = new.reuse();
    let clock = ManualClock::new(T0);
    let second = backend.open(&used, &clock);
    assert_eq!(second.snapshot().expect("rows"), new_table);
    assert_ne!(second.store_id(), new_id, "a new store id");
    let keys = |meta: &[(String, i64)]| meta.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&pool::meta(&used.schema)), keys(&new_meta));
    assert_eq!(pool::meta(&used.schema)[1], new_meta[1], "schema_version");
    let another = backend.open(&used, &clock);
    assert_eq!(
        another.store_id(),
        second.store_id(),
        "reset once, by the first store"
    );
    use_up(&second, &clock);
    drop((second, another));

    // First opened on the server's clock: the mark a store creating the schema then would write.
    let used = used.reuse();
    let before = pool::server_now();
    let real = backend.open_real(&used);
    let after = pool::server_now();
    let mark = real.snapshot().expect("rows").pruned_high_water();
    assert!(
        starting_high_water(before) <= mark && mark <= starting_high_water(after),
        "{mark:?} not within [{before:?}, {after:?}]"
    );
    assert_eq!(real.snapshot().expect("rows").records().count(), 0);
}
