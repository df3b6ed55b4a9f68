//! # lattice-host — the Lattice host: wasm actors with signed module claims
//!
//! This crate runs wasmCloud 0.82 **core-wasm actors** and checks the **module claims**
//! they carry, so a Lattice host can take the place of a 0.82 host in a lattice. The
//! [`actor`] and [`claims`] modules have no NATS code: an invocation arrives as
//! `(origin, operation, msg)` and leaves as response bytes, and an actor's outgoing calls
//! go to a [`actor::HostCalls`] implementation the host plugs in (over `lattice-rpc`), so
//! they are tested without a server.
//!
//! Read these first:
//! - [`claims`] — the wascap 0.12 JWT embedded in a module: [`claims::sign`],
//!   [`claims::verify`] (what a host checks before it runs a module), [`claims::extract`].
//! - [`actor::ActorRuntime`] → [`actor::ActorModule`] → [`actor::Actor`]: engine and
//!   compile cache, a verified pre-linked module, a started actor whose
//!   [`actor::Actor::call`] runs one invocation on a fresh instance.
//!
//! What it refuses: unsigned, tampered, expired or forged modules ([`claims::ModuleClaimsError`]);
//! modules that do not fit the `wasmbus` ABI ([`actor::LoadError`]). A misbehaving guest
//! (traps, pointers outside its memory, endless loops) fails its own call with a
//! [`actor::CallError`] and never panics the host.

pub mod actor;
pub mod claims;
pub mod control;

mod builder;
pub mod calls;
pub mod config;
pub mod error;
mod host;
mod host_target;
pub mod links;
pub mod load_policy;
pub mod manifest;
pub mod metrics;
pub mod provider;
pub mod resolve;
pub mod serve;
pub mod state_dir;
mod storage;

pub use builder::HostBuilder;
pub use config::{Credentials, HostConfig, Observability};
pub use error::{HostError, ProviderRunError};
pub use host::{ActorStatus, Host};
pub use provider::{NativeClaims, ProviderSpec};
