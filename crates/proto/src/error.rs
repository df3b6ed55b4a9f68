//! Error types for decoding bytes and validating names and keys.
//!
//! Claims failures have their own enum, [`crate::ClaimsError`], because callers (the
//! RPC server, the monitor) match on the exact reason a call was refused.

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
