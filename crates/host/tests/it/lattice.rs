//! Helpers for tests of a whole host over a real nats-server: a lattice (server, cluster
//! seed, state directory), hosts with fast health checks, signed actor files, a client that
//! calls actors the way the HTTP server provider does, and the provider binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lattice_host::claims::{self, SignOptions};
use lattice_host::config::RestartPolicy;
use lattice_host::{Host, HostBuilder};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::{RpcClient, RpcError};
use lattice_test_support::NatsServer;
use nkeys::KeyPair;

use crate::support::{actor_wat, compile};

/// One nats-server, one cluster seed, one state directory.
pub(crate) struct TestLattice {
    pub(crate) server: NatsServer,
    pub(crate) seed: ClusterSeed,
    pub(crate) dir: tempfile::TempDir,
}

impl TestLattice {
    pub(crate) fn new() -> Self {
        Self { server: NatsServer::start(), seed: ClusterSeed::generate(), dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) async fn connect(&self) -> async_nats::Client {
        let client = async_nats::connect(self.server.url()).await.unwrap();
        client.flush().await.unwrap();
        client
    }

    pub(crate) fn lattice(&self) -> LatticeName {
        LatticeName::new("default").unwrap()
    }

    /// A host builder for this lattice with fast health checks and restarts.
    pub(crate) async fn builder(&self) -> HostBuilder {
        let rpc = self.connect().await;
        let ctl = self.connect().await;
        HostBuilder::new()
            .lattice(self.lattice())
            .cluster_seed(self.seed.seed())
            .rpc_nats(rpc)
            .ctl_nats(ctl)
            .rpc_url(self.server.url())
            .state_dir(self.dir.path().join("state"))
            .allow_file_load(true)
            .health_checks(Duration::from_millis(300), Duration::from_millis(500))
            .restart_policy(RestartPolicy {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(500),
                reset_after: Duration::from_secs(60),
            })
            .provider_shutdown_grace(Duration::from_millis(1500))
    }

    pub(crate) async fn host(&self) -> Host {
        self.builder().await.start().await.unwrap()
    }

    /// A client signing with the lattice's seed, as a provider or a CLI would.
    pub(crate) async fn client(&self) -> RpcClient {
        let host = HostKey::parse(&KeyPair::new_server().public_key()).unwrap();
        RpcClient::builder(self.connect().await, self.lattice(), self.seed.clone(), host)
            .timeout(Duration::from_secs(5))
            .build()
    }

    /// Write `bytes` as `name` in the lattice's directory and return the path.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Compile `/actors/{wat}.wat`, sign it with `caps` (and `alias`), write it, return
    /// (path, key).
    pub(crate) fn signed_actor(&self, wat: &str, caps: &[&str], alias: Option<&str>) -> (String, ActorKey) {
        let opts = SignOptions {
            name: wat.to_owned(),
            caps: caps.iter().map(|c| (*c).to_owned()).collect(),
            call_alias: alias.map(str::to_owned),
            ..Default::default()
        };
        let module = KeyPair::new_module();
        let signed = claims::sign(&compile(&actor_wat(wat)), &opts, &module, &KeyPair::new_account(), now()).unwrap();
        let name = format!("{wat}-{}.wasm", &module.public_key()[..8]);
        let path = self.write(&name, &signed);
        (path.to_string_lossy().into_owned(), ActorKey::parse(&module.public_key()).unwrap())
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The origin the HTTP server provider uses.
pub(crate) fn http_origin() -> WasmCloudEntity {
    WasmCloudEntity::provider(
        &ProviderKey::parse(&KeyPair::new_service().public_key()).unwrap(),
        &LinkName::new("default").unwrap(),
        "wasmcloud:httpserver",
    )
}

#[derive(serde::Serialize)]
struct HttpRequest<'a> {
    method: &'a str,
    path: &'a str,
    #[serde(rename = "queryString")]
    query_string: &'a str,
    header: std::collections::HashMap<String, Vec<String>>,
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
}

#[derive(serde::Deserialize, Debug)]
pub(crate) struct HttpResponse {
    #[serde(rename = "statusCode")]
    pub(crate) status_code: u16,
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}

/// Call `actor` with `HttpServer.HandleRequest` (a GET of `/` with `body`).
pub(crate) async fn http_call(client: &RpcClient, actor: &ActorKey, body: &[u8]) -> Result<HttpResponse, RpcError> {
    let req = HttpRequest { method: "GET", path: "/", query_string: "", header: Default::default(), body };
    let msg = rmp_serde::to_vec_named(&req).unwrap();
    let out = client.call(http_origin(), WasmCloudEntity::actor(actor), "HttpServer.HandleRequest", msg).await?;
    Ok(rmp_serde::from_slice(&out).unwrap())
}

/// The counter value in a counter actor's answer.
pub(crate) fn counter_value(resp: &HttpResponse) -> i64 {
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    v["counter"].as_i64().unwrap()
}

/// Poll `f` every 50 ms until it returns `Some`, failing after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The path of a workspace binary (`lattice-kv`, …), built with cargo if it is missing.
pub(crate) fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().unwrap();
    // target/{profile}/deps/it-… → target/{profile}
    let dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let path = dir.join(name);
    if !path.is_file() {
        BUILT.get_or_init(|| {
            let profile = dir.file_name().unwrap().to_string_lossy().into_owned();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "lattice-kv", "-p", "lattice-httpserver"]);
            if profile == "release" {
                cmd.arg("--release");
            }
            let status = cmd.status().unwrap();
            assert!(status.success(), "cargo build of the provider binaries failed");
        });
    }
    assert!(path.is_file(), "{} not found", path.display());
    path
}
