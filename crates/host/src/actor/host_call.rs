//! The seam between a running actor and the rest of the host: [`HostCalls`].
//!
//! When an actor calls `__host_call` with anything but a builtin namespace, the runtime
//! hands a [`HostCall`] to the [`HostCalls`] implementation the actor was started with,
//! and gives the guest whatever bytes (or error text) come back. The runtime does no
//! routing itself: deciding whether the call goes to a linked provider (and whether the
//! actor's claims grant that capability) or to another actor is the host's job, because
//! only the host knows the links. [`HostCall::target`] does the part of 0.82's
//! `identify_wasmbus_target` that needs no link table.

use std::future::Future;
use std::pin::Pin;

use lattice_proto::ActorKey;

use crate::actor::HostCallError;
use crate::claims::SharedClaims;

/// A boxed, `Send` future, as returned by [`HostCalls::host_call`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One outgoing call made by an actor through `__host_call`.
#[derive(Clone, Debug)]
pub struct HostCall {
    /// The calling actor.
    pub actor: ActorKey,
    /// The calling actor's verified claims (for the capability check).
    pub claims: SharedClaims,
    /// The binding (link name) the guest passed; wasmbus-rpc actors pass `"default"` for
    /// providers unless told otherwise.
    pub binding: String,
    /// The namespace: a contract id (`wasmcloud:keyvalue`), or for actor-to-actor calls
    /// the target actor's public key or call alias.
    pub namespace: String,
    /// The operation (`KeyValue.Increment`).
    pub operation: String,
    /// The payload bytes (msgpack for wasmbus-rpc actors).
    pub payload: Vec<u8>,
}

/// Who a [`HostCall`] may be addressed to, judged from its namespace alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallTarget<'a> {
    /// The namespace is a valid actor (module) public key.
    Actor(ActorKey),
    /// Anything else: a contract id if the actor has a link for it under `binding`,
    /// otherwise a call alias (0.82 `identify_wasmbus_target` checks links first).
    ContractOrAlias(&'a str),
}

impl HostCall {
    /// Classify the namespace as 0.82 does once no link matched: an `M…` key is an actor,
    /// anything else a call alias — or a contract id, if the host finds a link for it.
    pub fn target(&self) -> CallTarget<'_> {
        match ActorKey::parse(&self.namespace) {
            Ok(key) => CallTarget::Actor(key),
            Err(_) => CallTarget::ContractOrAlias(&self.namespace),
        }
    }

    /// The operation as 0.82 puts it on the bus: `{namespace}/{operation}`.
    pub fn qualified_operation(&self) -> String {
        format!("{}/{}", self.namespace, self.operation)
    }
}

/// Where an actor's outgoing calls go. Implemented by the host (over `lattice-rpc`) and
/// by fakes in tests.
///
/// The guest reads the error's whole chain back through `__host_error` (0.82 formats the
/// whole error chain, `{err:#}`), so it should say what went wrong in words.
pub trait HostCalls: Send + Sync + 'static {
    /// Perform one call and return the response bytes.
    fn host_call(&self, call: HostCall) -> BoxFuture<'_, Result<Vec<u8>, HostCallError>>;
}

/// A [`HostCalls`] that refuses everything: for actors that make no host calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostCalls;

impl HostCalls for NoHostCalls {
    fn host_call(&self, call: HostCall) -> BoxFuture<'_, Result<Vec<u8>, HostCallError>> {
        Box::pin(async move { Err(HostCallError::Unavailable { operation: call.qualified_operation() }) })
    }
}
