//! Validated names: [`Owner`] and [`ResourceName`].

use core::fmt;

use crate::error::{NameError, NameKind};

/// The longest owner or resource name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;

/// Checks the rules every name follows: 1 to [`MAX_NAME_LEN`] bytes of UTF-8 with no control
/// character (Unicode category Cc: C0, DEL and C1).
fn validate(kind: NameKind, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: name.len(),
        });
    }
    match name.char_indices().find(|(_, c)| c.is_control()) {
        Some((offset, _)) => Err(NameError::ControlCharacter { kind, offset }),
        None => Ok(()),
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `name`: 1 to [`MAX_NAME_LEN`] bytes of UTF-8, no control characters.
            ///
            /// # Errors
            ///
            /// A [`NameError`] saying which rule the name breaks.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate($kind, &name)?;
                Ok(Self(name))
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;

            fn try_from(name: &str) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(name: String) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// Who holds (or asks for) a lease, e.g. `"worker-a"`.
    ///
    /// An owner name identifies a party for humans and for idempotent retries; it is **not** what
    /// makes a holder exclusive. Two threads that share an owner name still cannot both hold a
    /// lease: acquire is not re-entrant, and each grant has its own fencing token.
    Owner,
    NameKind::Owner
);

name_type!(
    /// The name of the thing a lock protects, e.g. `"plan/42"`.
    ResourceName,
    NameKind::Resource
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_from_one_byte_to_the_limit() {
        assert!(Owner::new("a").is_ok());
        assert!(Owner::new("x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(ResourceName::new("plan/42 — ünïcödé ok").is_ok());
    }

    #[test]
    fn rejects_empty_long_and_control_character_names() {
        assert_eq!(
            Owner::new(""),
            Err(NameError::Empty {
                kind: NameKind::Owner
            })
        );
        assert_eq!(
            ResourceName::new("x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong {
                kind: NameKind::Resource,
                len: MAX_NAME_LEN + 1
            })
        );
        // A multi-byte character that crosses the limit counts in bytes, not characters.
        let long = "é".repeat(128);
        assert_eq!(long.chars().count(), 128);
        assert!(matches!(
            Owner::new(long),
            Err(NameError::TooLong { len: 256, .. })
        ));
        for (name, offset) in [("a\nb", 1), ("\0", 0), ("é\u{7f}", 2), ("ab\u{85}", 2)] {
            assert_eq!(
                Owner::new(name),
                Err(NameError::ControlCharacter {
                    kind: NameKind::Owner,
                    offset
                }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn errors_render_a_readable_message() {
        let err = ResourceName::new("").unwrap_err();
        assert_eq!(err.to_string(), "resource name is empty");
        let err = Owner::new("a\tb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "owner name has a control character at byte 1"
        );
    }
}
