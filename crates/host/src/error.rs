//! [`HostError`]: everything the host core (actors, links, providers, start/stop) can fail
//! with, as variants a caller (the CLI, the control interface, tests) can match on.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::actor::LoadError;

/// A boxed error from a dependency whose error types are many and generic (async-nats).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a host operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostError {
    /// A builder setting is missing or malformed (a bad seed, no NATS connection).
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// A reference the host cannot resolve: an OCI reference, an unknown scheme, a
    /// missing file.
    #[error("unsupported reference '{reference}': {reason}")]
    Reference {
        /// The reference as given.
        reference: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Reading a file the host needs failed.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The actor module was refused: unsigned, tampered, expired, forged, or not a
    /// wasmbus actor. The text says which.
    #[error("cannot start actor from '{reference}'")]
    ActorRefused {
        /// The reference the module came from.
        reference: String,
        /// The runtime's verdict.
        #[source]
        source: LoadError,
    },
    /// The actor (or provider) named is not running on this host.
    #[error("{0}")]
    NotRunning(String),
    /// A link definition is malformed (bad key, empty contract, bad link name).
    #[error("invalid link definition: {0}")]
    InvalidLink(String),
    /// A provider could not be started (bad archive or claims, the binary failed to launch
    /// or exited before it became ready).
    #[error("cannot start provider '{reference}': {reason}")]
    ProviderStart {
        /// The reference the provider came from.
        reference: String,
        /// What went wrong.
        reason: String,
    },
    /// A provider process did not start, or did not become ready.
    #[error("cannot start provider '{reference}'")]
    ProviderLaunch {
        /// The reference the provider came from.
        reference: String,
        /// Why.
        #[source]
        source: ProviderRunError,
    },
    /// A manifest file is malformed or names something it does not define.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// The JetStream KV bucket `LATTICEDATA_{lattice}` failed.
    #[error("lattice data bucket: {op} failed")]
    Kv {
        /// What was being done (`open`, `put`, `delete`, `watch`, `read`).
        op: &'static str,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// A NATS operation failed.
    #[error("nats {op} failed")]
    Nats {
        /// What was being done.
        op: &'static str,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// Serving an actor's subject failed.
    #[error("rpc")]
    Rpc(#[from] lattice_rpc::RpcError),
    /// Writing or reading the host's state directory failed.
    #[error("state directory {path}: {reason}")]
    State {
        /// The path involved.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An OCI reference could not be resolved: malformed, `:latest` refused, the registry
    /// unreachable or refusing, not found, the wrong media type, a digest mismatch, too
    /// large. The text names the reference and the cause.
    #[error(transparent)]
    Oci(#[from] lattice_oci::OciError),
    /// The host is stopping or stopped and takes no more work.
    #[error("the host is stopping")]
    Stopping,
    /// A provider archive is malformed, too large, has no executable for this machine,
    /// or its claims or hashes do not verify ([`crate::provider::archive`]).
    #[error("{detail}")]
    Archive {
        /// Which kind of problem.
        problem: crate::provider::archive::ArchiveProblem,
        /// What exactly.
        detail: String,
    },
}

impl HostError {
    pub(crate) fn kv(op: &'static str, source: impl Into<BoxError>) -> Self {
        HostError::Kv { op, source: source.into() }
    }

    pub(crate) fn nats(op: &'static str, source: impl Into<BoxError>) -> Self {
        HostError::Nats { op, source: source.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HostError::Io { path: path.into(), source }
    }

    /// A short machine-readable name of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Config(_) => "config",
            HostError::Reference { .. } => "reference",
            HostError::Io { .. } => "io",
            HostError::ActorRefused { .. } => "actor_refused",
            HostError::NotRunning(_) => "not_running",
            HostError::InvalidLink(_) => "invalid_link",
            HostError::ProviderStart { .. } | HostError::ProviderLaunch { .. } => "provider_start",
            HostError::Manifest(_) => "manifest",
            HostError::Kv { .. } => "kv",
            HostError::Nats { .. } => "nats",
            HostError::Rpc(_) => "rpc",
            HostError::State { .. } => "state",
            HostError::Oci(_) => "oci",
            HostError::Stopping => "stopping",
            HostError::Archive { .. } => "archive",
        }
    }
}

/// Why a provider process failed to run: launching it, waiting for it to become ready, or
/// a health check (the source of [`HostError::ProviderLaunch`], and logged by the health loop).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProviderRunError {
    /// The binary could not be started.
    #[error("cannot run {binary}")]
    Spawn {
        /// The provider binary.
        binary: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited before it answered a health check.
    #[error("the provider exited before it became ready ({status}); its output is in the host log")]
    Exited {
        /// The exit status (or why it could not be read).
        status: String,
    },
    /// No health check was answered before the start timeout.
    #[error("the provider did not answer a health check within {0:?}")]
    NotReady(Duration),
    /// A health check was not answered in time.
    #[error("no answer within {0:?}")]
    HealthTimeout(Duration),
    /// The health check request failed (no responders, connection).
    #[error("health check request failed")]
    HealthRequest(#[source] async_nats::RequestError),
    /// The answer to a health check is not a `HealthCheckResponse`.
    #[error("undecodable health check answer")]
    HealthDecode(#[source] lattice_proto::DecodeError),
}

/// The whole source chain of an error on one line (the workspace's one helper, re-exported
/// here for the host's callers).
pub use lattice_proto::error::chain;
