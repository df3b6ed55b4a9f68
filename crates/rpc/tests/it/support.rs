//! Shared fixtures: a nats-server, fresh keys, counting handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, InvocationResponse, LatticeName, LinkName, ProviderKey, TrustedIssuers,
    WasmCloudEntity,
};
use lattice_rpc::{Handler, HandlerError, Request, RpcClient, RpcServer, Served, ServerHandle, handler_fn};
use lattice_test_support::NatsServer;

pub const CONTRACT: &str = "wasmcloud:keyvalue";

pub fn actor_key() -> ActorKey {
    ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()
}

pub fn provider_key() -> ProviderKey {
    ProviderKey::parse(&nkeys::KeyPair::new_service().public_key()).unwrap()
}

pub fn host_key() -> HostKey {
    HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap()
}

pub fn lattice() -> LatticeName {
    LatticeName::default()
}

/// A running nats-server plus the cluster seed everyone in the test trusts.
pub struct Env {
    pub server: NatsServer,
    pub seed: ClusterSeed,
    pub host: HostKey,
}

impl Env {
    pub fn start() -> Self {
        // `RUST_LOG=lattice_rpc=debug cargo test -p lattice-rpc` shows spans and rejections.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        Self { server: NatsServer::start(), seed: ClusterSeed::generate(), host: host_key() }
    }

    pub async fn connect(&self) -> async_nats::Client {
        async_nats::connect(self.server.url()).await.unwrap()
    }

    pub fn issuers(&self) -> TrustedIssuers {
        TrustedIssuers::new([self.seed.public_key()])
    }

    pub async fn client(&self) -> RpcClient {
        RpcClient::builder(self.connect().await, lattice(), self.seed.clone(), self.host.clone()).build()
    }

    pub async fn serve(&self, served: Served, handler: impl Handler) -> ServerHandle {
        RpcServer::builder(self.connect().await, lattice(), self.issuers(), served).start(handler).await.unwrap()
    }

    /// Sign an invocation like a real sender, for tests that then tamper with it.
    pub fn sign(&self, origin: WasmCloudEntity, target: WasmCloudEntity, operation: &str, msg: &[u8]) -> Invocation {
        sign_with(&self.seed, &self.host, origin, target, operation, msg, now())
    }
}

pub fn sign_with(
    seed: &ClusterSeed,
    host: &HostKey,
    origin: WasmCloudEntity,
    target: WasmCloudEntity,
    operation: &str,
    msg: &[u8],
    now: u64,
) -> Invocation {
    let jti = nuid::next();
    Invocation::new_signed(
        CallSpec { origin, target, operation: operation.to_owned(), msg: msg.to_vec(), host_id: host },
        seed,
        SignContext { id: uuid::Uuid::new_v4().to_string(), jti: jti.as_str(), now, expires: None },
    )
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub fn actor(key: &ActorKey) -> WasmCloudEntity {
    WasmCloudEntity::actor(key)
}

pub fn provider(key: &ProviderKey) -> WasmCloudEntity {
    WasmCloudEntity::provider(key, &LinkName::default(), CONTRACT)
}

pub fn served_provider(key: &ProviderKey) -> Served {
    Served::Provider { key: key.clone(), link: LinkName::default(), contract: Some(CONTRACT.to_owned()) }
}

/// Counts handler calls.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A handler that echoes `msg` and counts its calls.
pub fn echo(counter: &Counter) -> impl Handler + use<> {
    let counter = counter.clone();
    handler_fn(move |req: Request| {
        counter.bump();
        async move { Ok::<_, HandlerError>(req.msg) }
    })
}

/// Send raw bytes to `subject` as a request and decode the answer.
pub async fn raw_request(nats: &async_nats::Client, subject: String, payload: Vec<u8>) -> InvocationResponse {
    let reply = tokio::time::timeout(Duration::from_secs(5), nats.request(subject, payload.into()))
        .await
        .expect("an answer within 5 s")
        .expect("request succeeds");
    InvocationResponse::decode(&reply.payload).expect("a decodable InvocationResponse")
}
