//! [`KvProvider`]: the provider hooks — a JetStream KV bucket per link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lattice_provider::{HandlerError, LinkDefinition, Provider, ProviderContext, ProviderError, Request};
use lattice_rpc::jetstream::Replicas;
use tokio_util::task::TaskTracker;

use crate::expiry::Sweeper;
use crate::ops;
use crate::store::Bucket;

/// The link value naming the bucket (case-insensitive key).
pub(crate) const BUCKET_KEY: &str = "bucket";

/// The bucket of a link without a `bucket` value: `kv_{actor public key}` (CONVENTIONS.md).
pub(crate) fn default_bucket(actor_id: &str) -> String {
    format!("kv_{actor_id}")
}

/// The bucket a link names; refuses names JetStream would not accept.
pub(crate) fn bucket_name(link: &LinkDefinition) -> Result<String, ProviderError> {
    let named = link.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(BUCKET_KEY)).map(|(_, v)| v.trim());
    let name = match named {
        Some(n) => n.to_owned(),
        None => default_bucket(&link.actor_id),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ProviderError::refused(format!(
            "invalid bucket name '{name}' in link values: use letters, digits, '_' and '-'"
        )));
    }
    Ok(name)
}

/// The HostData `env_values` key a Lattice host sets to the configured JetStream replica
/// count (absent: one, as with a 0.82 host).
const JS_REPLICAS_ENV: &str = "LATTICE_JS_REPLICAS";

/// The replicas the host asks for; one when it does not say (or says nonsense, logged).
fn js_replicas(ctx: &ProviderContext) -> Replicas {
    match ctx.host_data().env_values.get(JS_REPLICAS_ENV).map(str::parse::<Replicas>) {
        None => Replicas::ONE,
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            tracing::warn!(error = %lattice_proto::chain(&e), "ignoring {JS_REPLICAS_ENV}: using one replica");
            Replicas::ONE
        }
    }
}

/// The `wasmcloud:keyvalue` provider.
#[derive(Debug, Default)]
pub(crate) struct KvProvider {
    buckets: Mutex<HashMap<String, Bucket>>,
    sweeper: Arc<Sweeper>,
    tasks: TaskTracker,
}

impl Provider for KvProvider {
    const CONTRACT_ID: &'static str = "wasmcloud:keyvalue";

    async fn init(&self, ctx: &ProviderContext) -> Result<(), ProviderError> {
        let (sweeper, stop) = (self.sweeper.clone(), ctx.stopping().clone());
        self.tasks.spawn(async move { sweeper.run(stop).await });
        Ok(())
    }

    async fn handle(&self, _: &ProviderContext, link: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
        let bucket = self.buckets.lock().unwrap_or_else(PoisonError::into_inner).get(&link.actor_id).cloned();
        let Some(bucket) = bucket else {
            return Err(HandlerError::new(format!("no bucket is open for actor {}", link.actor_id)));
        };
        ops::dispatch(&bucket, &*self.sweeper, &call.operation, &call.msg)
            .await
            .map_err(|e| HandlerError::from_error(&e))
    }

    async fn put_link(&self, ctx: &ProviderContext, link: &LinkDefinition) -> Result<(), ProviderError> {
        let name = bucket_name(link)?;
        let js = async_nats::jetstream::new(ctx.nats().clone());
        let bucket = Bucket::open(&js, &name, js_replicas(ctx)).await.map_err(|e| {
            ProviderError::refused(format!(
                "cannot open or create JetStream KV bucket '{name}': {}",
                lattice_proto::chain(&e)
            ))
        })?;
        tracing::info!(actor = %link.actor_id, bucket = %name, "bucket ready");
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).insert(link.actor_id.clone(), bucket.clone());
        let sweeper = self.sweeper.clone();
        self.tasks.spawn(async move { sweeper.scan(&bucket).await });
        Ok(())
    }

    async fn delete_link(&self, _: &ProviderContext, link: &LinkDefinition) {
        // The data stays in JetStream; only this actor's access ends.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).remove(&link.actor_id);
    }

    async fn shutdown(&self, _: &ProviderContext) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn link(values: &[(&str, &str)]) -> LinkDefinition {
        LinkDefinition {
            actor_id: "MABC".into(),
            values: values.iter().map(|(k, v)| (*k, *v)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn bucket_names() {
        assert_eq!(bucket_name(&link(&[])).unwrap(), "kv_MABC");
        assert_eq!(bucket_name(&link(&[("BUCKET", "shared-1")])).unwrap(), "shared-1");
        let e = bucket_name(&link(&[("bucket", "a.b")])).unwrap_err();
        assert!(e.to_string().contains("invalid bucket name 'a.b'"), "{e}");
    }
}
