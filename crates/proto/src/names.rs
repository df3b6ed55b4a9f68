//! Lattice names and link names: the two user-chosen tokens that go into subjects.
//!
//! 0.82 inserts them verbatim, so a link name with a `.` silently changes the subject's
//! shape. Lattice validates them once, here (PROTOCOL.md §11.4).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::NameError;

fn validate(kind: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control()) {
        let what = if c.is_whitespace() || c.is_control() {
            format!("the whitespace or control character {c:?}")
        } else {
            format!("'{c}'")
        };
        return Err(NameError::BadChar { kind, name: name.to_owned(), what });
    }
    Ok(())
}

macro_rules! name {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Validate and wrap a name.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate($kind, &name)?;
                Ok(Self(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

name!(
    /// A lattice name (the `{lattice}` token of every subject; 0.82's "lattice prefix").
    LatticeName, "lattice name"
);
name!(
    /// A link name (`default` unless chosen otherwise).
    LinkName, "link name"
);

impl Default for LatticeName {
    fn default() -> Self {
        Self("default".into())
    }
}

impl Default for LinkName {
    fn default() -> Self {
        Self("default".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in ["default", "prod-eu_1", "My-Backend", "ünïcode"] {
            assert_eq!(LatticeName::new(n).unwrap().as_str(), n);
            assert_eq!(LinkName::new(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn rejects_subject_breaking_names() {
        assert_eq!(LinkName::new(""), Err(NameError::Empty { kind: "link name" }));
        for n in ["a.b", "a*", ">", "a b", "tab\there", "nl\n", "\u{0}"] {
            assert!(matches!(LatticeName::new(n), Err(NameError::BadChar { .. })), "{n:?}");
            assert!(matches!(LinkName::new(n), Err(NameError::BadChar { .. })), "{n:?}");
        }
    }

    #[test]
    fn error_message_is_clear() {
        let e = LinkName::new("my backend").unwrap_err().to_string();
        assert!(e.contains("link name 'my backend'"), "{e}");
    }
}
