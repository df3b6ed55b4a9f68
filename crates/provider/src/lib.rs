//! # lattice-provider — write a capability provider that runs under wasmCloud 0.82 or Lattice
//!
//! A provider is a process a host launches. It gets its identity and configuration as
//! HostData on stdin, serves calls from the actors linked to it over the lattice RPC
//! plane, learns about links, answers health checks, and stops when told. This crate does
//! all of that; the author implements one trait, [`Provider`], and calls [`run()`]:
//!
//! ```no_run
//! use lattice_provider::{HandlerError, LinkDefinition, Provider, ProviderContext, Request};
//!
//! struct Upper;
//!
//! impl Provider for Upper {
//!     const CONTRACT_ID: &'static str = "example:upper";
//!
//!     async fn handle(&self, _: &ProviderContext, _: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
//!         Ok(call.msg.to_ascii_uppercase())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     lattice_provider::run(Upper).await
//! }
//! ```
//!
//! Read these first: [`Provider`] (the hooks and their order), [`ProviderContext`]
//! (identity, links, NATS, calls to actors), [`mod@run`] (the process contract, step by step).
//!
//! What the SDK guarantees a handler: every call it sees passed the claims checks of
//! `lattice-rpc` (trusted cluster issuer from HostData, signature, hash, target is this
//! provider, replay window) **and** comes from an actor linked to this provider under its
//! link name. What it refuses to do: verify or chunk anything itself (that is
//! `lattice-rpc`'s job), or write to stdout.

pub mod context;
pub mod error;
pub mod host_data;
mod links;
pub mod logging;
mod metrics;
pub mod provider;
pub mod run;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::ProviderContext;
pub use error::ProviderError;
pub use host_data::LoadedHostData;
pub use lattice_proto::{HealthCheckResponse, HostData, LinkDefinition, WasmCloudEntity};
pub use lattice_rpc::{CallOptions, HandlerError, Request, RpcError};
pub use provider::Provider;
pub use run::{DEFAULT_SHUTDOWN_GRACE, RunOptions, run, run_with, serve};
