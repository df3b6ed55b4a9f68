//! End-to-end tests of `lattice-kv`: the real binary, launched as a host launches it
//! (HostData on stdin), against a real nats-server with JetStream, called by a signed
//! client playing the linked actor.

#![allow(clippy::unwrap_used, reason = "tests")]

mod lifecycle;
mod operations;
mod support;
