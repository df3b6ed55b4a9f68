//! Errors of the actor runtime: [`LoadError`] when a module cannot become an actor,
//! [`CallError`] when one call fails. A guest can cause a `CallError` but never a panic.

use std::time::Duration;

use thiserror::Error;

use crate::claims::ModuleClaimsError;

/// Why a module could not be loaded as an actor.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The module's claims were refused (unsigned, tampered, expired, forged…).
    #[error("actor refused: {0}")]
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
