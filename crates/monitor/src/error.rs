//! [`MonitorError`]: why the monitor or the spy could not start or keep running.
//!
//! Verdicts on messages are not errors (they are [`crate::Verdict`]s and alerts); these
//! are the failures of the watcher itself: connecting, subscribing, binding the metrics
//! port, or bad configuration.

use thiserror::Error;

/// A failure of the monitor or spy itself.
#[derive(Debug, Error)]
pub enum MonitorError {
    /// Connecting to NATS failed (address, credentials, server down). The connect helper's
    /// error already names the URL, so this variant adds no words of its own.
    #[error(transparent)]
    Connect(lattice_rpc::RpcError),
    /// Subscribing to a subject failed.
    #[error("subscribing to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// Flushing the subscriptions to the server (the readiness round trip) failed.
    #[error("flushing subscriptions to NATS")]
    Flush(#[source] async_nats::client::FlushError),
    /// The metrics address could not be bound.
    #[error("binding the metrics address {addr}")]
    MetricsBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A reply-subject prefix cannot be subscribed to ([`crate::reply::ReplyPrefix`]).
    #[error("reply prefix {prefix:?}: {reason}")]
    ReplyPrefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting is unusable (empty issuer list, zero window, …).
    #[error("invalid configuration: {0}")]
    Config(String),
}
