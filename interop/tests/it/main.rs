//! The interop suite at the network level: the REAL wasmCloud 0.82-era crates against the
//! real `lattice` binaries, as processes, over a real nats-server (one per test).
//!
//! The product binaries come from `<repo>/target/debug` (or `$LATTICE_BIN_DIR`); build
//! them first (scripts/test.sh does). `INTEROP_ECHO_LOGS=1` mirrors every process's stderr.
//! The protocol-level checks (no processes) are in ../invocations.rs.

mod archives;
mod claims;
mod control_client;
mod legacy_claims;
mod oci;
mod provider_sdk;
mod support;
mod trace_context;
mod transcript;
