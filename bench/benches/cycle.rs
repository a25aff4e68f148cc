//! Criterion micro-benchmarks: one thread, one connection, acquire+release cycles of every
//! contender in both durability modes, on the same file system (the system temp dir) with the
//! same settings. `cargo bench -p leasehold-bench`; the multi-process grid and the target ratios
//! are the `leasehold-bench` binary's (see `docs/performance.md`).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use leasehold_bench::contender::{self, WithLocker};
use leasehold_bench::{Contender, Durability, Locker};
use leasehold_sqlite::{Options, SqliteStore};

/// One benchmark: a contender's cycle within a group.
struct Cycle<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    contender: Contender,
}

impl WithLocker for Cycle<'_, '_> {
    type Output = ();

    fn with<L: Locker>(self, locker: L) {
        self.group.bench_function(self.contender.name(), |b| {
            b.iter(|| {
                let grant = locker
                    .try_acquire("r00", "bench")
                    .expect("no storage failure")
                    .expect("one client alone always finds the resource free");
                locker.release(&grant).expect("no storage failure");
            });
        });
    }
}

fn cycles(c: &mut Criterion) {
    for durability in Durability::ALL {
        let mut group = c.benchmark_group(format!("cycle/{}", durability.name()));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for contender in Contender::SQLITE {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("locks.db");
            let options = Options::new().durability(durability.store());
            // Creates the schema, and holds the file open like the binary's runs do.
            let _keeper = SqliteStore::open_with(&path, options).expect("a fresh store");
            let cycle = Cycle {
                group: &mut group,
                contender,
            };
            contender::open(contender, &path, durability, cycle).expect("the contender opens");
        }
        group.finish();
    }
}

criterion_group!(benches, cycles);
criterion_main!(benches);
