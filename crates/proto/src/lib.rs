//! # lattice-proto — the wasmCloud 0.82 lattice RPC protocol, without I/O
//!
//! Everything Lattice puts on (or reads from) the RPC plane, as pure functions over
//! bytes: no sockets, no clocks, no tokio, no NATS. The I/O crate (`lattice-rpc`) only
//! moves the bytes this crate produces; every protocol rule lives here so that it can
//! be tested exhaustively against the golden vectors made by the real wasmCloud crates.
//!
//! Read these first:
//! - [`Invocation`] / [`InvocationResponse`] — the request and reply of every call
//!   ([`invocation`]); [`WasmCloudEntity`] names the caller and the callee ([`entity`]).
//! - [`claims`] — the JWT that proves a call was made by someone holding the cluster seed:
//!   [`Invocation::sign`] and [`TrustedIssuers::verify`].
//! - [`subject`] — the NATS subjects, built from validated names ([`names`], [`keys`]).
//!
//! What this crate refuses to do: read the clock (time is always an argument: `now`,
//! in seconds since the Unix epoch), generate randomness (ids and `jti`s are given by
//! the caller), or panic on untrusted bytes (every decoder returns an error).
//!
//! Wire compatibility: encodings are byte-identical to `rmp_serde::to_vec_named` of the
//! wasmcloud-core 0.2.0 structs and to wascap 0.12 JWTs; decoding is lenient where an
//! honest 0.82-era sender may differ (PROTOCOL.md §11.3).

mod batch;
pub mod chunk;
pub mod claims;
pub mod entity;
pub mod error;
pub mod hash;
pub mod health;
pub mod host_data;
pub mod invocation;
pub mod jwt;
pub mod keys;
pub mod linkdef;
pub mod names;
pub mod replay;
pub mod shutdown;
pub mod subject;
pub mod verify;
mod witmap;

pub use claims::{ClaimsError, InvocationClaims, TrustedIssuers, VerifyOptions};
pub use entity::WasmCloudEntity;
pub use error::{DecodeError, KeyError, NameError, chain};
pub use health::{HealthCheckRequest, HealthCheckResponse};
pub use host_data::{HostData, OtelConfig};
pub use invocation::{Invocation, InvocationResponse};
pub use keys::{AccountKey, ActorKey, ClusterKey, ClusterSeed, HostKey, ProviderKey};
pub use linkdef::LinkDefinition;
pub use names::{LatticeName, LinkName};
pub use subject::Subject;
pub use verify::{Addressee, Checked, Rejection, RejectionKind, Verifier};
pub use witmap::WitMap;
