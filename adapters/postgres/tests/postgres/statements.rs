//! Each successful state change is exactly one statement; each refused one is that statement
//! plus one read; waiting through the async store leaves nothing behind when abandoned.

use leasehold_postgres::{
    Acquire, AsyncPgStore, Evict, ManualClock, Options, PgStore, Release, Renew, Statement,
    Timestamp,
};

use super::support::{Record, TestDb, granted, ms};

#[test]
fn each_operation_sends_one_write_and_at_most_one_read() {
    one_write_and_at_most_one_read(Options::new());
}

/// The same with prepared statements: preparing is part of the statement, not one more.
#[test]
fn each_prepared_operation_sends_one_write_and_at_most_one_read() {
    one_write_and_at_most_one_read(Options::new().prepared_statements(true));
}

fn one_write_and_at_most_one_read(options: Options) {
    let db = TestDb::create();
    let seen = Record::default();
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    let options = options.clock(clock.clone()).seam(seen.clone());
    let store = PgStore::connect_with(db.url(), options).expect("a store");
    seen.take();
    let lease = granted(store.try_acquire("r", "a", ms(100)));
    assert_eq!(seen.take(), [Statement::Acquire], "successful acquire");
    assert!(matches!(
        store.try_acquire("r", "b", ms(100)),
        Ok(Acquire::Busy(_))
    ));
    assert_eq!(
        seen.take(),
        [Statement::Acquire, Statement::ReadLock],
        "busy acquire"
    );
    assert!(matches!(
        store.renew(&lease, ms(200)),
        Ok(Renew::Renewed(_))
    ));
    assert_eq!(seen.take(), [Statement::Renew], "successful renew");
    assert!(matches!(store.evict("r"), Ok(Evict::Evicted(_))));
    assert_eq!(seen.take(), [Statement::Evict], "evict");
    assert!(matches!(store.renew(&lease, ms(200)), Ok(Renew::Lost(_))));
    assert_eq!(
        seen.take(),
        [Statement::Renew, Statement::ReadLock],
        "lost renew"
    );
    assert!(matches!(
        store.release(&lease),
        Ok(Release::NotHolder(None))
    ));
    assert_eq!(
        seen.take(),
        [Statement::Release, Statement::ReadLock],
        "not holder"
    );
    let lease = granted(store.try_acquire("r", "b", ms(100)));
    seen.take();
    assert_eq!(store.release(&lease).expect("release"), Release::Released);
    assert_eq!(seen.take(), [Statement::Release], "successful release");
    assert_eq!(store.holders().expect("holders"), []);
    assert_eq!(seen.take(), [Statement::ListLocks], "holders");
    clock.advance(ms(10));
    assert_eq!(store.prune(ms(0)).expect("prune"), 1);
    assert_eq!(seen.take(), [Statement::Prune], "prune");
}

/// A waiting acquire whose future is dropped (a timeout around it) takes nothing later, and the
/// store serves the next caller at once.
#[test]
fn an_abandoned_async_wait_leaves_nothing_behind() {
    let db = TestDb::create();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let holder = AsyncPgStore::connect(db.url()).await.expect("a store");
        let waiter = AsyncPgStore::connect(db.url()).await.expect("a store");
        let lease = granted(holder.try_acquire("r", "holder", ms(60_000)).await);
        let wait = waiter.acquire_for("r", "waiter", ms(60_000), ms(5_000));
        assert!(
            tokio::time::timeout(ms(100), wait).await.is_err(),
            "the wait ended early"
        );
        assert_eq!(
            holder.release(&lease).await.expect("release"),
            Release::Released
        );
        tokio::time::sleep(ms(300)).await;
        assert_eq!(
            waiter.holder("r").await.expect("a read"),
            None,
            "a ghost lease"
        );
        // Two tasks of one store wait in line; a release through the store wakes the first.
        let lease = granted(holder.try_acquire("r", "holder", ms(60_000)).await);
        let (first, second) = tokio::join!(
            holder.acquire_for("r", "first", ms(60_000), ms(5_000)),
            async {
                tokio::time::sleep(ms(20)).await;
                holder.release(&lease).await.expect("release")
            }
        );
        assert!(matches!(first, Ok(Acquire::Granted(_))), "{first:?}");
        assert_eq!(second, Release::Released);
    });
}
