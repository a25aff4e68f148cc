//! Names: every distinct string is a distinct lock, kept byte for byte, within the core's limits.

use leasehold_contract::{ErrorKind, LockStore, StoreError};

use crate::backend::Backend;
use crate::support::{Fixture, granted, holder_of, ms, ok, released};

/// Holds `first`, then asks for `second` through another store: it is granted, both are listed
/// byte for byte, and releasing `first` leaves `second`'s holder as it was.
fn both_held<S: LockStore>(store: &S, other: &S, first: &str, second: &str) {
    let a = granted(
        store.try_acquire(first, "a", ms(60_000)),
        &format!("{first:?}"),
    );
    let what = format!("{second:?} while {first:?} is held");
    let b = granted(other.try_acquire(second, "b", ms(60_000)), &what);
    assert_eq!(
        b.resource().as_str(),
        second,
        "{what}: the name comes back as given"
    );
    let listed: Vec<String> = ok(other.holders(), "holders")
        .iter()
        .map(|h| h.resource().as_str().to_owned())
        .collect();
    assert!(
        listed.iter().any(|n| n == first) && listed.iter().any(|n| n == second),
        "{listed:?}"
    );
    released(store.release(&a), &format!("{first:?}'s release"));
    assert_eq!(
        holder_of(store, second).as_ref(),
        Some(b.holder()),
        "{what}: untouched"
    );
    released(other.release(&b), &format!("{second:?}'s release"));
}

/// Names that a prefix match, a `LIKE` pattern, a cut-short key or a numeric reading would
/// confuse are independent locks: `path` and `path/1` (both ways round), `a` and `a/`, `ab` and
/// `a_`, `abc` and `a%`, `a%` and `aXb`, `x` and `x\`, `1` and `01`, `lock-1` and `lock-2`.
///
/// Peers: lukas-krecan/ShedLock `AbstractLockProviderIntegrationTest.shouldCreateTwoIndependentLocks`;
/// madelson/DistributedLock `BasicTest` (another name succeeds while one is held); etcd-io/etcd
/// `TestElectionOnPrefixOfExistingKey`; awslabs/amazon-dynamodb-lock-client `testBackgroundThread`
/// (another key is independent). Catches [`Flaw::TruncatesNames`](crate::Flaw::TruncatesNames).
///
/// # Panics
///
/// When one name's lease blocks or changes another's.
pub fn independent_names<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let other = fixture.open();
    let pairs = [
        ("path", "path/1"),
        ("path/1", "path"),
        ("a", "a/"),
        ("ab", "a_"),
        ("abc", "a%"),
        ("a%", "aXb"),
        ("x", "x\\"),
        ("1", "01"),
        ("lock-1", "lock-2"),
    ];
    for (first, second) in pairs {
        both_held(&fixture.store, &other, first, second);
    }
}

/// Names that differ only by case, Unicode normalisation or compatibility form, or by white
/// space and invisible characters, are different locks, and each comes back byte for byte:
/// `lock`/`LOCK`, `straße`/`STRASSE`, `é` (one code point) and `e` + combining acute, `ﬁ`/`fi`,
/// full-width `Ａ`/`A`, dotless `ı`/`I`, `a`/`a ` (trailing space), `a`/` a`, `a` and `a` + zero
/// width space, `Å` (U+00C5) and the Ångström sign (U+212B), `K` and the Kelvin sign (U+212A).
///
/// Peers: madelson/DistributedLock `TestLockNamesAreCaseSensitive` and
/// `TestGetSafeLockNameIsCaseSensitive`. Catches [`Flaw::FoldsCase`](crate::Flaw::FoldsCase)
/// (and would catch a case-insensitive collation, a `char(n)` column that ignores trailing
/// blanks, or a normalising step).
///
/// # Panics
///
/// When two such names are one lock, or a name does not come back as given.
pub fn names_differ_by_case_and_form<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let other = fixture.open();
    let pairs = [
        ("lock", "LOCK"),
        ("straße", "STRASSE"),
        ("\u{e9}", "e\u{301}"),
        ("\u{fb01}", "fi"),
        ("\u{ff21}", "A"),
        ("\u{131}", "I"),
        ("a", "a "),
        ("a", " a"),
        ("a", "a\u{200b}"),
        ("\u{c5}", "\u{212b}"),
        ("K", "\u{212a}"),
    ];
    for (first, second) in pairs {
        both_held(&fixture.store, &other, first, second);
    }
}

/// The core's name rules, kept by the store, counted in bytes: 255 bytes of ASCII, 85 euro
/// signs (255 bytes), 63 emoji and `abc` (255 bytes) are accepted and come back as given; 256
/// bytes, 86 euro signs (258 bytes, only 86 characters), the empty name and names with a control
/// character (`\n`, `\0`, DEL, the C1 `\u{85}`) are refused as invalid input, writing nothing;
/// quotes, percent, underscore, backslash and SQL-looking text are names like any other. A ttl of
/// zero and one too long to store are refused; a wait of `Duration::MAX` and one until a century
/// from now wait (and are granted) rather than overflow.
///
/// Peers: lukas-krecan/ShedLock `AbstractJdbcLockProviderIntegrationTest.shouldFailIfKeyNameTooLong`;
/// madelson/DistributedLock `TestBadArguments` and `TestGetSafeName`;
/// awslabs/amazon-dynamodb-lock-client `testInvalidAttributesKey` and
/// `testInvalidAttributesOwnerName`. Catches [`Flaw::TruncatesNames`](crate::Flaw::TruncatesNames).
///
/// # Panics
///
/// When a valid name is refused or changed, an invalid one accepted, or a refusal writes.
pub fn name_boundaries<B: Backend>() {
    let fixture = Fixture::<B>::new();
    let store = &fixture.store;
    for name in [
        "n".repeat(255),
        "\u{20ac}".repeat(85),
        format!("{}abc", "\u{1f512}".repeat(63)),
        "it's".to_owned(),
        "\"".to_owned(),
        "%_\\".to_owned(),
        "'; drop table leasehold_locks; --".to_owned(),
    ] {
        let lease = granted(
            store.try_acquire(&name, "o", ms(60_000)),
            &format!("{name:?}"),
        );
        assert_eq!(
            lease.resource().as_str(),
            name,
            "{name:?} comes back as given"
        );
        assert_eq!(
            holder_of(store, &name).as_ref(),
            Some(lease.holder()),
            "{name:?}"
        );
    }
    let before = fixture.snapshot();
    refused(store);
    assert_eq!(fixture.snapshot(), before, "a refused request wrote");
    endless_waits(&fixture);
}

/// Names the core refuses, and ttls it refuses: all invalid input.
fn refused<S: LockStore>(store: &S) {
    for name in [
        "n".repeat(256),
        "\u{20ac}".repeat(86),
        String::new(),
        "a\nb".to_owned(),
        "a\0b".to_owned(),
        "a\u{7f}".to_owned(),
        "a\u{85}".to_owned(),
    ] {
        let what = format!("the name {name:?}");
        invalid(store.try_acquire(&name, "o", ms(60_000)), &what);
        invalid(store.holder(&name), &what);
    }
    invalid(store.try_acquire("ok", "o", ms(0)), "a zero ttl");
    let endless = std::time::Duration::MAX;
    invalid(store.try_acquire("ok", "o", endless), "an endless ttl");
}

/// Asserts `answer` is refused as invalid input.
fn invalid<T: std::fmt::Debug, E: StoreError>(answer: Result<T, E>, what: &str) {
    match answer {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}"),
        Ok(answer) => panic!("{what} was accepted: {answer:?}"),
    }
}

/// A wait of `Duration::MAX`, and one until a century from now, on a held lease: both wait
/// until it is released and are granted.
fn endless_waits<B: Backend>(fixture: &Fixture<B>) {
    let holder = fixture.open();
    for endless in [true, false] {
        let held = granted(holder.try_acquire("endless", "h", ms(60_000)), "the holder");
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                if endless {
                    fixture
                        .store
                        .acquire_for("endless", "w", ms(60_000), std::time::Duration::MAX)
                } else {
                    let century = std::time::Duration::from_secs(100 * 365 * 24 * 3_600);
                    let until = std::time::Instant::now() + century;
                    fixture
                        .store
                        .acquire_until("endless", "w", ms(60_000), until)
                }
            });
            std::thread::sleep(ms(50));
            let early = waiter.is_finished();
            // Released before any assertion, so that a failure cannot leave the waiter waiting
            // forever.
            released(holder.release(&held), "the holder's release");
            let lease = granted(waiter.join().expect("the waiter does not panic"), "endless");
            assert!(!early, "an endless wait answered while the lease was held");
            released(fixture.store.release(&lease), "the waiter's release");
        });
    }
}
