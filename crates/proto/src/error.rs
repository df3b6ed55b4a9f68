//! Error types for decoding bytes and validating names and keys, and [`chain`]: the one
//! function in the workspace that turns an error and its causes into one line.
//!
//! Claims failures have their own enum, [`crate::ClaimsError`], because callers (the
//! RPC server, the monitor) match on the exact reason a call was refused.
//!
//! The rule for every error type in the workspace: a variant's `Display` says only its own
//! part, and its cause is a `#[source]` (never also written into the message). Whoever shows
//! an error to a person or puts it on the wire (the CLI's `error:` line, a control reply, an
//! `InvocationResponse.error`, a log line) prints the whole chain with [`chain`], so each
//! cause appears exactly once.

use thiserror::Error;

/// Bytes that could not be decoded into a wire type.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The msgpack was malformed or did not have the shape of the expected type.
    #[error("malformed msgpack {what}: {reason}")]
    Msgpack {
        /// The type we tried to decode (`Invocation`, `LinkDefinition`, …).
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The JSON was malformed or did not have the shape of the expected type.
    #[error("malformed JSON {what}: {reason}")]
    Json {
        /// The type we tried to decode.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The base64 wrapper (HostData) was malformed.
    #[error("malformed base64: {0}")]
    Base64(String),
    /// The bytes decoded, but a value breaks a rule of the protocol.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// A public key or seed that is not a valid nkey of the expected kind.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not a valid nkey at all (bad length, bad base32, bad checksum).
    #[error("invalid {kind} key '{key}': {reason}")]
    Invalid {
        /// The expected kind (`actor`, `provider`, `host`, `cluster`, …).
        kind: &'static str,
        /// The rejected text (seeds are never echoed: this holds a placeholder then).
        key: String,
        /// Why.
        reason: String,
    },
    /// A valid nkey of another kind (e.g. a provider key `V…` where an actor key `M…` was expected).
    #[error("wrong key kind for '{key}': expected a {kind} key starting with '{prefix}'")]
    WrongKind {
        /// The expected kind.
        kind: &'static str,
        /// The expected first character.
        prefix: char,
        /// The rejected text.
        key: String,
    },
}

/// A lattice name or link name that cannot be placed in a NATS subject.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// `lattice name` or `link name`.
        kind: &'static str,
    },
    /// The name holds a character that would change the subject's meaning.
    #[error("{kind} '{name}' contains {what}, which is not allowed in a NATS subject token")]
    BadChar {
        /// `lattice name` or `link name`.
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// A description of the offending character.
        what: String,
    },
}

/// An error and all its causes on one line, joined by `": "`: `a: b: c`.
///
/// A cause whose text the line already ends with is skipped: some foreign error types
/// (async-nats, hyper, oci-client) write their own source into their message as well, and
/// it must still appear once. Errors of this workspace never do (see the module docs).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !next.is_empty() && !text.ends_with(&next) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Error)]
    #[error("outer {0}")]
    struct Outer(&'static str, #[source] Middle);

    #[derive(Debug, Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    /// A foreign-style error that writes its source into its own message too.
    #[derive(Debug, Error)]
    #[error("embeds: {0}")]
    struct Embeds(#[source] std::io::Error);

    #[test]
    fn chain_joins_each_cause_once() {
        let err = Outer("x", Middle(std::io::Error::other("disk on fire")));
        assert_eq!(chain(&err), "outer x: middle: disk on fire");
        assert_eq!(chain(&std::io::Error::other("alone")), "alone");
    }

    #[test]
    fn chain_skips_a_cause_the_message_already_ends_with() {
        let err = Embeds(std::io::Error::other("gone"));
        assert_eq!(chain(&err), "embeds: gone");
    }
}
