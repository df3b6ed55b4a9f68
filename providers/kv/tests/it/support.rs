//! A running `lattice-kv` with one linked actor, and typed calls to it.

use std::path::Path;
use std::time::Duration;

use lattice_proto::{ActorKey, LinkDefinition, ProviderKey, WasmCloudEntity};
use lattice_provider::testing::{ProviderProcess, TestLattice};
use lattice_rpc::{RpcClient, RpcError};
use lattice_test_support::NatsServer;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) const CONTRACT: &str = "wasmcloud:keyvalue";
pub(crate) const LINK: &str = "default";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

pub(crate) fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lattice-kv"))
}

/// A nats-server, a lattice, one provider key and a connection.
pub(crate) struct Env {
    pub(crate) server: NatsServer,
    pub(crate) lattice: TestLattice,
    pub(crate) provider: ProviderKey,
    pub(crate) nats: async_nats::Client,
    pub(crate) client: RpcClient,
}

impl Env {
    pub(crate) async fn new() -> Self {
        let server = NatsServer::start();
        let lattice = TestLattice::new(server.url());
        let nats = async_nats::connect(server.url()).await.unwrap();
        let client = lattice.client(nats.clone());
        Self { server, lattice, provider: TestLattice::new_provider_key(), nats, client }
    }

    pub(crate) fn link(&self, actor: &ActorKey, values: &[(&str, &str)]) -> LinkDefinition {
        TestLattice::link(actor, &self.provider, LINK, CONTRACT, values)
    }

    /// Start the provider with these links in HostData and wait until it answers health.
    pub(crate) async fn start(&self, links: Vec<LinkDefinition>) -> ProviderProcess {
        let hd = self.lattice.host_data(&self.provider, LINK, links);
        let p = ProviderProcess::spawn(binary(), &hd.to_base64(), &[]);
        self.lattice.wait_healthy(&self.nats, &self.provider, LINK, WAIT).await;
        p
    }

    /// Call `op` as `actor` with a msgpack-encoded `input`; decode the msgpack answer.
    pub(crate) async fn call<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        actor: &ActorKey,
        op: &str,
        input: &I,
    ) -> Result<O, RpcError> {
        let body = self.call_raw(actor, op, rmp_serde::to_vec_named(input).unwrap()).await?;
        Ok(rmp_serde::from_slice(&body).unwrap_or_else(|e| panic!("{op}: undecodable answer {body:02x?}: {e}")))
    }

    pub(crate) async fn call_raw(&self, actor: &ActorKey, op: &str, msg: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        let target = TestLattice::provider_entity(&self.provider, LINK, CONTRACT);
        self.client.call(WasmCloudEntity::actor(actor), target, op, msg).await
    }

    /// Poll until `actor`'s calls are accepted (its link was applied).
    pub(crate) async fn wait_linked(&self, actor: &ActorKey) {
        self.poll_link_state(actor, true).await;
    }

    /// Poll until `actor`'s calls are refused as unlinked.
    pub(crate) async fn wait_unlinked(&self, actor: &ActorKey) {
        self.poll_link_state(actor, false).await;
    }

    async fn poll_link_state(&self, actor: &ActorKey, linked: bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r: Result<bool, _> = self.call(actor, "KeyValue.Contains", "probe").await;
            match (&r, linked) {
                (Ok(_), true) => return,
                (Err(RpcError::Rejected { kind, .. }), false) if kind == "not_linked" => return,
                _ => {}
            }
            assert!(tokio::time::Instant::now() < deadline, "link state never became linked={linked}: last {r:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Assert `r` is the SDK's "not linked" rejection.
pub(crate) fn assert_not_linked<T: std::fmt::Debug>(r: Result<T, RpcError>, actor: &ActorKey) {
    match r {
        Err(RpcError::Rejected { kind, reason }) => {
            assert_eq!(kind, "not_linked");
            assert_eq!(reason, format!("Actor {actor} is not linked to this provider"));
        }
        other => panic!("expected a not-linked rejection, got {other:?}"),
    }
}
