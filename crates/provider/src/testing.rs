//! Test helpers for providers (feature `testing`): run a provider binary as a host would
//! and drive it over NATS.
//!
//! - [`TestLattice`]: fresh keys (cluster seed, host, provider, actors), HostData built
//!   the way a 0.82 host builds it, link definitions, signed clients for "actors".
//! - [`ProviderProcess`]: spawns a provider binary, writes the HostData line to its stdin
//!   and closes it (as the 0.82 host does), collects its stderr lines, sends SIGTERM,
//!   waits for its exit.
//! - [`TestLattice::health`], [`TestLattice::wait_healthy`], [`TestLattice::put_link`],
//!   [`TestLattice::del_link`], [`TestLattice::shutdown`]: the host's side of the control
//!   subjects. Like a host, `put_link`/`del_link` first write the lattice data bucket
//!   (providers apply only links a host stored); [`TestLattice::publish_link_put`] sends
//!   the bare message, as a forger would.
//!
//! Readiness is always observed (a health answer, a log line), never slept for.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lattice_proto::shutdown::ShutdownRequest;
use lattice_proto::{
    ActorKey, ClusterSeed, HealthCheckResponse, HostData, HostKey, LatticeName, LinkDefinition, LinkName, ProviderKey,
    WasmCloudEntity, subject,
};
use lattice_rpc::RpcClient;
use tokio::time::Instant;

/// Keys and names of one test lattice.
#[derive(Clone, Debug)]
pub struct TestLattice {
    /// The NATS URL providers get in HostData.
    pub nats_url: String,
    /// A lattice name unique to this test.
    pub lattice: LatticeName,
    /// The cluster seed (HostData's `invocation_seed`; its key is the trusted issuer).
    pub cluster: ClusterSeed,
    /// The "host" that launches providers.
    pub host: HostKey,
}

fn fresh_public(pair: &nkeys::KeyPair) -> String {
    pair.public_key()
}

impl TestLattice {
    /// A lattice on `nats_url` with a fresh cluster seed, host key and lattice name.
    pub fn new(nats_url: impl Into<String>) -> Self {
        let name = format!("t{}", nuid_lower());
        Self {
            nats_url: nats_url.into(),
            // A generated name of lower-case letters and digits is always valid.
            lattice: LatticeName::new(name).unwrap_or_default(),
            cluster: ClusterSeed::generate(),
            host: new_host_key(),
        }
    }

    /// A fresh provider key.
    pub fn new_provider_key() -> ProviderKey {
        parse_or_panic(ProviderKey::parse(&fresh_public(&nkeys::KeyPair::new_service())))
    }

    /// A fresh actor key.
    pub fn new_actor_key() -> ActorKey {
        parse_or_panic(ActorKey::parse(&fresh_public(&nkeys::KeyPair::new_module())))
    }

    /// HostData for `provider` under `link_name`, as a 0.82 host builds it (timeout 2000 ms).
    pub fn host_data(&self, provider: &ProviderKey, link_name: &str, links: Vec<LinkDefinition>) -> HostData {
        HostData {
            host_id: self.host.as_str().to_owned(),
            lattice_rpc_prefix: self.lattice.as_str().to_owned(),
            link_name: link_name.to_owned(),
            lattice_rpc_url: self.nats_url.clone(),
            provider_key: provider.as_str().to_owned(),
            invocation_seed: self.cluster.seed(),
            instance_id: "00000000-0000-4000-8000-000000000000".to_owned(),
            link_definitions: links,
            cluster_issuers: vec![self.cluster.public_key().as_str().to_owned()],
            default_rpc_timeout_ms: Some(2000),
            ..HostData::default()
        }
    }

    /// A link from `actor` to `provider` under `link_name` for `contract`.
    pub fn link(
        actor: &ActorKey,
        provider: &ProviderKey,
        link_name: &str,
        contract: &str,
        values: &[(&str, &str)],
    ) -> LinkDefinition {
        LinkDefinition {
            actor_id: actor.as_str().to_owned(),
            provider_id: provider.as_str().to_owned(),
            link_name: link_name.to_owned(),
            contract_id: contract.to_owned(),
            values: values.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// A client signing with this lattice's cluster seed (what a host's actors use).
    pub fn client(&self, nats: async_nats::Client) -> RpcClient {
        RpcClient::builder(nats, self.lattice.clone(), self.cluster.clone(), self.host.clone()).build()
    }

    /// A provider entity as a call target.
    pub fn provider_entity(provider: &ProviderKey, link_name: &str, contract: &str) -> WasmCloudEntity {
        WasmCloudEntity {
            public_key: provider.as_str().to_owned(),
            link_name: link_name.to_owned(),
            contract_id: contract.to_owned(),
        }
    }

    fn link_name(name: &str) -> LinkName {
        parse_or_panic(LinkName::new(name))
    }

    /// Ask the provider for its health (the host's 30 s check), waiting at most `timeout`.
    pub async fn health(
        &self,
        nats: &async_nats::Client,
        provider: &ProviderKey,
        link_name: &str,
        timeout: Duration,
    ) -> Option<HealthCheckResponse> {
        let s = subject::health(&self.lattice, provider, &Self::link_name(link_name)).into_string();
        let reply = tokio::time::timeout(timeout, nats.request(s, Vec::new().into())).await.ok()?.ok()?;
        HealthCheckResponse::decode(&reply.payload).ok()
    }

    /// Poll health until the provider answers (it is then serving), or panic after `timeout`.
    pub async fn wait_healthy(
        &self,
        nats: &async_nats::Client,
        provider: &ProviderKey,
        link_name: &str,
        timeout: Duration,
    ) -> HealthCheckResponse {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(h) = self.health(nats, provider, link_name, Duration::from_millis(500)).await {
                return h;
            }
            assert!(Instant::now() < deadline, "provider {provider} did not answer health checks within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Store a link and publish the put, as a host does (bucket write first, then the
    /// msgpack message, no reply).
    pub async fn put_link(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        self.store_link(nats, ld).await;
        self.publish_link(nats, ld, true).await;
    }

    /// Remove a link from the bucket and publish the delete, as a host does.
    pub async fn del_link(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        self.unstore_link(nats, ld).await;
        self.publish_link(nats, ld, false).await;
    }

    /// Publish a link put without storing it (what a forger can do).
    pub async fn publish_link_put(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        self.publish_link(nats, ld, true).await;
    }

    /// Publish a link delete without touching the bucket (what a forger can do).
    pub async fn publish_link_del(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        self.publish_link(nats, ld, false).await;
    }

    /// The lattice data bucket, created (as a host creates it) when missing.
    pub async fn data_bucket(&self, nats: &async_nats::Client) -> async_nats::jetstream::kv::Store {
        let js = async_nats::jetstream::new(nats.clone());
        let bucket = lattice_control::storage::bucket_name(&self.lattice);
        // The one KV stream config hosts use (lattice_rpc::jetstream).
        let opened = lattice_rpc::jetstream::open_kv(&js, &bucket, lattice_rpc::jetstream::Replicas::default()).await;
        match opened {
            Ok(kv) => kv,
            Err(e) => panic!("open the lattice data bucket: {e}"),
        }
    }

    /// Write `ld` to the lattice data bucket under its `LINKDEF_…` key, as a host does.
    pub async fn store_link(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        let kv = self.data_bucket(nats).await;
        let key = lattice_control::storage::linkdef_key_for(ld);
        let put = kv.put(key, lattice_control::storage::encode_linkdef(ld).into()).await;
        assert!(put.is_ok(), "store link: {:?}", put.err());
    }

    /// Delete `ld`'s `LINKDEF_…` entry, as a host does.
    pub async fn unstore_link(&self, nats: &async_nats::Client, ld: &LinkDefinition) {
        let kv = self.data_bucket(nats).await;
        let deleted = kv.delete(lattice_control::storage::linkdef_key_for(ld)).await;
        assert!(deleted.is_ok(), "delete stored link: {:?}", deleted.err());
    }

    async fn publish_link(&self, nats: &async_nats::Client, ld: &LinkDefinition, put: bool) {
        let provider = parse_or_panic(ProviderKey::parse(&ld.provider_id));
        let link = Self::link_name(&ld.link_name);
        let s = if put {
            subject::linkdefs_put(&self.lattice, &provider, &link)
        } else {
            subject::linkdefs_del(&self.lattice, &provider, &link)
        };
        let published = nats.publish(s.into_string(), ld.encode().into()).await;
        assert!(published.is_ok(), "publish link: {published:?}");
        let flushed = nats.flush().await;
        assert!(flushed.is_ok(), "flush: {flushed:?}");
    }

    /// Send the host's shutdown request; returns the reply's bytes, if one came in `timeout`.
    pub async fn shutdown(
        &self,
        nats: &async_nats::Client,
        provider: &ProviderKey,
        link_name: &str,
        host_id: &str,
        timeout: Duration,
    ) -> Option<Vec<u8>> {
        let s = subject::shutdown(&self.lattice, provider, &Self::link_name(link_name)).into_string();
        let body = ShutdownRequest { host_id: host_id.to_owned() }.encode();
        let reply = tokio::time::timeout(timeout, nats.request(s, body.into())).await.ok()?.ok()?;
        Some(reply.payload.to_vec())
    }
}

fn parse_or_panic<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => panic!("generated key or name did not parse: {e:?}"),
    }
}

fn new_host_key() -> HostKey {
    parse_or_panic(HostKey::parse(&fresh_public(&nkeys::KeyPair::new_server())))
}

fn nuid_lower() -> String {
    let pair = nkeys::KeyPair::new_user();
    pair.public_key()[1..13].to_ascii_lowercase()
}

/// A provider process started the way a host starts one.
#[derive(Debug)]
pub struct ProviderProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ProviderProcess {
    /// Start `binary`, write `stdin_line` followed by `\r\n` to its stdin and close it.
    /// `RUST_LOG` is set to `info` unless `envs` sets it.
    pub fn spawn(binary: &Path, stdin_line: &str, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary);
        cmd.env_clear().stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.env("RUST_LOG", "info");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot start {}: {e}", binary.display()),
        };
        if let Some(mut stdin) = child.stdin.take() {
            // The process may already have exited (bad input): ignore a broken pipe.
            let _ = stdin.write_all(stdin_line.as_bytes());
            let _ = stdin.write_all(b"\r\n");
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[provider] {line}");
                    sink.lock().unwrap_or_else(PoisonError::into_inner).push(line);
                }
            });
        }
        Self { child, lines }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).join("\n")
    }

    /// Wait for a stderr line containing every one of `needles`; returns it.
    pub async fn wait_for_line(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line with {needles:?} within {timeout:?}; stderr so far:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Send SIGTERM (through `kill -TERM`, so no unsafe code is needed).
    pub fn sigterm(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM {} failed", self.pid());
    }

    /// Wait for the process to exit; panics after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) => {}
                Err(e) => panic!("waiting for the provider: {e}"),
            }
            assert!(Instant::now() < deadline, "provider did not exit within {timeout:?}; stderr:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kill the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
