//! Wall-clock times as the command shows them: Unix milliseconds and RFC 3339 (UTC).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch (0 before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall-clock time of `instant` (a monotonic instant), in Unix milliseconds: now plus the
/// time from now until it.
pub(crate) fn wall_ms(instant: Instant) -> u64 {
    let now = Instant::now();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if instant >= now {
        now_ms().saturating_add(ms(instant - now))
    } else {
        now_ms().saturating_sub(ms(now - instant))
    }
}

/// Now on `CLOCK_MONOTONIC`, in nanoseconds: one clock for every process of the host (unlike a
/// `std::time::Instant`, it can be sent to another process), which does not jump.
pub(crate) fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// `instant` on `CLOCK_MONOTONIC`, in nanoseconds: now plus the time from now until it (zero
/// from now for an instant that has passed).
pub(crate) fn monotonic_ns_of(instant: Instant) -> u64 {
    let ahead = instant.saturating_duration_since(Instant::now());
    monotonic_ns().saturating_add(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX))
}

/// `ms` (Unix milliseconds) as RFC 3339 in UTC with milliseconds: `2026-11-29T02:55:01.123Z`.
pub(crate) fn rfc3339(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (rest / 3_600_000, rest / 60_000 % 60);
    let (second, milli) = (rest / 1_000 % 60, rest % 1_000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// The `(year, month, day)` of the day `days` after 1970-01-01 in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_384_901_123), "2025-11-29T02:55:01.123Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
