//! The WAL stays bounded: SQLite checkpoints it automatically (every 1,000 pages by default), which
//! it only does for statements stepped to completion. The store's writes with `RETURNING` once
//! read their row and stopped there, and the WAL grew by a frame per commit for as long as the
//! connection lived (found by the benchmarks: durable commits slowed down as the file grew).

use leasehold_sqlite::{Acquire, Durability, Release};

use crate::support::{ms, store_at};

/// Bytes of one WAL frame: a 24-byte header and a 4 KiB page.
const FRAME: u64 = 24 + 4096;

#[test]
fn thousands_of_commits_leave_a_wal_of_about_one_checkpoint_interval() {
    let fixture = store_at(1_000, Durability::Relaxed);
    let store = &fixture.store;
    let commits = 6_000;
    for _ in 0..commits / 2 {
        let Ok(Acquire::Granted(lease)) = store.try_acquire("r", "a", ms(100)) else {
            panic!("the lock is free between cycles");
        };
        assert_eq!(store.release(lease).expect("release"), Release::Released);
    }
    let mut wal = fixture.path.clone().into_os_string();
    wal.push("-wal");
    let size = std::fs::metadata(&wal).expect("the WAL exists").len();
    // Without checkpoints: one frame per commit, 6,000 frames (24 MiB). With them: about 1,000.
    assert!(
        size < 1_500 * FRAME,
        "the WAL holds {} frames after {commits} commits",
        size / FRAME
    );
}
