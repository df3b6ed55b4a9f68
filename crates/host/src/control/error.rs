//! [`ControlServerError`]: how the control server and the event publisher fail on NATS.
//!
//! Request-level problems (a malformed body, a refused command) are never errors here:
//! they become `accepted:false` acks. Only the connection can fail the server.

/// A boxed error from async-nats (its error types are many and generic).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the control server could not start, or an event could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlServerError {
    /// Subscribing a control subject failed.
    #[error("subscribing {subject} failed")]
    Subscribe {
        /// The subject filter.
        subject: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// Publishing (an event, a reply) failed.
    #[error("publishing on {subject} failed")]
    Publish {
        /// The subject.
        subject: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// Flushing the control connection failed.
    #[error("flushing the control connection failed")]
    Flush {
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
}
