//! [`ProviderContext`]: what a running provider knows and can do.
//!
//! A cheap, cloneable handle shared by every hook and by the provider's own tasks (an
//! HTTP listener calling its actor, say): the provider's identity from HostData, the RPC
//! NATS connection (usable for JetStream too), the link table, a signed client for
//! provider-to-actor calls (PROTOCOL.md §7.2), and a token that fires when the provider
//! starts shutting down.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use lattice_proto::{HostData, HostKey, LatticeName, LinkDefinition, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::{CallOptions, RpcClient, RpcError};
use tokio_util::sync::CancellationToken;

use crate::host_data::LoadedHostData;
use crate::links::LinkTable;

/// A running provider's shared state; see the module docs.
#[derive(Clone, Debug)]
pub struct ProviderContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    host_data: LoadedHostData,
    contract_id: &'static str,
    nats: async_nats::Client,
    client: RpcClient,
    links: RwLock<LinkTable>,
    stopping: CancellationToken,
}

impl ProviderContext {
    pub(crate) fn new(
        host_data: LoadedHostData,
        contract_id: &'static str,
        nats: async_nats::Client,
        client: RpcClient,
    ) -> Self {
        let v = host_data.valid();
        let links = LinkTable::new(v.provider_key.clone(), v.link_name.clone());
        Self {
            inner: Arc::new(Inner {
                host_data,
                contract_id,
                nats,
                client,
                links: RwLock::new(links),
                stopping: CancellationToken::new(),
            }),
        }
    }

    /// HostData as the host sent it (e.g. `config_json`, `env_values`).
    pub fn host_data(&self) -> &HostData {
        self.inner.host_data.raw()
    }

    /// This provider's key (`V…`).
    pub fn provider_key(&self) -> &ProviderKey {
        &self.inner.host_data.valid().provider_key
    }

    /// The link name this instance serves.
    pub fn link_name(&self) -> &LinkName {
        &self.inner.host_data.valid().link_name
    }

    /// The lattice.
    pub fn lattice(&self) -> &LatticeName {
        &self.inner.host_data.valid().lattice
    }

    /// The host that launched this provider.
    pub fn host_id(&self) -> &HostKey {
        &self.inner.host_data.valid().host_id
    }

    /// The contract this provider implements ([`crate::Provider::CONTRACT_ID`]).
    pub fn contract_id(&self) -> &str {
        self.inner.contract_id
    }

    /// This provider as an entity: the origin of its calls to actors.
    pub fn entity(&self) -> WasmCloudEntity {
        WasmCloudEntity::provider(self.provider_key(), self.link_name(), self.inner.contract_id)
    }

    /// The RPC NATS connection (from HostData's URL and credentials). Providers may use it
    /// for their own NATS work, e.g. JetStream.
    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// The signing RPC client (HostData's `invocation_seed`, `host_id`, lattice).
    pub fn rpc_client(&self) -> &RpcClient {
        &self.inner.client
    }

    /// The default timeout of calls to actors: HostData's `default_rpc_timeout_ms`, else 2 s.
    pub fn rpc_timeout(&self) -> Duration {
        self.inner.client.default_timeout()
    }

    /// Call `operation` on the actor `actor_id` (e.g. `HttpServer.HandleRequest`), as this
    /// provider, with the default timeout. Returns the actor's response body.
    pub async fn call_actor(
        &self,
        actor_id: &str,
        operation: impl Into<String>,
        msg: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        self.call_actor_with(actor_id, operation, msg, CallOptions::default()).await
    }

    /// Like [`ProviderContext::call_actor`], with per-call options (a timeout).
    pub async fn call_actor_with(
        &self,
        actor_id: &str,
        operation: impl Into<String>,
        msg: Vec<u8>,
        options: CallOptions,
    ) -> Result<Vec<u8>, RpcError> {
        let target = WasmCloudEntity { public_key: actor_id.to_owned(), ..WasmCloudEntity::default() };
        self.inner.client.call_with(self.entity(), target, operation, msg, options).await
    }

    /// The link of `actor_id`, if it is linked.
    pub fn link(&self, actor_id: &str) -> Option<Arc<LinkDefinition>> {
        self.inner.links.read().unwrap_or_else(PoisonError::into_inner).get(actor_id)
    }

    /// Every current link.
    pub fn links(&self) -> Vec<Arc<LinkDefinition>> {
        self.inner.links.read().unwrap_or_else(PoisonError::into_inner).all()
    }

    /// Fires when the provider starts shutting down; long-running tasks should stop then.
    pub fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    pub(crate) fn with_links<T>(&self, f: impl FnOnce(&mut LinkTable) -> T) -> T {
        f(&mut self.inner.links.write().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn loaded(&self) -> &LoadedHostData {
        &self.inner.host_data
    }
}
