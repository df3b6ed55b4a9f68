//! [`ProviderError`]: why a provider could not start, or refused a link.
//!
//! Start-up failures map to exit codes ([`ProviderError::exit_code`]): bad HostData is bad
//! input (2, as every Lattice binary), a NATS failure is an I/O failure (3), anything the
//! provider itself refused is 1.

use lattice_proto::error::DecodeError;
use lattice_rpc::RpcError;

/// A boxed error from async-nats (its error types are many and generic).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything the SDK (or a provider's own start-up and link hooks) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// stdin was a terminal: nobody is going to write HostData.
    #[error(
        "no HostData: a provider reads one base64 line of HostData from stdin, as a wasmCloud \
         0.82 or Lattice host writes it; stdin is a terminal"
    )]
    HostDataTerminal,
    /// stdin ended (or held only whitespace) before a HostData line.
    #[error("no HostData: stdin was empty (expected one line of base64-encoded HostData JSON)")]
    HostDataMissing,
    /// stdin could not be read.
    #[error("could not read HostData from stdin")]
    HostDataRead(#[source] std::io::Error),
    /// The HostData line did not decode, or a field a provider needs is invalid.
    #[error("bad HostData")]
    HostData(#[source] DecodeError),
    /// The RPC connection could not be opened.
    #[error("opening the RPC connection HostData names")]
    Connect {
        /// The URL tried.
        url: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// A NATS operation failed (subscribe, flush, …).
    #[error("nats {op} failed")]
    Nats {
        /// What was being done.
        op: &'static str,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// The RPC layer failed (e.g. the provider's RPC server could not subscribe).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The provider refused something: a link (bad link values) or its own start-up.
    #[error("{0}")]
    Refused(String),
}

impl ProviderError {
    /// A refusal with this reason, e.g. `ProviderError::refused("invalid address: x")`
    /// from a provider's `put_link`.
    pub fn refused(reason: impl std::fmt::Display) -> Self {
        ProviderError::Refused(reason.to_string())
    }

    pub(crate) fn nats(op: &'static str, source: impl Into<BoxError>) -> Self {
        ProviderError::Nats { op, source: source.into() }
    }

    /// The process exit code for this start-up failure: 2 for bad input (HostData), 3 for
    /// NATS/I/O failures, 1 for a refusal by the provider itself.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProviderError::HostDataTerminal | ProviderError::HostDataMissing | ProviderError::HostData(_) => 2,
            ProviderError::HostDataRead(_)
            | ProviderError::Connect { .. }
            | ProviderError::Nats { .. }
            | ProviderError::Rpc(_) => 3,
            ProviderError::Refused(_) => 1,
        }
    }
}
