//! The SDK in-process ([`lattice_provider::serve`]) against a real nats-server: health
//! answers, provider-to-actor calls, the link table, shutdown and drain. Process-level
//! behaviour (stdin, exit codes, SIGTERM) is tested with the real provider binaries.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lattice_proto::{
    ActorKey, ClusterSeed, HealthCheckResponse, HostData, HostKey, LatticeName, LinkDefinition, LinkName, ProviderKey,
    TrustedIssuers, WasmCloudEntity, subject,
};
use lattice_provider::{
    HandlerError, LoadedHostData, Provider, ProviderContext, ProviderError, Request, RunOptions, serve,
};
use lattice_rpc::{RpcClient, RpcError, RpcServer, Served, handler_fn};
use lattice_test_support::NatsServer;
use tokio::sync::{Notify, oneshot};

const CONTRACT: &str = "test:probe";
const LINK: &str = "default";
const WAIT: Duration = Duration::from_secs(10);

/// A provider that records what the SDK asks of it.
#[derive(Default)]
struct Probe {
    events: Mutex<Vec<String>>,
    unhealthy: AtomicBool,
    release: Notify,
    fail_init: bool,
}

impl Probe {
    fn event(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

/// The SDK owns its provider; the test keeps a second handle to the same state.
struct Shared(Arc<Probe>);

impl std::ops::Deref for Shared {
    type Target = Probe;
    fn deref(&self) -> &Probe {
        &self.0
    }
}

impl Provider for Shared {
    const CONTRACT_ID: &'static str = CONTRACT;

    async fn init(&self, _: &ProviderContext) -> Result<(), ProviderError> {
        if self.fail_init { Err(ProviderError::refused("not today")) } else { Ok(()) }
    }

    async fn handle(
        &self,
        ctx: &ProviderContext,
        link: &LinkDefinition,
        call: Request,
    ) -> Result<Vec<u8>, HandlerError> {
        assert_eq!(link.actor_id, call.origin.public_key);
        match call.operation.as_str() {
            "Probe.Ok" => Ok(call.msg),
            "Probe.Block" => {
                self.event("blocked".into());
                self.release.notified().await;
                Ok(b"released".to_vec())
            }
            "Probe.CallBack" => {
                ctx.call_actor(&link.actor_id, "Actor.Hello", call.msg).await.map_err(HandlerError::new)
            }
            other => Err(HandlerError::new(format!("unknown {other}"))),
        }
    }

    async fn put_link(&self, _: &ProviderContext, link: &LinkDefinition) -> Result<(), ProviderError> {
        if link.values.get("refuse").is_some() {
            return Err(ProviderError::refused("refuse=yes"));
        }
        if link.values.get("block").is_some() {
            self.event("put blocked".into());
            self.release.notified().await;
        }
        self.event(format!("put {} {}", link.actor_id, link.values.get("v").unwrap_or_default()));
        Ok(())
    }

    async fn delete_link(&self, _: &ProviderContext, link: &LinkDefinition) {
        self.event(format!("del {} {}", link.actor_id, link.values.get("v").unwrap_or_default()));
    }

    async fn health(&self, _: &ProviderContext) -> HealthCheckResponse {
        if self.unhealthy.load(Ordering::SeqCst) {
            HealthCheckResponse::unhealthy("disk on fire")
        } else {
            HealthCheckResponse::healthy()
        }
    }

    async fn shutdown(&self, _: &ProviderContext) {
        self.event("shutdown".into());
    }
}

fn key<T>(r: Result<T, lattice_proto::KeyError>) -> T {
    r.unwrap()
}

/// One test lattice with one provider identity.
struct Env {
    server: NatsServer,
    nats: async_nats::Client,
    lattice: LatticeName,
    cluster: ClusterSeed,
    host: HostKey,
    provider: ProviderKey,
}

impl Env {
    async fn new() -> Self {
        let server = NatsServer::start();
        let nats = async_nats::connect(server.url()).await.unwrap();
        Self {
            nats,
            lattice: LatticeName::new("sdk").unwrap(),
            cluster: ClusterSeed::generate(),
            host: key(HostKey::parse(&nkeys::KeyPair::new_server().public_key())),
            provider: key(ProviderKey::parse(&nkeys::KeyPair::new_service().public_key())),
            server,
        }
    }

    fn actor() -> ActorKey {
        key(ActorKey::parse(&nkeys::KeyPair::new_module().public_key()))
    }

    fn link(&self, actor: &ActorKey, link_name: &str, values: &[(&str, &str)]) -> LinkDefinition {
        LinkDefinition {
            actor_id: actor.to_string(),
            provider_id: self.provider.to_string(),
            link_name: link_name.into(),
            contract_id: CONTRACT.into(),
            values: values.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    fn host_data(&self, links: Vec<LinkDefinition>) -> LoadedHostData {
        let raw = HostData {
            host_id: self.host.to_string(),
            lattice_rpc_prefix: self.lattice.to_string(),
            link_name: LINK.into(),
            lattice_rpc_url: self.server.url(),
            provider_key: self.provider.to_string(),
            invocation_seed: self.cluster.seed(),
            link_definitions: links,
            cluster_issuers: vec![self.cluster.public_key().to_string()],
            default_rpc_timeout_ms: Some(2000),
            ..HostData::default()
        };
        // Through the wire form, as a host sends it.
        LoadedHostData::from_line(format!("{}\r\n", raw.to_base64()).as_bytes()).unwrap()
    }

    /// Run `probe` in the background; `stop` ends it as SIGTERM would.
    fn spawn(
        &self,
        probe: Arc<Probe>,
        links: Vec<LinkDefinition>,
        options: RunOptions,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), ProviderError>>) {
        let (stop, stopped) = oneshot::channel::<()>();
        let hd = self.host_data(links);
        let task = tokio::spawn(serve(Shared(probe), hd, options, async move {
            let _ = stopped.await;
        }));
        (stop, task)
    }

    fn subject(&self, f: fn(&LatticeName, &ProviderKey, &LinkName) -> subject::Subject) -> String {
        f(&self.lattice, &self.provider, &LinkName::new(LINK).unwrap()).into_string()
    }

    async fn health(&self) -> HealthCheckResponse {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = tokio::time::timeout(
                Duration::from_millis(300),
                self.nats.request(self.subject(subject::health), "".into()),
            )
            .await;
            if let Ok(Ok(m)) = r {
                return HealthCheckResponse::decode(&m.payload).unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "no health answer");
        }
    }

    fn client(&self) -> RpcClient {
        RpcClient::builder(self.nats.clone(), self.lattice.clone(), self.cluster.clone(), self.host.clone()).build()
    }

    fn target(&self) -> WasmCloudEntity {
        WasmCloudEntity { public_key: self.provider.to_string(), link_name: LINK.into(), contract_id: CONTRACT.into() }
    }

    async fn call(&self, actor: &ActorKey, op: &str, msg: &[u8]) -> Result<Vec<u8>, RpcError> {
        self.client().call(WasmCloudEntity::actor(actor), self.target(), op, msg.to_vec()).await
    }

    /// The lattice data bucket, created as a host creates it.
    async fn bucket(&self) -> async_nats::jetstream::kv::Store {
        let mut js = async_nats::jetstream::new(self.nats.clone());
        // A loaded CI machine can take longer than async-nats' 5 s JetStream default.
        js.set_timeout(Duration::from_secs(30));
        let bucket = lattice_control::storage::bucket_name(&self.lattice);
        // The one KV stream config hosts use.
        lattice_rpc::jetstream::open_kv(&js, &bucket, lattice_rpc::jetstream::Replicas::default()).await.unwrap()
    }

    /// Store `ld` in the lattice data bucket, as a host does before publishing a link.
    async fn store(&self, ld: &LinkDefinition) {
        let key = lattice_control::storage::linkdef_key_for(ld);
        self.bucket().await.put(key, lattice_control::storage::encode_linkdef(ld).into()).await.unwrap();
    }

    /// Delete `ld` from the lattice data bucket, as a host does before publishing a delete.
    async fn unstore(&self, ld: &LinkDefinition) {
        self.bucket().await.delete(lattice_control::storage::linkdef_key_for(ld)).await.unwrap();
    }

    async fn publish(&self, subject: String, payload: Vec<u8>) {
        self.nats.publish(subject, payload.into()).await.unwrap();
        self.nats.flush().await.unwrap();
    }

    /// Poll until `actor`'s calls are accepted (`true`) or refused as unlinked (`false`).
    async fn wait_link_state(&self, actor: &ActorKey, linked: bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self.call(actor, "Probe.Ok", b"").await;
            let ok = match &r {
                Ok(_) => linked,
                Err(RpcError::Rejected { kind, .. }) => !linked && kind == "not_linked",
                Err(_) => false,
            };
            if ok {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "link state never became {linked}: {r:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_unhealthy_with_its_message() {
    let env = Env::new().await;
    let probe = Arc::new(Probe::default());
    let (stop, task) = env.spawn(probe.clone(), Vec::new(), RunOptions::default());
    assert_eq!(env.health().await, HealthCheckResponse::healthy());
    probe.unhealthy.store(true, Ordering::SeqCst);
    let h = env.health().await;
    assert!(!h.healthy);
    assert_eq!(h.message.as_deref(), Some("disk on fire"));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_calls_actors_as_itself_signed_with_the_invocation_seed() {
    let env = Env::new().await;
    let actor = Env::actor();
    // The actor trusts only the lattice's cluster key: the provider must sign with it.
    let expected_origin = env.target();
    let expected_host = env.host.to_string();
    let seen = Arc::new(Mutex::new(None));
    let sink = seen.clone();
    let _actor = RpcServer::builder(
        env.nats.clone(),
        env.lattice.clone(),
        TrustedIssuers::new([env.cluster.public_key()]),
        Served::Actor(actor.clone()),
    )
    .start(handler_fn(move |req: Request| {
        let sink = sink.clone();
        async move {
            *sink.lock().unwrap() = Some((req.origin.clone(), req.host_id.clone(), req.operation.clone()));
            Ok([b"hello ".as_slice(), &req.msg].concat())
        }
    }))
    .await
    .unwrap();

    let probe = Arc::new(Probe::default());
    let (stop, task) = env.spawn(probe, vec![env.link(&actor, LINK, &[])], RunOptions::default());
    env.health().await;
    assert_eq!(env.call(&actor, "Probe.CallBack", b"world").await.unwrap(), b"hello world");
    let (origin, host_id, operation) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(origin, expected_origin);
    assert_eq!(host_id, expected_host);
    assert_eq!(operation, "Actor.Hello");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_link_table_filters_replaces_and_refuses() {
    let env = Env::new().await;
    let (a, b, c, d) = (Env::actor(), Env::actor(), Env::actor(), Env::actor());
    let probe = Arc::new(Probe::default());
    let initial = vec![
        env.link(&a, LINK, &[("v", "1")]),
        env.link(&b, "other", &[]),               // another link name: ignored
        env.link(&c, LINK, &[("refuse", "yes")]), // refused by the provider
    ];
    let (stop, task) = env.spawn(probe.clone(), initial, RunOptions::default());
    env.health().await;
    assert_eq!(probe.events(), [format!("put {a} 1")]);
    env.wait_link_state(&a, true).await;
    env.wait_link_state(&b, false).await;
    env.wait_link_state(&c, false).await;

    let put = env.subject(subject::linkdefs_put);
    let del = env.subject(subject::linkdefs_del);
    // Identical put: nothing happens. Changed values: the link is replaced. (A host stores
    // every link in the lattice data bucket before publishing it; so does this test.)
    env.publish(put.clone(), env.link(&a, LINK, &[("v", "1")]).encode()).await;
    env.store(&env.link(&a, LINK, &[("v", "2")])).await;
    env.publish(put.clone(), env.link(&a, LINK, &[("v", "2")]).encode()).await;
    // A new actor, then its removal.
    // Older hosts encode the link as a msgpack array (`rmp_serde::to_vec`): accepted too.
    env.store(&env.link(&d, LINK, &[])).await;
    env.publish(put.clone(), rmp_serde::to_vec(&env.link(&d, LINK, &[])).unwrap()).await;
    env.wait_link_state(&d, true).await;
    env.unstore(&env.link(&d, LINK, &[])).await;
    env.publish(del.clone(), env.link(&d, LINK, &[]).encode()).await;
    env.wait_link_state(&d, false).await;
    // A delete for another link name does not touch `a`.
    env.publish(del, env.link(&a, "other", &[]).encode()).await;
    env.wait_link_state(&a, true).await;

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        probe.events(),
        [
            format!("put {a} 1"),
            format!("del {a} 1"),
            format!("put {a} 2"),
            format!("put {d} "),
            format!("del {d} "),
            // Shutdown deletes what is left, then calls `shutdown`.
            format!("del {a} 2"),
            "shutdown".to_owned(),
        ]
    );
}

/// Attack (docs/SECURITY.md list (a)): link messages no host stored change nothing; real
/// ones (bucket first, as every host writes) still work; the link count is capped; a slow
/// link hook does not stop health answers.
#[tokio::test(flavor = "multi_thread")]
async fn only_stored_links_are_applied_and_links_are_capped() {
    let env = Env::new().await;
    let (forged, real, extra, slow) = (Env::actor(), Env::actor(), Env::actor(), Env::actor());
    let probe = Arc::new(Probe::default());
    let options = RunOptions { max_links: 2, link_confirm_wait: Duration::from_millis(100), ..RunOptions::default() };
    let (stop, task) = env.spawn(probe.clone(), Vec::new(), options);
    env.health().await;
    let put = env.subject(subject::linkdefs_put);
    let del = env.subject(subject::linkdefs_del);

    // A forged put, then a real one: link messages are handled in order, so once the real
    // one is applied the forged one has been looked at, and it was not applied.
    env.publish(put.clone(), env.link(&forged, LINK, &[]).encode()).await;
    env.store(&env.link(&real, LINK, &[("v", "1")])).await;
    env.publish(put.clone(), env.link(&real, LINK, &[("v", "1")]).encode()).await;
    env.wait_link_state(&real, true).await;
    // The same actor with values the bucket does not hold: not applied either.
    env.publish(put.clone(), env.link(&real, LINK, &[("v", "evil")]).encode()).await;
    // A forged delete of the real link: refused (the bucket still holds it).
    env.publish(del.clone(), env.link(&real, LINK, &[("v", "1")]).encode()).await;
    // Stored later than its put arrived, within the wait: applied (a slow write is not lost).
    env.publish(put.clone(), env.link(&extra, LINK, &[]).encode()).await;
    env.store(&env.link(&extra, LINK, &[])).await;
    env.wait_link_state(&extra, true).await;
    assert_eq!(probe.events(), [format!("put {real} 1"), format!("put {extra} ")]);
    env.wait_link_state(&forged, false).await;
    env.wait_link_state(&real, true).await;

    // The cap: a third stored link is refused while two are linked.
    env.store(&env.link(&slow, LINK, &[("block", "1")])).await;
    env.publish(put.clone(), env.link(&slow, LINK, &[("block", "1")]).encode()).await;
    // Replacing an existing link is not a new one: allowed at the cap. Puts are handled in
    // order, so once it shows, the slow put has been refused.
    env.store(&env.link(&real, LINK, &[("v", "2")])).await;
    env.publish(put.clone(), env.link(&real, LINK, &[("v", "2")]).encode()).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !probe.events().contains(&format!("put {real} 2")) {
        assert!(tokio::time::Instant::now() < deadline, "the replacing put was never applied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    env.unstore(&env.link(&extra, LINK, &[])).await;
    env.publish(del.clone(), env.link(&extra, LINK, &[]).encode()).await;
    env.wait_link_state(&extra, false).await;
    // Now there is room: the (still stored) slow link is applied on its next put, and its
    // hook blocks; health and calls of linked actors are still answered meanwhile.
    env.publish(put.clone(), env.link(&slow, LINK, &[("block", "1")]).encode()).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !probe.events().contains(&"put blocked".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the slow link was never applied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(env.health().await.healthy);
    env.wait_link_state(&real, true).await;
    probe.release.notify_one();
    env.wait_link_state(&slow, true).await;

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let events = probe.events();
    assert_eq!(
        &events[..7],
        [
            format!("put {real} 1"),
            format!("put {extra} "),
            format!("del {real} 1"),
            format!("put {real} 2"),
            format!("del {extra} "),
            "put blocked".to_owned(),
            format!("put {slow} "),
        ],
        "the first put of the slow link was refused by the cap: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_answers_at_once_then_drains_and_tears_down() {
    let env = Env::new().await;
    let actor = Env::actor();
    let probe = Arc::new(Probe::default());
    let (_stop, task) = env.spawn(probe.clone(), vec![env.link(&actor, LINK, &[])], RunOptions::default());
    env.health().await;

    let blocked = {
        let client = env.client();
        let (origin, target) = (WasmCloudEntity::actor(&actor), env.target());
        tokio::spawn(async move { client.call(origin, target, "Probe.Block", Vec::new()).await })
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !probe.events().contains(&"blocked".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Another host's request is ignored; ours is answered while the call is still running.
    let request = |host: String| lattice_proto::shutdown::ShutdownRequest { host_id: host }.encode();
    let other = tokio::time::timeout(
        Duration::from_millis(300),
        env.nats.request(env.subject(subject::shutdown), request(nkeys::KeyPair::new_server().public_key()).into()),
    )
    .await;
    assert!(other.is_err(), "no reply to another host's shutdown");
    let reply = env.nats.request(env.subject(subject::shutdown), request(env.host.to_string()).into()).await.unwrap();
    assert_eq!(&reply.payload[..], b"shutting down");
    assert!(!blocked.is_finished());
    assert!(!probe.events().contains(&"shutdown".to_owned()), "teardown waits for the in-flight call");

    probe.release.notify_one();
    assert_eq!(blocked.await.unwrap().unwrap(), b"released");
    task.await.unwrap().unwrap();
    let events = probe.events();
    assert_eq!(&events[events.len() - 2..], [format!("del {actor} "), "shutdown".to_owned()]);
    // Nobody serves the subject any more.
    let after = env.call(&actor, "Probe.Ok", b"").await;
    assert!(matches!(after, Err(RpcError::NoResponders { .. })), "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_running_past_the_grace_period_are_cancelled() {
    let env = Env::new().await;
    let actor = Env::actor();
    let probe = Arc::new(Probe::default());
    let options = RunOptions { shutdown_grace: Duration::from_millis(200), ..RunOptions::default() };
    let (stop, task) = env.spawn(probe.clone(), vec![env.link(&actor, LINK, &[])], options);
    env.health().await;
    let blocked = {
        let client = env.client();
        let (origin, target) = (WasmCloudEntity::actor(&actor), env.target());
        tokio::spawn(async move { client.call(origin, target, "Probe.Block", Vec::new()).await })
    };
    while !probe.events().contains(&"blocked".to_owned()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    let r = blocked.await.unwrap();
    assert!(matches!(&r, Err(RpcError::Remote(e)) if e.contains("shutting down")), "{r:?}");
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_failures_are_typed_with_exit_codes() {
    let env = Env::new().await;
    let probe = Arc::new(Probe { fail_init: true, ..Probe::default() });
    let (_stop, task) = env.spawn(probe, Vec::new(), RunOptions::default());
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(&e, ProviderError::Refused(r) if r == "not today"), "{e:?}");
    assert_eq!(e.exit_code(), 1);

    // Nothing listens on port 1.
    let mut raw = env.host_data(Vec::new()).raw().clone();
    raw.lattice_rpc_url = "nats://127.0.0.1:1".into();
    let hd = LoadedHostData::new(raw).unwrap();
    let e =
        serve(Shared(Arc::new(Probe::default())), hd, RunOptions::default(), std::future::pending()).await.unwrap_err();
    assert!(matches!(&e, ProviderError::Connect { url, .. } if url == "nats://127.0.0.1:1"), "{e:?}");
    assert_eq!(e.exit_code(), 3);

    // An empty URL means the 0.82 default address.
    let mut raw = env.host_data(Vec::new()).raw().clone();
    raw.lattice_rpc_url = String::new();
    assert_eq!(LoadedHostData::new(raw).unwrap().nats_url(), "nats://127.0.0.1:4222");
}
