//! [`ControlError`]: everything this crate can fail with, as variants a caller can match on.
//!
//! Two audiences share it. A **host** decoding a control request gets
//! [`ControlError::Decode`] (not JSON, or not the expected shape) or
//! [`ControlError::Invalid`] (well-formed but breaking a rule, e.g. an empty `actor_ref`) and
//! answers `{"accepted":false,"error":"<the Display text>"}`. A **client** gets the transport
//! outcomes: [`ControlError::NoResponders`] (nobody serves the subject: fail at once),
//! [`ControlError::Timeout`] (somebody may still act on it), [`ControlError::Rejected`] (a host
//! answered with `accepted:false`) and [`ControlError::Nats`].

use std::time::Duration;

use lattice_proto::{KeyError, NameError};

/// A boxed error from async-nats (its error types are many and generic).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a control-plane operation (or decoding one of its messages) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No host answered in time. A command may still be carried out.
    #[error("timed out after {after:?} waiting for an answer on {subject}")]
    Timeout {
        /// The subject the request was sent to.
        subject: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// Nobody is subscribed to the subject (no such host, or no host in the lattice).
    #[error("no responders on {subject}: no host serves this request")]
    NoResponders {
        /// The subject the request was sent to.
        subject: String,
    },
    /// A host answered with `{"accepted":false,"error":…}`.
    #[error("rejected by the host ({subject}): {error}")]
    Rejected {
        /// The subject the request was sent to.
        subject: String,
        /// The ack's `error` text.
        error: String,
    },
    /// Bytes that are not JSON, or not JSON of the expected shape. The text starts with
    /// `failed to deserialize`, as 0.82's acks do.
    #[error("failed to deserialize {what}: {reason}")]
    Decode {
        /// What was being decoded (`link definition`, `scale actor command`, …).
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// A well-formed message that breaks a rule (an empty reference, a bad key or name, a
    /// KV key that does not match its value). The rule is the source.
    #[error("invalid {what}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// The rule it breaks.
        #[source]
        source: RuleError,
    },
    /// The NATS connection failed (publish, subscribe, flush).
    #[error("NATS {op} failed")]
    Nats {
        /// The operation that failed (`publish`, `subscribe`, `flush`, `request`).
        op: &'static str,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
}

impl ControlError {
    /// Wrap an async-nats error.
    pub(crate) fn nats(op: &'static str, source: impl Into<BoxError>) -> Self {
        ControlError::Nats { op, source: source.into() }
    }

    /// A [`ControlError::Decode`] from a serde_json error.
    pub(crate) fn decode(what: &'static str, err: &serde_json::Error) -> Self {
        ControlError::Decode { what, reason: err.to_string() }
    }

    /// A [`ControlError::Invalid`] breaking the rule `reason` describes.
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        ControlError::Invalid { what, source: RuleError::Other(reason.into()) }
    }
}

/// The rule a well-formed control message (or a stored record) breaks: which field, and why.
/// The source of [`ControlError::Invalid`]; the key and name errors are its own sources.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A required field is empty.
    #[error("`{field}` is required and must not be empty")]
    Required {
        /// The field.
        field: &'static str,
    },
    /// A field that must hold a public key of one kind does not.
    #[error("`{field}`")]
    Key {
        /// The field.
        field: &'static str,
        /// Why the key is unusable.
        #[source]
        source: KeyError,
    },
    /// A field that must hold a name (a link name) does not.
    #[error("`{field}`")]
    Name {
        /// The field.
        field: &'static str,
        /// Why the name is unusable.
        #[source]
        source: NameError,
    },
    /// A stored link definition whose key is not the hash of its content.
    #[error("linkdef hash mismatch: key {key}, content {content}")]
    LinkdefHash {
        /// The hash in the key.
        key: String,
        /// The hash of the content.
        content: String,
    },
    /// Stored claims under another entity's key.
    #[error("key names {key} but the claims are about {subject}")]
    ClaimsSubject {
        /// The key's entity.
        key: String,
        /// The claims' subject.
        subject: String,
    },
    /// Any other rule, in words (an unknown event name, a malformed timestamp).
    #[error("{0}")]
    Other(String),
}
