//! What the concurrent suites share: a database with its clock and first store, answers read
//! without ceremony, a small seeded random source, and the timing tolerance of waiting tests.

use std::fmt::Display;
use std::time::{Duration, Instant};

use leasehold_contract::{Acquire, Holder, Lease, LockStore, Lost, ManualClock, Release, Renew};
use leasehold_core::{LockTable, Timestamp};

use crate::backend::Backend;
use leasehold_contract::Audit;

/// Where the logical clock of every suite starts: 2023-11-14, a realistic wall-clock reading in
/// milliseconds, so tokens start where a real store's would.
pub(crate) const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The longest pause of the contract's waiting acquire (`leasehold_contract::wait`, 50 ms): a
/// waiter can notice a release through another store that much late.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(50);

/// `millis` milliseconds.
pub(crate) const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// One fresh database, the logical clock every store on it reads, and a first store.
pub(crate) struct Fixture<B: Backend> {
    pub(crate) backend: B,
    pub(crate) clock: ManualClock,
    pub(crate) store: B::Store,
    // Dropped after every store opened on it (fields drop in order).
    pub(crate) db: B::Database,
}

impl<B: Backend> Fixture<B> {
    /// A fresh database at [`T0`].
    pub(crate) fn new() -> Self {
        let backend = B::default();
        let db = backend.database();
        let clock = ManualClock::new(T0);
        let store = backend.open(&db, &clock);
        Self {
            backend,
            clock,
            store,
            db,
        }
    }

    /// Another store on the same database and clock (its own connection).
    pub(crate) fn open(&self) -> B::Store {
        self.backend.open(&self.db, &self.clock)
    }

    /// The store's clock reading.
    pub(crate) fn now(&self) -> Timestamp {
        use leasehold_contract::Clock;
        self.clock.now().expect("a manual clock always reads")
    }

    /// Moves the clock forward by `millis`.
    pub(crate) fn advance(&self, millis: u64) {
        self.clock.advance(ms(millis));
    }

    /// The store's whole state.
    pub(crate) fn snapshot(&self) -> LockTable {
        ok(self.store.snapshot(), "a snapshot")
    }

    /// The tolerance of a bounded wait on this store: see [`tolerance`].
    pub(crate) fn tolerance(&self) -> Duration {
        tolerance(self.backend.statement_time())
    }
}

/// How late a bounded wait may return past its timeout: one whole [`MAX_PAUSE`] (a store whose
/// last pause is not cut at the deadline sleeps up to that much past it), ten statements (the
/// last attempt, queued behind other connections on a busy database), and 50 ms for a loaded
/// two-core machine that runs the waiter late. 100 ms for the memory store, 120 ms for SQLite.
pub(crate) fn tolerance(statement_time: Duration) -> Duration {
    MAX_PAUSE + statement_time * 10 + ms(50)
}

/// `result`'s value; a store error fails the test, naming `what` was asked.
pub(crate) fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: the store failed: {e}"))
}

/// The lease of a grant; `Busy` or an error fails the test.
pub(crate) fn granted<E: Display>(answer: Result<Acquire, E>, what: &str) -> Lease {
    match ok(answer, what) {
        Acquire::Granted(lease) => lease,
        Acquire::Busy(holder) => panic!("{what}: Busy({}), expected a grant", show(&holder)),
    }
}

/// The holder a `Busy` answer names; a grant or an error fails the test.
pub(crate) fn busy<E: Display>(answer: Result<Acquire, E>, what: &str) -> Holder {
    match ok(answer, what) {
        Acquire::Busy(holder) => holder,
        Acquire::Granted(lease) => {
            panic!("{what}: granted {}, expected Busy", show(lease.holder()))
        }
    }
}

/// The renewed lease; `Lost` or an error fails the test.
pub(crate) fn renewed<E: Display>(answer: Result<Renew, E>, what: &str) -> Lease {
    match ok(answer, what) {
        Renew::Renewed(lease) => lease,
        Renew::Lost(lost) => panic!("{what}: {lost:?}, expected Renewed"),
    }
}

/// Why a renew was refused; `Renewed` or an error fails the test.
pub(crate) fn lost<E: Display>(answer: Result<Renew, E>, what: &str) -> Lost {
    match ok(answer, what) {
        Renew::Lost(lost) => lost,
        Renew::Renewed(lease) => panic!("{what}: renewed {}, expected Lost", show(lease.holder())),
    }
}

/// Asserts `answer` is `Released`.
pub(crate) fn released<E: Display>(answer: Result<Release, E>, what: &str) {
    let answer = ok(answer, what);
    assert_eq!(answer, Release::Released, "{what}");
}

/// A holder in a line of text: `resource owner #token [acquired_at, expires_at)`.
pub(crate) fn show(holder: &Holder) -> String {
    format!(
        "{} {} {} [{}, {})",
        holder.resource(),
        holder.owner(),
        holder.token(),
        holder.acquired_at().as_millis(),
        holder.expires_at().as_millis()
    )
}

/// How long `f` took, with its result.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// The holder of `resource` as `store` reports it.
pub(crate) fn holder_of<S: LockStore>(store: &S, resource: &str) -> Option<Holder> {
    ok(store.holder(resource), "holder")
}

/// A small seeded random source (SplitMix64): the concurrent suites draw their operations from
/// it, and print the seed when they fail.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A source seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the process's random hasher keys: different every run.
    pub(crate) fn seed() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(Instant::now())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index below `len` (`len > 0`).
    pub(crate) fn index(&mut self, len: usize) -> usize {
        let len = u64::try_from(len).expect("lengths fit in 64 bits");
        usize::try_from(self.below(len)).expect("an index below a length fits")
    }

    /// `true` with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
