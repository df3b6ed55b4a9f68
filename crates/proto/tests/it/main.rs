//! Integration tests of lattice-proto: golden vectors from the real wasmCloud 0.82-era
//! crates, and property tests over untrusted input.

#![allow(clippy::unwrap_used, reason = "tests unwrap: a panic is the failure report")]

mod properties;
mod support;
mod vectors;
