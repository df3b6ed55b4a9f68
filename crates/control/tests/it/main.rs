//! Integration tests of lattice-control: the real 0.82 transcript (every control reply,
//! event and KV record round-trips through our types) and [`lattice_control::CtlClient`]
//! against a real nats-server.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first unexpected error")]

mod client;
mod support;
mod transcript;
