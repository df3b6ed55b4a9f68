//! The lattice's JetStream storage besides the lattice-data bucket ([`crate::links`]),
//! brought to the configured replica count at host start (issue 17): the chunking object
//! store (named after the lattice, PROTOCOL.md §8) and `CONFIGDATA_{lattice}` (a 0.82
//! host's config bucket), so that losing one node of a cluster loses none of it.
//!
//! Both are only *updated* when they exist; with more than one replica configured the
//! object store is also created here (with one, the RPC layer creates it on first use, as
//! 0.82 does). An existing object store — also one a 0.82 host created without a TTL —
//! gets the chunk TTL ([`lattice_proto::chunk::DEFAULT_CHUNK_TTL`]) as well. Every change
//! is logged by [`lattice_rpc::jetstream::ensure_replicas`] /
//! [`lattice_rpc::jetstream::ensure_max_age`].

use async_nats::jetstream;
use lattice_control::storage;
use lattice_rpc::jetstream::{self as js_storage, Replicas};

use crate::config::HostConfig;
use crate::error::HostError;

/// Bring the chunking object store and the config bucket to `config.js_replicas`.
pub(crate) async fn ensure_lattice_storage(ctl: &async_nats::Client, config: &HostConfig) -> Result<(), HostError> {
    let js = match &config.js_domain {
        Some(domain) => jetstream::with_domain(ctl.clone(), domain),
        None => jetstream::new(ctl.clone()),
    };
    let replicas = config.js_replicas;
    let bucket = config.lattice.as_str();
    let exists = js.get_object_store(bucket).await.is_ok();
    if exists || replicas != Replicas::ONE {
        js_storage::open_object_store(&js, bucket, replicas).await.map_err(|e| HostError::kv("open", e))?;
    }
    js_storage::ensure_kv_replicas(&js, &storage::config_bucket_name(&config.lattice), replicas)
        .await
        .map_err(|e| HostError::kv("open", e))?;
    tracing::info!(replicas = replicas.get(), lattice = bucket, "lattice JetStream storage ready");
    Ok(())
}
