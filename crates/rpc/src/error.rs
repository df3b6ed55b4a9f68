//! [`RpcError`]: everything a call or a server can fail with, as variants a caller can
//! match on (async-nats' "kind + source" shape, flattened into one enum).
//!
//! The split that matters to callers: [`RpcError::NoResponders`] (nobody serves the
//! target — fail over or give up now), [`RpcError::Timeout`] (somebody may still be
//! working on it), [`RpcError::Rejected`] (the receiver refused our claims — a
//! configuration problem such as a wrong cluster seed, never worth retrying) and
//! [`RpcError::Remote`] (the handler ran and returned an error).

use std::time::Duration;

use lattice_proto::error::DecodeError;
use lattice_proto::subject::TargetError;
use lattice_proto::verify::RejectionKind;

/// A boxed error from async-nats (its error types are many and generic).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The prefix of the `error` string a Lattice server answers with when it refuses an
/// invocation's claims, followed by the failure kind in brackets and the reason:
/// `invocation rejected [bad_signature]: bad signature: …`. The kinds are
/// [`lattice_proto::ClaimsError::kind`]'s (plus `target_mismatch` for an invocation that
/// is addressed to another entity). Callers see it as [`RpcError::Rejected`].
pub const REJECTED_PREFIX: &str = "invocation rejected [";

/// Format the `error` string of a rejection (see [`REJECTED_PREFIX`]).
pub(crate) fn rejection_text(kind: RejectionKind, reason: &str) -> String {
    format!("{REJECTED_PREFIX}{kind}]: {reason}")
}

/// Why an RPC call (or starting a server) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// Nobody is subscribed to the target's subject: the call failed at once.
    #[error("no responders on {subject}: nobody serves this target")]
    NoResponders {
        /// The subject the invocation was sent to.
        subject: String,
    },
    /// No answer arrived in time. The receiver may still run the call.
    #[error("timed out after {after:?} waiting for an answer on {subject}")]
    Timeout {
        /// The subject the invocation was sent to.
        subject: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The NATS connection was down when the call was made (`sent: false`: nothing was
    /// sent), or dropped while the call waited for its answer (`sent: true`: the receiver
    /// may or may not have run it). Fails at once, instead of waiting out the timeout;
    /// retry once the connection is back (an HTTP front answers 503 with `Retry-After`).
    #[error("not connected to NATS: {}", if *sent { "the connection dropped while waiting for the answer" } else { "the call was not sent" })]
    Disconnected {
        /// The subject the invocation was (or would have been) sent to.
        subject: String,
        /// Whether the invocation had been published before the connection was lost.
        sent: bool,
    },
    /// The receiver ran the call and answered with an error (the response's `error`).
    #[error("remote error: {0}")]
    Remote(String),
    /// The receiver refused the invocation's claims (see [`REJECTED_PREFIX`]); the handler
    /// did not run.
    #[error("invocation rejected ({kind}): {reason}")]
    Rejected {
        /// The failure kind (`bad_signature`, `unknown_issuer`, `replayed`, …).
        kind: RejectionKind,
        /// The receiver's explanation.
        reason: String,
    },
    /// Bytes from the peer could not be decoded.
    #[error("decode error")]
    Decode(#[from] DecodeError),
    /// The response decoded but does not answer this call (wrong invocation id, wrong
    /// `content_length`).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The target entity has no valid subject (bad key or link name).
    #[error("invalid target")]
    InvalidTarget(#[from] TargetError),
    /// A NATS operation failed.
    #[error("nats {op} failed")]
    Nats {
        /// What was being done (`publish`, `subscribe`, `flush`, …).
        op: &'static str,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// A NATS server URL could not be parsed.
    #[error("bad NATS server URL '{url}': {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// NATS credentials could not be read or are malformed.
    #[error("bad NATS credentials ({what}): {reason}")]
    Credentials {
        /// Which credentials (`credentials file …`, `nkey seed`, `user JWT`).
        what: String,
        /// What is wrong with them (never the secret itself).
        reason: String,
    },
    /// No NATS server could be reached.
    #[error("cannot connect to NATS at {url}")]
    Connect {
        /// The server list tried.
        url: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// The JetStream object store (large bodies, PROTOCOL.md §8) failed.
    #[error("object store {op} of '{object}' failed")]
    ObjectStore {
        /// What was being done (`open`, `put`, `get`, `read`).
        op: &'static str,
        /// The object name (or the bucket, for `open`).
        object: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// Setting up JetStream storage (a KV bucket, the object store, replicas) failed.
    #[error("jetstream: could not {op} '{name}'")]
    JetStream {
        /// What was being done (`create`, `open`, `update the replicas of`, …).
        op: &'static str,
        /// The bucket or stream.
        name: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A chunked body's object does not hold `content_length` bytes (by its metadata, or
    /// by what a read capped at that length found): refused without reading it all.
    #[error("chunked body '{object}' holds {size} bytes, content_length says {expected}")]
    ChunkSize {
        /// The object name.
        object: String,
        /// Its size (from its metadata, or at least this many bytes were read).
        size: u64,
        /// The `content_length` the message claimed.
        expected: u64,
    },
}

impl RpcError {
    pub(crate) fn nats(op: &'static str, source: impl Into<BoxError>) -> Self {
        RpcError::Nats { op, source: source.into() }
    }

    /// Turn a response's `error` string into [`RpcError::Rejected`] (a known kind) or
    /// [`RpcError::Remote`] (anything else, whole).
    pub(crate) fn from_remote(error: String) -> Self {
        if let Some(rest) = error.strip_prefix(REJECTED_PREFIX)
            && let Some((kind, reason)) = rest.split_once("]: ")
            && let Some(kind) = RejectionKind::parse(kind)
        {
            return RpcError::Rejected { kind, reason: reason.to_owned() };
        }
        RpcError::Remote(error)
    }

    /// Whether retrying the same call could succeed (timeouts and transport failures);
    /// rejections, remote errors and bad input never will.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RpcError::Timeout { .. }
                | RpcError::NoResponders { .. }
                | RpcError::Nats { .. }
                | RpcError::Disconnected { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_round_trips() {
        let text = rejection_text(RejectionKind::BadSignature, "bad signature: nope: really");
        match RpcError::from_remote(text) {
            RpcError::Rejected { kind, reason } => {
                assert_eq!(kind, "bad_signature");
                assert_eq!(reason, "bad signature: nope: really");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(RpcError::from_remote("boom".into()), RpcError::Remote(e) if e == "boom"));
        let unknown = format!("{REJECTED_PREFIX}no_such_kind]: x");
        assert!(matches!(RpcError::from_remote(unknown.clone()), RpcError::Remote(e) if e == unknown));
    }
}
