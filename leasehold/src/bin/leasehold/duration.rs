//! Durations as people write them: `30s`, `500ms`, `2m`, `1h`, `1d`, or several at once (`1m30s`).

use core::fmt;
use std::time::Duration;

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Nothing was given.
    Empty,
    /// A number with no unit after it (`30`): seconds or milliseconds would be a guess.
    MissingUnit(String),
    /// A unit this parser does not know.
    UnknownUnit(String),
    /// A unit with no number before it, or a character that is neither.
    Malformed(String),
    /// More than `Duration` can hold.
    TooLong(String),
    /// Zero where a duration must be positive (a ttl).
    Zero,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &str = "use ms, s, m, h or d, e.g. 30s, 500ms, 1m30s";
        match self {
            Self::Empty => write!(f, "empty duration ({UNITS})"),
            Self::MissingUnit(text) => write!(f, "{text:?} has no unit ({UNITS})"),
            Self::UnknownUnit(unit) => write!(f, "unknown unit {unit:?} ({UNITS})"),
            Self::Malformed(text) => write!(f, "{text:?} is not a duration ({UNITS})"),
            Self::TooLong(text) => write!(f, "{text:?} is too long"),
            Self::Zero => f.write_str("must be longer than zero"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration: one or more `<whole number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let (part, after) = next_part(text, rest)?;
        total = total
            .checked_add(part)
            .ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
        rest = after;
    }
    Ok(total)
}

/// A positive duration (a ttl).
pub(crate) fn parse_positive(text: &str) -> Result<Duration, DurationError> {
    match parse(text)? {
        Duration::ZERO => Err(DurationError::Zero),
        duration => Ok(duration),
    }
}

/// A wait: a duration, or `forever`.
pub(crate) fn parse_wait(text: &str) -> Result<Duration, DurationError> {
    if text == "forever" {
        return Ok(Duration::MAX);
    }
    parse(text)
}

/// The first `<number><unit>` of `rest` (a suffix of `text`), and what follows it.
fn next_part<'a>(text: &str, rest: &'a str) -> Result<(Duration, &'a str), DurationError> {
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits == 0 {
        return Err(DurationError::Malformed(text.to_owned()));
    }
    let number: u64 = rest[..digits]
        .parse()
        .map_err(|_| DurationError::TooLong(text.to_owned()))?;
    let after = &rest[digits..];
    let unit_len = after
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(after.len());
    let (unit, after) = after.split_at(unit_len);
    let seconds = |per: u64| {
        number
            .checked_mul(per)
            .map(Duration::from_secs)
            .ok_or_else(|| DurationError::TooLong(text.to_owned()))
    };
    let part = match unit {
        "" => return Err(DurationError::MissingUnit(text.to_owned())),
        "ms" => Ok(Duration::from_millis(number)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3_600),
        "d" => seconds(86_400),
        other => Err(DurationError::UnknownUnit(other.to_owned())),
    }?;
    Ok((part, after))
}

/// `duration` as people write it: `1.5s`, `250ms`, `forever`.
pub(crate) fn show(duration: Duration) -> String {
    if duration == Duration::MAX {
        "forever".to_owned()
    } else if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_people_write_them() {
        let cases = [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3_600)),
            ("1d", Duration::from_secs(86_400)),
            ("1m30s", Duration::from_secs(90)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
        assert_eq!(parse_wait("forever"), Ok(Duration::MAX));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("30"), Err(DurationError::MissingUnit("30".into())));
        assert_eq!(parse("5x"), Err(DurationError::UnknownUnit("x".into())));
        assert_eq!(parse("s"), Err(DurationError::Malformed("s".into())));
        assert_eq!(parse("1.5s"), Err(DurationError::UnknownUnit(".".into())));
        assert_eq!(parse("-1s"), Err(DurationError::Malformed("-1s".into())));
        assert!(matches!(
            parse("99999999999999999999s"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse("999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert_eq!(parse_positive("0ms"), Err(DurationError::Zero));
        assert_eq!(
            parse_wait("never"),
            Err(DurationError::Malformed("never".into()))
        );
    }
}
