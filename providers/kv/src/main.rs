//! `lattice-kv`: the `wasmcloud:keyvalue` capability provider, backed by NATS JetStream KV.
//!
//! Launched by a host (wasmCloud 0.82 or Lattice) with HostData on stdin. Each linked
//! actor gets one JetStream KV bucket — the link value `bucket`, default
//! `kv_{actor public key}` — opened (or created, history 1) on the provider's RPC
//! connection when the link arrives. Every operation of the 0.82 `KeyValue` interface is
//! served ([`ops`]); how data is laid out in the bucket is in [`store`], and how `Set`
//! with `expires` works on nats-server 2.9 (no per-key TTL) in [`expiry`]. The data lives
//! in JetStream, so it survives provider restarts.

mod expiry;
mod ops;
mod provider;
mod store;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider::run(provider::KvProvider::default()).await
}
