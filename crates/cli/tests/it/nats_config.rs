//! `lattice nats-config` against real processes: a nats-server started with the generated
//! configuration runs the whole demo (`lattice up` with the demo manifest, the HTTP and
//! key-value providers, every verb with its role's seed), and each side door a caller could
//! use is tried from the caller identity — forged `.shutdown`, control commands, bucket
//! writes, queue-group joins, and the three JetStream delivery tricks — and shown refused,
//! each next to a positive control: the same message from a role that may send it arrives.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{Client, Event};
use futures::StreamExt;
use lattice_proto::ClusterSeed;
use lattice_test_support::NatsServer;

use super::lattice;
use super::monitor::Watcher;
use super::up::{Up, counter_of, http_get};

const LATTICE: &str = "default";
/// How long a refused message gets to show up anyway (after the positive control arrived).
const GRACE: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(10);
/// How long a refused request waits for an answer that must not come.
const NO_ANSWER: Duration = Duration::from_secs(2);

/// The generated files and a server started with them.
struct Generated {
    dir: tempfile::TempDir,
    server: NatsServer,
}

impl Generated {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nats");
        let run = lattice(&["nats-config", "--lattice", LATTICE, "--out", out.to_str().unwrap(), "--json"], b"");
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(run.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        for role in ["host", "provider", "caller", "monitor", "control"] {
            let line = lines.iter().find(|l| l["role"] == role).unwrap();
            assert!(line["public_key"].as_str().unwrap().starts_with('U'));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(line["seed_file"].as_str().unwrap()).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{role}");
            }
        }
        let config = std::fs::read_to_string(out.join("nats-server.conf")).unwrap();
        let server = NatsServer::builder().config(config).log_file(true).start();
        Self { dir, server }
    }

    fn seed(&self, role: &str) -> PathBuf {
        self.dir.path().join("nats").join(format!("{role}.nk"))
    }

    fn seed_arg(&self, role: &str) -> String {
        self.seed(role).to_str().unwrap().to_owned()
    }

    /// Permission violations in the server's log, by `needle` (a subject or user).
    fn violations(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.server.log_path().unwrap()).unwrap_or_default();
        log.lines().filter(|l| l.contains("Violation")).map(str::to_owned).collect()
    }
}

/// A connection with one role's seed, recording the server's errors (permission violations).
struct Conn {
    client: Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Conn {
    async fn open(url: &str, seed: &Path) -> Self {
        let seed = std::fs::read_to_string(seed).unwrap().trim().to_owned();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client = async_nats::ConnectOptions::with_nkey(seed)
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let Event::ServerError(e) = event {
                        sink.lock().unwrap().push(e.to_string().to_lowercase());
                    }
                }
            })
            .connect(url)
            .await
            .unwrap();
        Self { client, errors }
    }

    /// Wait until the server reported a permissions violation naming `subject`.
    async fn refused(&self, subject: &str) {
        let needle = subject.to_lowercase();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.errors.lock().unwrap().iter().any(|e| e.contains("permissions violation") && e.contains(&needle)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no permissions violation for {subject}; errors: {:?}", self.errors.lock().unwrap());
    }
}

/// A subscriber standing in for the receiver of `subject`.
struct Witness {
    sub: async_nats::Subscriber,
}

impl Witness {
    async fn on(conn: &Conn, subject: &str) -> Self {
        let sub = conn.client.subscribe(subject.to_owned()).await.unwrap();
        conn.client.flush().await.unwrap();
        // Make sure the server registered the subscription before anyone publishes.
        lattice_rpc::barrier::round_trip(&conn.client).await.unwrap();
        Self { sub }
    }

    /// Everything that arrives until a message containing `control` does (it must, within
    /// [`WAIT`]), and then for [`GRACE`]. The refused message must not be among them.
    async fn until(&mut self, control: &[u8]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg =
                tokio::time::timeout_at(deadline, self.sub.next()).await.expect("the positive control never arrived");
            let payload = msg.unwrap().payload.to_vec();
            let done = payload.windows(control.len()).any(|w| w == control);
            got.push(payload);
            if done {
                break;
            }
        }
        while let Ok(Some(msg)) = tokio::time::timeout(GRACE, self.sub.next()).await {
            got.push(msg.payload.to_vec());
        }
        got
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The demo on a server running the generated config, every part with its own role.
struct Demo {
    // Fields drop in order: the host (and its providers) before the server.
    up: Up,
    generated: Generated,
    _state: tempfile::TempDir,
    http: String,
    seed: ClusterSeed,
}

impl Demo {
    fn start() -> Self {
        let generated = Generated::start();
        let state = tempfile::tempdir().unwrap();
        let seed = ClusterSeed::generate();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo.toml");
        let url = generated.server.url();
        let (host, provider) = (generated.seed_arg("host"), generated.seed_arg("provider"));
        let mut up = Up::spawn(
            &[
                "--manifest",
                manifest.to_str().unwrap(),
                "--nats-url",
                &url,
                "--http-port",
                "0",
                "--cluster-seed",
                &seed.seed(),
                "--nkey-seed-file",
                &host,
                "--provider-nkey-seed-file",
                &provider,
            ],
            state.path(),
        );
        let line = up.wait_for("http listener started");
        let http = line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        up.wait_ready();
        up.wait_for_all(&["[kv default]", "actor linked"]);
        Self { up, generated, _state: state, http, seed }
    }

    fn url(&self) -> String {
        self.generated.server.url()
    }

    fn key(&mut self, what: &str) -> String {
        self.up.wait_for(&format!("lattice: {what} is ")).rsplit(' ').next().unwrap().to_owned()
    }

    fn host_key(&mut self) -> String {
        let line = self.up.wait_for("lattice: host N");
        line.split_whitespace().nth(2).unwrap().to_owned()
    }

    async fn conn(&self, role: &str) -> Conn {
        Conn::open(&self.url(), &self.generated.seed(role)).await
    }

    /// One HTTP request through the demo: the counter it answers.
    fn count(&self) -> i64 {
        let (status, body) = http_get(&self.http);
        assert_eq!(status, 200, "{body}");
        counter_of(&body)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn the_generated_config_runs_the_whole_demo() {
    let mut demo = Demo::start();
    let first = demo.count();
    assert_eq!(demo.count(), first + 1);
    let url = demo.url();
    let actor = demo.key("actor counter");

    // Control verbs with the control role.
    let control = demo.generated.seed_arg("control");
    let links = lattice(&["get", "links", "--json", "--nats-url", &url, "--nkey-seed-file", &control], b"");
    assert!(links.status.success(), "{}", String::from_utf8_lossy(&links.stderr));
    assert_eq!(String::from_utf8(links.stdout).unwrap().lines().count(), 2);
    let hosts = lattice(&["get", "hosts", "--json", "--nats-url", &url, "--nkey-seed-file", &control], b"");
    assert!(hosts.status.success(), "{}", String::from_utf8_lossy(&hosts.stderr));
    // The caller role calls the actor through the callers' account.
    let caller = demo.generated.seed_arg("caller");
    let seed = demo.seed.seed();
    let call = lattice(
        &[
            "call",
            &actor,
            "HttpServer.HandleRequest",
            "--http",
            "--json",
            "--cluster-seed",
            &seed,
            "--nats-url",
            &url,
            "--nkey-seed-file",
            &caller,
        ],
        b"",
    );
    assert!(call.status.success(), "{}", String::from_utf8_lossy(&call.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&call.stdout).unwrap();
    assert_eq!(counter_of(reply["reply"].as_str().unwrap()), first + 2, "{reply}");
    // The control role cannot call actors, the caller role cannot drive the control plane.
    let wrong = lattice(&["get", "links", "--nats-url", &url, "--nkey-seed-file", &caller], b"");
    assert!(!wrong.status.success());
    let none = lattice(&["get", "hosts", "--json", "--nats-url", &url, "--nkey-seed-file", &caller], b"");
    assert!(none.stdout.is_empty(), "{}", String::from_utf8_lossy(&none.stdout));
    // No identity, no entry.
    let anonymous = lattice(&["get", "hosts", "--nats-url", &url], b"");
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("error:"));
    assert_eq!(demo.count(), first + 3);
    // The monitor with the monitor role: it sees the caller's calls (through the callers'
    // account) and alerts on a forged one, publishing the alert on its subject.
    let monitor_seed = demo.generated.seed_arg("monitor");
    let issuer = demo.seed.public_key().to_string();
    let mut monitor = Watcher::spawn(&[
        "monitor",
        "--issuer",
        &issuer,
        "--json",
        "--nats-url",
        &url,
        "--nkey-seed-file",
        &monitor_seed,
        "--reply-prefix",
        "_INBOX",
        "--reply-prefix",
        "_R_",
    ]);
    monitor.wait_stderr("listening on", WAIT);
    runtime().block_on(async {
        let caller = demo.conn("caller").await;
        caller.client.publish(format!("wasmbus.rpc.{LATTICE}.{actor}"), "forged".into()).await.unwrap();
        caller.client.flush().await.unwrap();
    });
    let alert: serde_json::Value = serde_json::from_str(&monitor.stdout_lines(1, WAIT)[0]).unwrap();
    assert_eq!(alert["kind"], "malformed", "{alert}");
    assert_eq!(demo.count(), first + 4);
    drop(monitor);

    // The dashboard with the same monitor role: it queries hosts, inventories and links,
    // and pairs the calls it sees — the caller's answers on `_R_` too (`--reply-prefix`).
    let mut ui = Watcher::spawn(&[
        "ui",
        "--issuer",
        &issuer,
        "--json",
        "--addr",
        "127.0.0.1:0",
        "--window",
        "120",
        "--interval-ms",
        "100",
        "--refresh",
        "1",
        "--nats-url",
        &url,
        "--nkey-seed-file",
        &monitor_seed,
        "--reply-prefix",
        "_INBOX",
        "--reply-prefix",
        "_R_",
    ]);
    let line: serde_json::Value = serde_json::from_str(&ui.stdout_lines(1, WAIT)[0]).unwrap();
    let ui_addr: std::net::SocketAddr =
        line["url"].as_str().unwrap().trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    ui.wait_stderr("lattice ui: serving", WAIT);
    assert_eq!(demo.count(), first + 5);
    let call = lattice(
        &[
            "call",
            &actor,
            "HttpServer.HandleRequest",
            "--http",
            "--cluster-seed",
            &seed,
            "--nats-url",
            &url,
            "--nkey-seed-file",
            &caller,
        ],
        b"",
    );
    assert!(call.status.success(), "{}", String::from_utf8_lossy(&call.stderr));
    let state = ui_state_until(ui_addr, |s| {
        let section = |name: &str| s["upsert"][name].as_object().cloned().unwrap_or_default();
        let edges = section("edges");
        let edge = |want: &dyn Fn(&str, &str) -> bool| {
            edges.values().any(|e| {
                want(e["from"].as_str().unwrap_or(""), e["to"].as_str().unwrap_or(""))
                    && e["calls"].as_u64().unwrap_or(0) >= 1
                    && e["p50_ms"].is_number()
            })
        };
        section("hosts").values().any(|h| h["state"] == "up")
            && section("actors").values().any(|a| a["id"] == actor.as_str())
            && section("providers").len() == 2
            && section("links").len() == 2
            // HTTP server provider → counter, counter → key-value provider (answered on _INBOX)
            && edge(&|from, to| from.starts_with('V') && to == actor)
            && edge(&|from, to| from == actor && to.starts_with('V'))
            // the caller's call (origin = target), answered on _R_ in the lattice's account
            && edge(&|from, to| from == actor && to == actor)
    });
    assert_eq!(state["stats"]["nats_connected"], true, "{state}");
    drop(ui);
    // Legitimate traffic tripped no permission: only the deliberate wrong-role attempt did.
    let violations = demo.generated.violations();
    assert!(violations.iter().all(|l| l.contains("lattice-get")), "{violations:#?}");
    demo.up.stop();
}

/// Every attack of docs/SECURITY.md list (b), from the caller identity, with a positive
/// control per attack; the demo keeps serving throughout.
#[test]
fn a_caller_gets_through_none_of_the_side_doors() {
    let mut demo = Demo::start();
    let before = demo.count();
    let (actor, kv) = (demo.key("actor counter"), demo.key("provider kv"));
    let host = demo.host_key();
    let fake_provider = nkeys::KeyPair::new_service().public_key();
    let fake_host = nkeys::KeyPair::new_server().public_key();
    let rt = runtime();
    rt.block_on(async {
        let caller = demo.conn("caller").await;
        let provider = demo.conn("provider").await;
        let host_role = demo.conn("host").await;
        let control = demo.conn("control").await;
        let monitor = demo.conn("monitor").await;

        // 1. Forged `.shutdown` (and link puts) to a provider: refused for the caller; the
        //    host role's arrives (at a stand-in provider: the provider role's subscription).
        for suffix in ["shutdown", "linkdefs.put"] {
            let target = format!("wasmbus.rpc.{LATTICE}.{fake_provider}.default.{suffix}");
            let mut witness = Witness::on(&provider, &target).await;
            caller.client.publish(target.clone(), "forged".into()).await.unwrap();
            caller.refused(&target).await;
            host_role.client.publish(target.clone(), "control".into()).await.unwrap();
            let got = witness.until(b"control").await;
            assert!(!got.iter().any(|m| contains(m, b"forged")), "{suffix}: {got:?}");
        }
        // … and against the real key-value provider: refused, and it keeps serving.
        let real = format!("wasmbus.rpc.{LATTICE}.{kv}.default.shutdown");
        caller.client.publish(real.clone(), format!("{{\"host_id\":\"{host}\"}}").into()).await.unwrap();
        caller.refused(&real).await;

        // 2. Control commands: refused for the caller; the control role's arrive, and the
        //    real host answers the control role's ping only.
        let target = format!("wasmbus.ctl.{LATTICE}.cmd.{fake_host}.sp");
        let mut witness = Witness::on(&host_role, &format!("wasmbus.ctl.{LATTICE}.cmd.{fake_host}.*")).await;
        caller.client.publish(target.clone(), "forged".into()).await.unwrap();
        caller.refused(&target).await;
        control.client.publish(target.clone(), "control".into()).await.unwrap();
        let got = witness.until(b"control").await;
        assert!(!got.iter().any(|m| contains(m, b"forged")), "{got:?}");
        let ping = format!("wasmbus.ctl.{LATTICE}.ping.hosts");
        let answer = control.client.request(ping.clone(), "".into()).await.unwrap();
        assert!(contains(&answer.payload, host.as_bytes()));
        let unanswered = tokio::time::timeout(NO_ANSWER, caller.client.request(ping.clone(), "".into())).await;
        assert!(!matches!(unanswered, Ok(Ok(_))), "the caller's ping was answered");
        caller.refused(&ping).await;

        // 3. Bucket writes: the lattice data (links, claims) only from the host role.
        let js = async_nats::jetstream::new(host_role.client.clone());
        let data = js.get_key_value(format!("LATTICEDATA_{LATTICE}")).await.unwrap();
        for (who, conn) in [("caller", &caller), ("provider", &provider)] {
            let subject = format!("$KV.LATTICEDATA_{LATTICE}.TEST_{who}");
            conn.client.publish(subject.clone(), "forged".into()).await.unwrap();
            conn.refused(&subject).await;
        }
        // A JetStream API call from the caller gets no answer at all.
        let info = format!("$JS.API.STREAM.INFO.KV_LATTICEDATA_{LATTICE}");
        let unanswered = tokio::time::timeout(NO_ANSWER, caller.client.request(info.clone(), "".into())).await;
        assert!(!matches!(unanswered, Ok(Ok(_))), "the caller's JetStream request was answered");
        caller.refused(&info).await;
        data.put("TEST_host", "control".into()).await.unwrap();
        assert_eq!(data.get("TEST_host").await.unwrap().unwrap().as_ref(), b"control");
        for who in ["caller", "provider"] {
            assert!(data.get(format!("TEST_{who}")).await.unwrap().is_none(), "{who} wrote the lattice data");
        }
        data.delete("TEST_host").await.unwrap();

        // 4. Queue-group joins: a caller (or the monitor) joining the actor's queue group
        //    would answer a share of its calls. Refused; the monitor's plain subscription
        //    (the positive control) sees every call; the host keeps serving all of them.
        let actor_subject = format!("wasmbus.rpc.{LATTICE}.{actor}");
        let provider_subject = format!("wasmbus.rpc.{LATTICE}.{kv}.default");
        let mut stolen = Vec::new();
        for conn in [&caller, &monitor] {
            stolen.push(conn.client.queue_subscribe(actor_subject.clone(), actor_subject.clone()).await.unwrap());
            conn.refused(&actor_subject).await;
            stolen.push(conn.client.queue_subscribe(provider_subject.clone(), "rpc".into()).await.unwrap());
            conn.refused(&provider_subject).await;
        }
        // (The monitor role may not publish, so no round trip through its inbox: its
        // subscription is in effect by the time the first of the ten calls below is made,
        // which follows another full HTTP call.)
        let mut watching = monitor.client.subscribe(actor_subject.clone()).await.unwrap();
        monitor.client.flush().await.unwrap();
        let start = tokio::task::block_in_place(|| demo.count());
        for i in 1..=10 {
            assert_eq!(tokio::task::block_in_place(|| demo.count()), start + i);
        }
        for _ in 0..10 {
            tokio::time::timeout(WAIT, watching.next()).await.expect("the monitor sees every call");
        }
        for mut sub in stolen {
            assert!(tokio::time::timeout(GRACE, sub.next()).await.map_or(true, |m| m.is_none()));
        }

        // 5. The JetStream delivery tricks: bytes a role may store, delivered by JetStream
        //    to a subject it may not publish on. The caller has no JetStream at all; the
        //    provider role (positive control: the trick is real) does, which is why it is
        //    a trusted role (docs/SECURITY.md).
        let target = format!("wasmbus.rpc.{LATTICE}.{fake_provider}.default.linkdefs.put");
        let mut witness = Witness::on(&provider, &target).await;
        let bucket = format!("kv_{actor}");
        let key_subject = format!("$KV.{bucket}.trick");
        js_publish(&provider.client, &key_subject, "control-a").await;
        // (a) a direct get (and a leader get) with the target as reply subject.
        let direct = format!("$JS.API.DIRECT.GET.KV_{bucket}.{key_subject}");
        let msg_get = format!("$JS.API.STREAM.MSG.GET.KV_{bucket}");
        let by_subject = format!("{{\"last_by_subj\":\"{key_subject}\"}}");
        caller.client.publish_with_reply(direct.clone(), target.clone(), "".into()).await.unwrap();
        caller.refused(&direct).await;
        caller.client.publish_with_reply(msg_get.clone(), target.clone(), by_subject.clone().into()).await.unwrap();
        caller.refused(&msg_get).await;
        provider.client.publish_with_reply(direct.clone(), target.clone(), "".into()).await.unwrap();
        let got = witness.until(b"control-a").await;
        assert_eq!(got.len(), 1, "{got:?}");
        // (b) a push consumer delivering to the target.
        let create = format!("$JS.API.CONSUMER.CREATE.KV_{bucket}");
        let consumer = |name: &str| {
            format!(
                r#"{{"stream_name":"KV_{bucket}","config":{{"name":"{name}","deliver_subject":"{target}","filter_subject":"{key_subject}","deliver_policy":"last","ack_policy":"none"}}}}"#
            )
        };
        caller.client.publish(create.clone(), consumer("forged").into()).await.unwrap();
        caller.refused(&create).await;
        let reply = provider.client.request(create.clone(), consumer("control").into()).await.unwrap();
        assert!(!contains(&reply.payload, b"\"error\""), "{}", String::from_utf8_lossy(&reply.payload));
        let got = witness.until(b"control-a").await;
        assert_eq!(got.len(), 1, "{got:?}");
        // (c) a stream republishing what it stores to the target.
        let stream = format!("kv_trick_{}", std::process::id());
        let stored = format!("$KV.{stream}.x");
        let config = format!(
            r#"{{"name":"KV_{stream}","subjects":["$KV.{stream}.>"],"storage":"memory","republish":{{"src":"{stored}","dest":"{target}"}}}}"#
        );
        let create = format!("$JS.API.STREAM.CREATE.KV_{stream}");
        caller.client.publish(create.clone(), config.clone().into()).await.unwrap();
        caller.refused(&create).await;
        caller.client.publish(stored.clone(), "forged".into()).await.unwrap();
        caller.refused(&stored).await;
        let reply = provider.client.request(create.clone(), config.into()).await.unwrap();
        assert!(!contains(&reply.payload, b"\"error\""), "{}", String::from_utf8_lossy(&reply.payload));
        js_publish(&provider.client, &stored, "control-c").await;
        let got = witness.until(b"control-c").await;
        assert!(!got.iter().any(|m| contains(m, b"forged")), "{got:?}");
        // (a') A reply subject through an RPC server: the caller's reply subjects live in
        //      its own account, so the server's answer never reaches the target; the host
        //      role's does (every RPC server answers, even garbage).
        caller.client.publish_with_reply(actor_subject.clone(), target.clone(), "forged".into()).await.unwrap();
        host_role.client.publish_with_reply(actor_subject.clone(), target.clone(), "control".into()).await.unwrap();
        let got = witness.until(b"malformed").await;
        assert_eq!(got.len(), 1, "exactly the host role's answer: {got:?}");
    });
    // The demo kept serving, and the real key-value provider never got the forged shutdown.
    assert!(demo.count() > before + 10);
    let log = demo.up.log();
    assert!(!log.iter().any(|l| l.contains("shutdown requested by the host") || l.contains("restarting")), "{log:#?}");
    demo.up.stop();
}

/// Publish to a JetStream subject and wait for the stream's ack.
async fn js_publish(client: &Client, subject: &str, payload: &'static str) {
    let js = async_nats::jetstream::new(client.clone());
    js.publish(subject.to_owned(), payload.into()).await.unwrap().await.unwrap();
}

#[test]
fn seeds_are_kept_across_runs_and_bad_seed_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nats");
    let out_arg = out.to_str().unwrap();
    let keys = |run: std::process::Output| -> Vec<String> {
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let text = String::from_utf8(run.stdout).unwrap();
        text.lines()
            .filter_map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["public_key"].as_str().map(str::to_owned)
            })
            .collect()
    };
    let first = keys(lattice(&["nats-config", "--lattice", "prod", "--out", out_arg, "--json"], b""));
    let second = keys(lattice(&["nats-config", "--lattice", "prod", "--out", out_arg, "--json"], b""));
    assert_eq!(first.len(), 5);
    assert_eq!(first, second, "a second run keeps the seeds");
    // A seed file that is not a user seed: nats-config and every verb refuse it (exit 2).
    std::fs::write(out.join("monitor.nk"), nkeys::KeyPair::new_server().seed().unwrap()).unwrap();
    let run = lattice(&["nats-config", "--lattice", "prod", "--out", out_arg], b"");
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    let bad = out.join("monitor.nk");
    let run =
        lattice(&["get", "hosts", "--nats-url", "nats://127.0.0.1:1", "--nkey-seed-file", bad.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a NATS user seed"));
    // The roles printed for the docs are the ones docs/SECURITY.md shows.
    let md = lattice(&["nats-config", "--lattice", "{lattice}", "--markdown"], b"");
    assert!(md.status.success());
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SECURITY.md")).unwrap();
    assert!(doc.contains(&String::from_utf8(md.stdout).unwrap()));
}

/// `lattice up --nkey-seed-file` alone: the host never hands its own seed to providers (they
/// get no identity and are refused), and `--demo` does not start an open nats-server next to
/// the locked one it found.
#[test]
fn the_host_seed_is_never_handed_to_providers() {
    let generated = Generated::start();
    let state = tempfile::tempdir().unwrap();
    let host = generated.seed_arg("host");
    let url = generated.server.url();
    let mut up =
        Up::spawn(&["--demo", "--nats-url", &url, "--http-port", "0", "--nkey-seed-file", &host], state.path());
    up.wait_for("providers get no NATS identity");
    // The providers try without credentials and are turned away.
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = generated.server.log_path().unwrap();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| l.contains("lattice-provider") && l.contains("authentication error")) {
            break;
        }
        assert!(Instant::now() < deadline, "no provider was refused; server log:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = up.log();
    assert!(!lines.iter().any(|l| l.contains("starting one")), "{lines:#?}");
    // The host itself is in, with its role.
    assert!(lines.iter().any(|l| l.contains(&format!("NATS {url}"))), "{lines:#?}");
}

/// Poll `lattice ui`'s `/api/state` (the whole picture, as the page gets it) until `done`
/// holds; panic with the last state after 30 s.
fn ui_state_until(addr: std::net::SocketAddr, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        let (status, body) = super::monitor::http_get(addr, "/api/state");
        assert!(status.contains("200"), "{status}: {body}");
        last = serde_json::from_str(&body).unwrap();
        if done(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the dashboard never showed the demo under the monitor role; last state: {last:#}");
}
