//! The little URL handling the harness needs: building `postgres://` URLs and swapping their
//! database.

use crate::error::Error;

/// `postgres://user@host:port/db`, with `db` percent-encoded.
pub(crate) fn local(user: &str, port: u16, db: &str) -> String {
    format!("postgres://{user}@127.0.0.1:{port}/{}", encode(db))
}

/// `url` with its database replaced by `db`, keeping user, host, port and query parameters.
///
/// # Errors
///
/// [`Error::Url`] unless `url` starts with `postgres://` or `postgresql://`.
pub fn with_database(url: &str, db: &str) -> Result<String, Error> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| Error::Url {
            url: url.to_owned(),
        })?;
    let scheme = &url[..url.len() - rest.len()];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let query = after.find('?').map_or("", |at| &after[at..]);
    Ok(format!("{scheme}{authority}/{}{query}", encode(db)))
}

/// `url` with `key=value` added to its query string, `value` percent-encoded.
#[must_use]
pub fn with_parameter(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={}", encode(value))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_everything_else_kept() {
        let swap = |url| with_database(url, "lh_1").expect("a postgres URL");
        assert_eq!(
            swap("postgres://u:p@h:1/test?sslmode=disable"),
            "postgres://u:p@h:1/lh_1?sslmode=disable"
        );
        assert_eq!(swap("postgresql://h"), "postgresql://h/lh_1");
        assert_eq!(
            swap("postgres://h?connect_timeout=2"),
            "postgres://h/lh_1?connect_timeout=2"
        );
        assert!(matches!(
            with_database("host=h dbname=x", "y"),
            Err(Error::Url { .. })
        ));
    }

    #[test]
    fn parameters_are_appended_and_encoded() {
        let url = with_parameter("postgres://h/d", "options", "-c search_path=s");
        assert_eq!(url, "postgres://h/d?options=-c%20search_path%3Ds");
        assert_eq!(with_parameter(&url, "a", "b"), format!("{url}&a=b"));
    }
}
