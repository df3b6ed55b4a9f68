//! Errors of the actor runtime: [`LoadError`] when a module cannot become an actor,
//! [`CallError`] when one call fails, [`HostCallError`] when an actor's outgoing call
//! (`__host_call`) fails. A guest can cause a `CallError` but never a panic.

use std::time::Duration;

use thiserror::Error;

use crate::claims::ModuleClaimsError;

/// Why a module could not be loaded as an actor.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The module's claims were refused (unsigned, tampered, expired, forged…).
    #[error("actor refused")]
    Claims(#[from] ModuleClaimsError),
    /// wasmtime could not compile the module (invalid wasm, unsupported feature).
    #[error("failed to compile actor module: {0}")]
    Compile(String),
    /// A required export is missing or has the wrong type.
    #[error("actor module does not fit the wasmbus ABI: {0}")]
    Abi(String),
    /// The module imports something the host does not provide (e.g. `wapc`, or a WASI
    /// function outside preview 1).
    #[error("failed to link actor module: {0}")]
    Link(String),
    /// The wasmtime engine could not be created with the requested configuration.
    #[error("failed to create the wasm engine: {0}")]
    Engine(String),
}

/// Why an actor's outgoing call (`__host_call`) failed. The guest reads the whole chain
/// ([`crate::error::chain`]) through `__host_error`, as 0.82 gave it `{err:#}`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// The actor was started without host calls ([`crate::actor::NoHostCalls`]).
    #[error("no host calls available: cannot call {operation}")]
    Unavailable {
        /// `{namespace}/{operation}`.
        operation: String,
    },
    /// The actor has a link for the contract, but its claims do not grant the capability.
    #[error(
        "capability not granted: actor {actor} is linked to provider {provider} for `{contract}` (link name \
         `{link_name}`) but its claims do not list the capability `{contract}` (sign it with `--cap {contract}`)"
    )]
    LinkedWithoutCapability {
        /// The calling actor.
        actor: String,
        /// The linked provider.
        provider: String,
        /// The contract id.
        contract: String,
        /// The link name.
        link_name: String,
    },
    /// No link, no actor, and the actor has no claim for this contract.
    #[error(
        "capability not granted: actor {actor} has no capability claim for `{namespace}` and no link for it \
         under link name `{link_name}`"
    )]
    NoCapability {
        /// The calling actor.
        actor: String,
        /// The contract id.
        namespace: String,
        /// The link name.
        link_name: String,
    },
    /// No link, no actor key, no call alias.
    #[error(
        "link not found: actor {actor} has no link for `{namespace}` under link name `{link_name}`, \
         and no actor has the call alias `{namespace}`"
    )]
    LinkNotFound {
        /// The calling actor.
        actor: String,
        /// The namespace (contract id or call alias).
        namespace: String,
        /// The link name.
        link_name: String,
    },
    /// The matching link names a provider key that is not one.
    #[error("bad link")]
    BadLinkKey(#[source] lattice_proto::KeyError),
    /// The matching link has a link name that cannot be used.
    #[error("bad link")]
    BadLinkName(#[source] lattice_proto::NameError),
    /// The call went out over the lattice and failed (no responders, timeout, refused,
    /// the target's own error).
    #[error(transparent)]
    Rpc(#[from] lattice_rpc::RpcError),
    /// A builtin's payload did not decode (`log entry`, `range limit`).
    #[error("failed to deserialize {what}")]
    BuiltinDecode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// A builtin's result did not encode.
    #[error("failed to serialize result")]
    BuiltinEncode(#[source] rmp_serde::encode::Error),
    /// `Logging.WriteLog` with a level 0.82 does not know.
    #[error("unsupported log level `{0}`")]
    LogLevel(String),
    /// `NumberGen.RandomInRange` with `min > max`.
    #[error("invalid range: min {min} is greater than max {max}")]
    InvertedRange {
        /// The range's lower end.
        min: u32,
        /// The range's upper end.
        max: u32,
    },
    /// The operating system's random source failed.
    #[error("failed to generate random number")]
    Random(#[source] getrandom::Error),
    /// A [`crate::actor::HostCalls`] implementation's own failure, in words (test fakes,
    /// embedders).
    #[error("{0}")]
    Failed(String),
}

/// Why one call to an actor failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The actor answered with `__guest_error`: its own error message.
    #[error("{0}")]
    Guest(String),
    /// A host call failed and the actor returned without reading the error (0.82 then
    /// fails the call with the host error).
    #[error("{0}")]
    HostCall(String),
    /// `__guest_call` returned something other than 1.
    #[error("operation failed with exit code `{0}`")]
    ExitCode(i32),
    /// The guest trapped (unreachable, out-of-bounds access in wasm, stack overflow, …).
    #[error("actor trapped: {0}")]
    Trap(String),
    /// The guest broke the wasmbus ABI (a pointer outside its memory, bad UTF-8, a call
    /// out of sequence); the instance was stopped.
    #[error("actor broke the wasmbus ABI: {0}")]
    Abi(String),
    /// The call ran longer than the runtime's call timeout.
    #[error("actor call timed out after {0:?}")]
    Timeout(Duration),
    /// A fresh instance could not be created (instance pool exhausted, memory limit, a
    /// start function that trapped).
    #[error("failed to instantiate actor: {0}")]
    Instantiate(String),
    /// The operation or payload is larger than the 32-bit ABI can express.
    #[error("{what} too large for the wasmbus ABI: {len} bytes")]
    TooLarge {
        /// `operation` or `payload`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A command-style WASI actor wrote a response larger than the runtime's
    /// `max_body_bytes` to stdout.
    #[error("WASI command actor wrote more than {max} bytes to stdout (the largest response accepted)")]
    ResponseTooLarge {
        /// The cap.
        max: usize,
    },
    /// The actor was stopped and takes no more calls.
    #[error("actor is stopped")]
    Stopped,
}

impl CallError {
    /// A short machine-readable name of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Guest(_) => "guest_error",
            CallError::HostCall(_) => "host_call",
            CallError::ExitCode(_) => "exit_code",
            CallError::Trap(_) => "trap",
            CallError::Abi(_) => "abi",
            CallError::Timeout(_) => "timeout",
            CallError::Instantiate(_) => "instantiate",
            CallError::TooLarge { .. } | CallError::ResponseTooLarge { .. } => "too_large",
            CallError::Stopped => "stopped",
        }
    }
}
