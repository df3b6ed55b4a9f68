//! Serving one actor on the lattice: an [`lattice_rpc::RpcServer`] on
//! `wasmbus.rpc.{lattice}.{actor_pk}` (queue group = the subject, so every host running the
//! actor shares its calls, HOST.md §8b) whose handler runs the wasm actor.
//!
//! The RPC server verifies every invocation (issuer, signature, hash, target, replay)
//! before the handler runs, on its own tasks, and runs each accepted call on its own task,
//! so one actor's calls spread over every core; [`crate::actor::Actor::call`] bounds how
//! many run at once to `max_instances`. Scaling swaps the [`Actor`] the handler uses: calls
//! already running (or waiting for a slot) finish under the old bound, new calls use the
//! new one, and the subscription never drops. Stopping drains: no more calls are read, and
//! every call already received is answered.

use std::sync::{Arc, PoisonError, RwLock};

use lattice_proto::{HostKey, LatticeName, TrustedIssuers};
use lattice_rpc::micro::MicroConfig;
use lattice_rpc::{Handler, HandlerError, Request, RpcServer, Served, ServerHandle, ServerStats};

use crate::actor::{Actor, ActorModule, HostCalls};
use crate::error::HostError;

/// The handler: the actor currently in force.
#[derive(Clone)]
struct ActorHandler {
    current: Arc<RwLock<Actor>>,
}

impl ActorHandler {
    fn actor(&self) -> Actor {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Handler for ActorHandler {
    async fn handle(&self, request: Request) -> Result<Vec<u8>, HandlerError> {
        let actor = self.actor();
        // Boxed: the wasm call's future is large (wasmtime's async call state), and the RPC
        // server moves the futures of a batch around; a pointer moves for free.
        Box::pin(actor.call(&request.origin, &request.operation, request.msg))
            .await
            .map_err(|e| HandlerError::from_error(&e))
    }
}

/// One actor served on this host.
pub struct ServedActor {
    module: ActorModule,
    calls: Arc<dyn HostCalls>,
    handler: ActorHandler,
    server: ServerHandle,
}

impl std::fmt::Debug for ServedActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedActor")
            .field("actor", self.module.key())
            .field("max_instances", &self.max_instances())
            .field("subject", &self.server.subject())
            .finish()
    }
}

impl ServedActor {
    /// Start `module` with `max_instances` and subscribe its subject. When this returns the
    /// subscription is registered with the server: calls made now reach this host.
    ///
    /// The server also answers NATS micro discovery (`$SRV.*`) with `host_id` = `host` in its
    /// metadata, so `nats micro stats lattice-{lattice}-actor-{key}` shows each host's share
    /// of an actor's calls (`lattice bench --actor --hosts N` reads exactly that).
    #[allow(clippy::too_many_arguments, reason = "one constructor, called once by the host")]
    pub async fn start(
        nats: async_nats::Client,
        host: &HostKey,
        lattice: LatticeName,
        issuers: TrustedIssuers,
        js_domain: Option<&str>,
        module: ActorModule,
        calls: Arc<dyn HostCalls>,
        max_instances: u32,
    ) -> Result<Self, HostError> {
        let actor = module.start(calls.clone(), max_instances);
        let handler = ActorHandler { current: Arc::new(RwLock::new(actor)) };
        let mut builder = RpcServer::builder(nats, lattice, issuers, Served::Actor(module.key().clone()))
            .micro(MicroConfig::default().metadata("host_id", host.as_str()));
        if let Some(domain) = js_domain {
            builder = builder.jetstream_domain(domain);
        }
        let server = builder.start(handler.clone()).await?;
        Ok(Self { module, calls, handler, server })
    }

    /// The module served.
    pub fn module(&self) -> &ActorModule {
        &self.module
    }

    /// The concurrency limit in force.
    pub fn max_instances(&self) -> u32 {
        self.handler.actor().max_instances()
    }

    /// Calls running right now (under the current limit).
    pub fn in_flight(&self) -> u32 {
        self.handler.actor().in_flight()
    }

    /// The RPC server's counters.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Change the concurrency limit (at least 1); the subscription stays.
    pub fn scale(&self, max_instances: u32) {
        let actor = self.module.start(self.calls.clone(), max_instances);
        *self.handler.current.write().unwrap_or_else(PoisonError::into_inner) = actor;
    }

    /// Stop reading calls and answer every call already received.
    pub async fn stop(self) {
        self.server.shutdown().await;
        self.handler.actor().stop();
    }
}
