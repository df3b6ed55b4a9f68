//! [`UiError`]: everything that can stop the dashboard from starting or serving.

use std::net::SocketAddr;

/// Why the dashboard could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A setting was refused (zero interval, window too long, …).
    #[error("invalid dashboard setting: {0}")]
    Config(String),
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A NATS subscription was refused (a permission, a closed connection).
    #[error("subscribing to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// Flushing the subscriptions to the server failed.
    #[error("flushing the NATS subscriptions")]
    Flush(#[source] async_nats::client::FlushError),
    /// The forged-invocation monitor could not start.
    #[error(transparent)]
    Monitor(#[from] lattice_monitor::MonitorError),
    /// The control-interface client failed.
    #[error(transparent)]
    Control(#[from] lattice_control::ControlError),
    /// The HTTP server stopped with an I/O error.
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
}
