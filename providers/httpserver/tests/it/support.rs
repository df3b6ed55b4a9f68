//! A running `lattice-httpserver`, an in-process echo actor, and log-line readiness.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lattice_proto::{ActorKey, LinkDefinition, ProviderKey, TrustedIssuers};
use lattice_provider::testing::{ProviderProcess, TestLattice};
use lattice_rpc::{HandlerError, Request, RpcServer, Served, ServerHandle, handler_fn};
use lattice_test_support::NatsServer;
use serde::{Deserialize, Serialize};

pub(crate) const CONTRACT: &str = "wasmcloud:httpserver";
pub(crate) const LINK: &str = "default";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// How long `/slow` keeps the echo actor busy.
pub(crate) const SLOW: Duration = Duration::from_millis(700);

pub(crate) struct Env {
    pub(crate) _server: NatsServer,
    pub(crate) lattice: TestLattice,
    pub(crate) provider: ProviderKey,
    pub(crate) nats: async_nats::Client,
    /// How many `/slow` requests the echo actors have started.
    pub(crate) busy: Arc<AtomicUsize>,
}

/// The 0.82 `HttpRequest`, as the actor decodes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    method: String,
    path: String,
    query_string: String,
    header: HashMap<String, Vec<String>>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

/// The 0.82 `HttpResponse`, as the actor encodes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    status_code: u16,
    header: HashMap<String, Vec<String>>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

/// What the echo actor saw, sent back as the JSON body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeenRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query_string: String,
    pub(crate) header: HashMap<String, Vec<String>>,
    pub(crate) body: Vec<u8>,
}

async fn echo(busy: Arc<AtomicUsize>, req: Request) -> Result<Vec<u8>, HandlerError> {
    assert_eq!(req.operation, "HttpServer.HandleRequest");
    assert_eq!(req.origin.contract_id, CONTRACT, "the provider calls as itself");
    let http: WireRequest = rmp_serde::from_slice(&req.msg).map_err(HandlerError::new)?;
    match http.path.as_str() {
        "/slow" => {
            busy.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(SLOW).await;
        }
        "/fail" => return Err(HandlerError::new("boom")),
        "/bad-status" => {
            let r = WireResponse { status_code: 0, header: HashMap::new(), body: Vec::new() };
            return Ok(rmp_serde::to_vec_named(&r).unwrap());
        }
        "/garbage" => return Ok(vec![0xc1]),
        _ => {}
    }
    let status_code = if http.method == "POST" { 201 } else { 200 };
    let seen = SeenRequest {
        method: http.method,
        path: http.path,
        query_string: http.query_string,
        header: http.header,
        body: http.body,
    };
    let header = HashMap::from([
        ("x-echo".to_owned(), vec!["yes".to_owned()]),
        ("content-type".to_owned(), vec!["application/json".to_owned()]),
    ]);
    let r = WireResponse { status_code, header, body: serde_json::to_vec(&seen).unwrap() };
    Ok(rmp_serde::to_vec_named(&r).unwrap())
}

impl Env {
    pub(crate) async fn new() -> Self {
        let server = NatsServer::start();
        let lattice = TestLattice::new(server.url());
        let nats = async_nats::connect(server.url()).await.unwrap();
        Self {
            _server: server,
            lattice,
            provider: TestLattice::new_provider_key(),
            nats,
            busy: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn link(&self, actor: &ActorKey, values: &[(&str, &str)]) -> LinkDefinition {
        TestLattice::link(actor, &self.provider, LINK, CONTRACT, values)
    }

    /// Serve `actor` in-process with the echo handler, trusting the lattice's cluster key.
    pub(crate) async fn serve_actor(&self, actor: &ActorKey) -> ServerHandle {
        let issuers = TrustedIssuers::new([self.lattice.cluster.public_key()]);
        let busy = self.busy.clone();
        RpcServer::builder(self.nats.clone(), self.lattice.lattice.clone(), issuers, Served::Actor(actor.clone()))
            .start(handler_fn(move |req| echo(busy.clone(), req)))
            .await
            .unwrap()
    }

    pub(crate) async fn start(&self, links: Vec<LinkDefinition>) -> ProviderProcess {
        let hd = self.lattice.host_data(&self.provider, LINK, links);
        let binary = Path::new(env!("CARGO_BIN_EXE_lattice-httpserver"));
        let p = ProviderProcess::spawn(binary, &hd.to_base64(), &[]);
        self.lattice.wait_healthy(&self.nats, &self.provider, LINK, WAIT).await;
        p
    }
}

/// The address the provider says it listens on for `actor` (links ask for port 0).
pub(crate) async fn listening_address(p: &ProviderProcess, actor: &ActorKey) -> SocketAddr {
    let line = p.wait_for_line(&["http listener started", actor.as_str()], WAIT).await;
    let addr = line.split_whitespace().find_map(|w| w.strip_prefix("address=")).unwrap();
    addr.parse().unwrap()
}

/// Wait until an echo actor is inside a `/slow` request.
pub(crate) async fn wait_actor_busy(env: &Env) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while env.busy.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the actor never got the slow request");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
