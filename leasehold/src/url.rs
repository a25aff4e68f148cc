//! Where a store is: [`Location`], parsed from the URL or path given to [`open`](crate::open).

use std::path::PathBuf;

use crate::error::Error;

/// A parsed store location. Parsing touches nothing: no file is created or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, as given.
    Postgres(String),
}

/// Why a string is not a store location: the message of [`Error::InvalidUrl`].
const EMPTY: &str = "it is empty";
const NO_PATH: &str = "an sqlite URL needs a path after `sqlite://`";
const QUERY: &str = "an sqlite URL takes no `?` query or `#` fragment (a bare path takes any name)";

impl Location {
    /// Parses `url`:
    ///
    /// - `sqlite:///abs/path.db` → `/abs/path.db`; `sqlite://rel/path.db` and `sqlite:rel.db` →
    ///   `rel/path.db` and `rel.db`, relative to the working directory. The rest of the URL after
    ///   `sqlite:` and an optional `//` is the path, byte for byte (no percent-decoding), and may
    ///   not contain `?` or `#`.
    /// - `postgres://…` and `postgresql://…` → PostgreSQL, passed on as given.
    /// - anything without a `scheme:` prefix (letters, digits, `+ - .` before a `:`, then `//`)
    ///   is a path to an SQLite file, taken as it is.
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        if url.is_empty() {
            return Err(invalid(url, EMPTY));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            return sqlite_path(url, rest.strip_prefix("//").unwrap_or(rest));
        }
        match scheme(url) {
            None => Ok(Self::Sqlite(PathBuf::from(url))),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(url.to_owned())),
            Some(other) => Err(Error::UnknownScheme {
                scheme: other.to_owned(),
            }),
        }
    }
}

fn sqlite_path(url: &str, path: &str) -> Result<Location, Error> {
    if path.is_empty() {
        return Err(invalid(url, NO_PATH));
    }
    if path.contains(['?', '#']) {
        return Err(invalid(url, QUERY));
    }
    Ok(Location::Sqlite(PathBuf::from(path)))
}

/// The scheme of `scheme://…`, if `url` starts with one (RFC 3986's scheme characters).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_is_letter && rest_ok && rest.starts_with("//")).then_some(scheme)
}

fn invalid(url: &str, reason: &'static str) -> Error {
    Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &str) -> Location {
        Location::Sqlite(PathBuf::from(path))
    }

    #[test]
    fn sqlite_urls_map_to_paths_byte_for_byte() {
        let cases = [
            ("sqlite:///var/lib/app/locks.db", "/var/lib/app/locks.db"),
            ("sqlite://relative/path.db", "relative/path.db"),
            ("sqlite:locks.db", "locks.db"),
            ("sqlite://a%20b.db", "a%20b.db"),
            ("locks.db", "locks.db"),
            ("/tmp/x:y.db", "/tmp/x:y.db"),
            ("odd:name.db", "odd:name.db"),
            ("./with?query.db", "./with?query.db"),
        ];
        for (url, path) in cases {
            assert_eq!(Location::parse(url).expect(url), sqlite(path), "{url}");
        }
    }

    #[test]
    fn postgres_urls_are_passed_on_as_given() {
        for url in [
            "postgres://u@h/db",
            "postgresql://h:5433/db?sslmode=disable",
        ] {
            assert_eq!(
                Location::parse(url).expect(url),
                Location::Postgres(url.into())
            );
        }
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        for (url, reason) in [
            ("", EMPTY),
            ("sqlite://", NO_PATH),
            ("sqlite:", NO_PATH),
            ("sqlite://x.db?mode=ro", QUERY),
        ] {
            match Location::parse(url) {
                Err(Error::InvalidUrl { reason: got, .. }) => assert_eq!(got, reason, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(matches!(
            Location::parse("mysql://h/db"),
            Err(Error::UnknownScheme { scheme }) if scheme == "mysql"
        ));
    }
}
