//! Outgoing host calls: where an actor's `__host_call` goes ([`ActorCalls`], the host's
//! implementation of the runtime's [`HostCalls`]).
//!
//! Routing follows 0.82's `identify_wasmbus_target` + `resolve_target` (HOST.md §1, §8):
//! 1. if the actor has a link for contract `namespace` under link name `binding` (empty →
//!    `default`), the call goes to that link's provider — **but only if the actor's claims
//!    list that capability**. 0.82 checked only the link; Lattice refuses a linked call the
//!    claims do not grant, with an error that says so;
//! 2. otherwise, a namespace that is an actor key (`M…`) targets that actor;
//! 3. otherwise, the namespace is a call alias looked up in the lattice's claims;
//! 4. otherwise the call fails with "link not found" (or "no capability claim", when the
//!    namespace is a contract the actor was never granted).
//!
//! The invocation is signed with the cluster seed and sent over the RPC connection with
//! the host's RPC timeout ([`lattice_rpc::RpcClient`]); the operation on the wire is the part
//! of `{namespace}/{operation}` after the last `/`, as 0.82's `Invocation::new` does.

use lattice_proto::{ActorKey, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::RpcClient;

use crate::actor::{BoxFuture, CallTarget, HostCall, HostCallError, HostCalls};
use crate::links::LinkStore;

/// The default link name (0.82 `DEFAULT_LINK_NAME`).
pub const DEFAULT_LINK_NAME: &str = "default";

/// The [`HostCalls`] of the actors of one host.
#[derive(Clone, Debug)]
pub struct ActorCalls {
    links: LinkStore,
    rpc: RpcClient,
}

/// Where a host call was routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To a linked provider.
    Provider(WasmCloudEntity),
    /// To another actor.
    Actor(WasmCloudEntity),
}

impl ActorCalls {
    /// Host calls resolved against `links` and sent with `rpc`.
    pub fn new(links: LinkStore, rpc: RpcClient) -> Self {
        Self { links, rpc }
    }

    /// Decide where `call` goes, or why it may not go anywhere.
    pub fn route(&self, call: &HostCall) -> Result<Route, HostCallError> {
        let binding = if call.binding.is_empty() { DEFAULT_LINK_NAME } else { call.binding.as_str() };
        let actor = call.actor.as_str();
        if let Some(ld) = self.links.find(actor, &call.namespace, binding) {
            if !call.claims.has_cap(&call.namespace) {
                return Err(HostCallError::LinkedWithoutCapability {
                    actor: actor.to_owned(),
                    provider: ld.provider_id,
                    contract: call.namespace.clone(),
                    link_name: binding.to_owned(),
                });
            }
            let provider = ProviderKey::parse(&ld.provider_id).map_err(HostCallError::BadLinkKey)?;
            let link = LinkName::new(ld.link_name.clone()).map_err(HostCallError::BadLinkName)?;
            return Ok(Route::Provider(WasmCloudEntity::provider(&provider, &link, ld.contract_id)));
        }
        match call.target() {
            CallTarget::Actor(key) => Ok(Route::Actor(WasmCloudEntity::actor(&key))),
            CallTarget::ContractOrAlias(name) => {
                if let Some(key) = self.links.resolve_alias(name).and_then(|k| ActorKey::parse(&k).ok()) {
                    return Ok(Route::Actor(WasmCloudEntity::actor(&key)));
                }
                let (actor, namespace, link_name) = (actor.to_owned(), name.to_owned(), binding.to_owned());
                if name.contains(':') && !call.claims.has_cap(name) {
                    return Err(HostCallError::NoCapability { actor, namespace, link_name });
                }
                Err(HostCallError::LinkNotFound { actor, namespace, link_name })
            }
        }
    }
}

impl HostCalls for ActorCalls {
    fn host_call(&self, call: HostCall) -> BoxFuture<'_, Result<Vec<u8>, HostCallError>> {
        Box::pin(async move {
            let target = match self.route(&call) {
                Ok(Route::Provider(t) | Route::Actor(t)) => t,
                Err(e) => {
                    tracing::debug!(actor = %call.actor, namespace = %call.namespace, error = %lattice_proto::chain(&e), "host call refused");
                    return Err(e);
                }
            };
            let qualified = call.qualified_operation();
            let operation = qualified.rsplit_once('/').map_or(qualified.as_str(), |(_, op)| op).to_owned();
            self.rpc
                .call(WasmCloudEntity::actor(&call.actor), target, operation, call.payload)
                .await
                .map_err(HostCallError::Rpc)
        })
    }
}
