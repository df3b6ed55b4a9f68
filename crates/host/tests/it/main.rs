//! Integration tests of `lattice-host`. The actor and claims tests (`actors`, `claims`,
//! `runtime`) sign the WAT actors in `/actors` and run them through the real runtime with
//! fake `HostCalls`: they need no NATS.

#![allow(clippy::unwrap_used, reason = "tests unwrap: a panic is the failure report")]

mod actors;
mod claims;
mod control;
mod host;
mod lattice;
mod providers;
mod replicas;
mod runtime;
mod sidedoors;
mod support;
mod wasi;
