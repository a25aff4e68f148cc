//! **Expiry decided by comparing ISO-8601 strings.**
//!
//! Interleaving: none needed. worker-a's lease expires at `2026-04-10T19:04:33.500+00:00`; at
//! `2026-04-10T19:04:33Z`, half a second before that, worker-b asks for the lock. The seed's check
//! `existing_expires >= now_iso` compares the strings byte by byte: `.` sorts before `Z`, so the
//! lease looks expired and worker-b is granted a lock that worker-a still holds. Other pairs go
//! wrong the other way (a lease that ended looks held) or through time-zone offsets.
//!
//! Cause: text order is not time order once precision or offsets differ between the two strings.
//!
//! Fix: time is `Timestamp`, integer milliseconds on the store's clock, stored in an INTEGER
//! column of a STRICT table and compared as integers. The test replays each pair on the real store
//! with those instants as milliseconds and gets the right answer every time.

use leasehold_sqlite::{Acquire, Direct};

use crate::support::{Db, granted, ms};

/// The seed's expiry check: "held" iff `existing_expires >= now_iso`, as text.
fn seed_says_held(existing_expires: &str, now_iso: &str) -> bool {
    existing_expires >= now_iso
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` — just enough of
/// ISO 8601 to know the true answer for each pair below.
fn millis(iso: &str) -> u64 {
    let (date, rest) = iso.split_once('T').expect("a date and a time");
    let (time, offset_minutes) = match rest.strip_suffix('Z') {
        Some(time) => (time, 0),
        None => {
            let (time, offset) = rest.split_at(rest.len() - 6);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':').expect("±HH:MM");
            (
                time,
                sign * (h.parse::<i64>().expect("hours") * 60 + m.parse::<i64>().expect("minutes")),
            )
        }
    };
    let numbers = |s: &str, sep| {
        s.split(sep)
            .map(|n| n.parse::<i64>().expect("a number"))
            .collect::<Vec<_>>()
    };
    let ymd = numbers(date, '-');
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let hms = numbers(hms, ':');
    let fraction_ms = format!("{fraction:0<3}")[..3]
        .parse::<i64>()
        .expect("milliseconds");
    let days = days_from_civil(ymd[0], ymd[1], ymd[2]);
    let seconds = days * 86_400 + hms[0] * 3_600 + hms[1] * 60 + hms[2] - offset_minutes * 60;
    u64::try_from(seconds * 1_000 + fraction_ms).expect("after the epoch")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (lease expiry, the moment someone else asks), each a case the text comparison gets wrong.
const PAIRS: [(&str, &str); 4] = [
    // 500 ms before expiry; `.` < `Z` makes the lease look expired: a double grant.
    ("2026-04-10T19:04:33.500+00:00", "2026-04-10T19:04:33Z"),
    // One second before expiry, the asker's clock written with +01:00: looks expired.
    ("2026-04-10T19:04:34Z", "2026-04-10T20:04:33+01:00"),
    // 999 ms after expiry; `Z` > `.` makes the ended lease look held: the lock is lost for good.
    ("2026-04-10T19:04:33Z", "2026-04-10T19:04:33.999Z"),
    // Almost an hour after expiry, the expiry written with +02:00: looks held.
    ("2026-04-10T21:04:33+02:00", "2026-04-10T20:00:00Z"),
];

#[test]
fn the_day_arithmetic_is_right() {
    assert_eq!(millis("1970-01-01T00:00:00Z"), 0);
    assert_eq!(millis("2000-03-01T00:00:00Z"), 951_868_800_000);
    assert_eq!(
        millis("2026-04-10T21:04:33+02:00"),
        millis("2026-04-10T19:04:33Z")
    );
    assert_eq!(
        millis("2026-04-10T19:04:33.5Z") + 500,
        millis("2026-04-10T19:04:34Z")
    );
}

#[test]
fn comparing_the_strings_misjudges_expiry() {
    for (expires, now) in PAIRS {
        let truly_held = millis(now) < millis(expires);
        assert_ne!(
            seed_says_held(expires, now),
            truly_held,
            "{expires} vs {now}"
        );
    }
}

#[test]
fn integer_milliseconds_judge_every_pair_right() {
    for (expires, now) in PAIRS {
        let (expires_ms, now_ms) = (millis(expires), millis(now));
        let db = Db::new(expires_ms - 60_000);
        let store = db.store(Direct);
        let lease = granted(
            store
                .try_acquire("plan/42", "worker-a", ms(60_000))
                .expect("acquire"),
        );
        assert_eq!(lease.expires_at().as_millis(), expires_ms);
        db.clock
            .set(leasehold_sqlite::Timestamp::from_millis(now_ms));
        let asked = store
            .try_acquire("plan/42", "worker-b", ms(1_000))
            .expect("acquire");
        let truly_held = now_ms < expires_ms;
        assert_eq!(
            matches!(asked, Acquire::Busy(_)),
            truly_held,
            "{expires} vs {now}"
        );
    }
}
