//! # lattice-rpc — the lattice RPC plane over a real NATS connection
//!
//! [`lattice_proto`] says what goes on the wire; this crate moves it. It is the only
//! place Lattice talks to NATS for RPC:
//!
//! - [`RpcClient`] ([`client`]) signs every call fresh with the cluster seed, publishes
//!   it on the target's subject, and waits — never forever — for the correlated
//!   `InvocationResponse` on a shared reply inbox (`inbox.rs`).
//! - [`RpcServer`] ([`server`]) queue-subscribes an actor or provider subject and
//!   **verifies before dispatch** ([`verify`]): trusted issuer, signature (batched),
//!   time, URLs, body hash, host id, id binding, that the call is addressed to this
//!   entity, and the replay window. Only then does the [`Handler`] run.
//! - Large bodies go through the JetStream object store (`chunk.rs`, PROTOCOL.md §8), both directions.
//! - [`connect`] is the one way to open a NATS connection: server lists, credentials,
//!   fast never-ending reconnects and a live connection state.
//! - [`barrier::round_trip`] waits until the NATS server has processed a connection's
//!   subscriptions (async-nats' `flush` does not); servers use it before `start` returns.
//! - Deadlines travel with each call ([`deadline`]), and every call gets a `tracing` span
//!   at debug level (`rpc.call` on the client, `rpc.handle` on the server) with its id, operation,
//!   origin, target, outcome and duration. With OpenTelemetry on ([`trace`]), the caller's
//!   W3C trace context travels in `traceContext` and the `traceparent` header as in 0.82,
//!   and a server's span continues it.
//! - Every server also answers the NATS micro service protocol ([`micro`]: `$SRV.PING`,
//!   `$SRV.INFO`, `$SRV.STATS`), so `nats micro ls|info|stats` list Lattice actors and
//!   providers with per-operation counts, errors, processing times and last errors.
//!
//! Errors are one enum, [`RpcError`], whose variants a caller can act on. This crate does
//! not know about hosts, links or policy: a host or provider wraps its logic in a
//! [`Handler`].

pub mod barrier;
mod chunk;
pub mod client;
pub mod connect;
pub mod deadline;
pub mod error;
pub mod handler;
mod inbox;
pub mod jetstream;
pub mod metrics;
pub mod micro;
pub mod server;
pub mod trace;
pub mod verify;

pub use client::{CallOptions, DEFAULT_TIMEOUT, RpcClient, RpcClientBuilder};
pub use connect::{ConnState, ConnStatus, ConnWatch, Nats, NatsAuth, NatsEvents, NatsOptions};
pub use deadline::DEADLINE_HEADER;
pub use error::{REJECTED_PREFIX, RpcError};
pub use handler::{Handler, HandlerError, HandlerFn, Request, handler_fn};
pub use lattice_proto::verify::RejectionKind;
pub use metrics::{OperationStats, ServerMetrics, ServerStats};
pub use micro::{MicroConfig, MicroService};
pub use server::{RpcServer, RpcServerBuilder, ServerHandle};
pub use verify::Served;
