//! Validated identifiers. They end up in DynamoDB keys, log paths and run
//! ids, so they are restricted to `[a-z][a-z0-9_-]{0,63}`.

use std::fmt;
use std::sync::Arc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // Shared text: a task's id is copied into every `after` list, the
        // graph's index and every run's state, each copy a count.
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks the id against `[a-z][a-z0-9_-]{0,63}`.
            pub fn parse(text: &str) -> Result<Self, String> {
                check_id(text, $what).map(|()| $name(Arc::from(text)))
            }

            /// An id that skipped the check, for reporting on a spec
            /// that is rejected anyway.
            #[allow(dead_code)]
            pub(crate) fn new_unchecked(text: String) -> Self {
                $name(Arc::from(text))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A DAG's id, unique across all specs.
    DagId,
    "DAG id"
);
id_type!(
    /// A task's id, unique within its DAG.
    TaskId,
    "task id"
);

fn check_id(text: &str, what: &str) -> Result<(), String> {
    let mut chars = text.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if starts_well && rest_ok && text.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "`{text}` is not a valid {what}: use 1-64 characters a-z, 0-9, `_` or `-`, starting with a letter"
        ))
    }
}

/// Bytes as lower-case hex: how digests appear in spec versions, try
/// names, event ids and tokens.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_writes_each_byte_as_two_lower_case_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn ids_follow_the_documented_pattern() {
        assert!(DagId::parse("nightly_training-2").is_ok());
        assert!(TaskId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "Nightly", "1st", "a b", "a#b", "a.b", &"a".repeat(65)] {
            let err = DagId::parse(bad).unwrap_err();
            assert!(err.contains("is not a valid DAG id"), "{bad}: {err}");
        }
    }
}
