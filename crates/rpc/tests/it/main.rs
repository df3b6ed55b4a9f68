//! Integration tests of lattice-rpc against a real nats-server (one binary, one module
//! per area).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
#![allow(missing_docs, unreachable_pub, reason = "test crate")]

mod chunk_bounds;
mod chunking;
mod connect;
mod disconnect;
mod failures;
mod forgery;
mod micro;
mod modes;
mod queue;
mod support;
mod trace;
mod vectors;
