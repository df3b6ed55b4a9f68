//! Load for the dashboard (issue 20, item 4): 200 entities and 5 000 calls per second on a
//! real nats-server running the least-privilege configuration of `lattice nats-config`, with
//! the dashboard's feed read by a fast and a slow client.
//!
//! ```sh
//! cargo build --release -p lattice-ui --example ui_load       # and `lattice` (debug is fine: it
//! cargo build -p lattice                                      # only writes the NATS config)
//! target/release/examples/ui_load --seconds 10 --rate 5000
//! ```
//!
//! - `lattice nats-config` (the `lattice` binary next to this one, else `target/debug`, or
//!   `--lattice-bin PATH`) writes the configuration and one seed per role, and a nats-server
//!   runs it (`--open`: an open server instead, for comparison);
//! - the dashboard (this crate's `Ui`, with the monitor verifying every invocation) logs in
//!   with the read-only **monitor role**, the one `lattice ui` uses, with reply prefixes
//!   `_INBOX` and `_R_`;
//! - a synthetic host (host role) announces 100 actors and 100 providers (a `host_heartbeat`
//!   every second, the inventory the dashboard shows) and answers the actors' calls; a
//!   synthetic provider process (provider role) answers the providers' calls;
//! - 200 edges of calls (provider i → actor i, sent with the provider role; actor i →
//!   provider i+1, sent by the host role as a host sends its actors' calls), each a real
//!   signed invocation (fresh id and claims) answered with an `InvocationResponse`, at
//!   `--rate` calls/s in total, from `--callers` concurrent callers (default 64);
//! - a **fast** SSE client measuring the feed lag (its clock minus the message's render
//!   time `t`) and a **slow** one that never reads (its updates must be dropped, counted,
//!   not queued).
//!
//! Prints one JSON line on stdout (the numbers, with the permission violations nats-server
//! logged: 0 when the roles allow what each side does) and a summary on stderr.

#![allow(clippy::unwrap_used, reason = "a benchmark: a panic is the report")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use lattice_control::events::EventName;
use lattice_control::types::{ActorDescription, ActorInstance, HostInventory, ProviderDescription};
use lattice_control::{CloudEvent, LatticeEvent, Timestamp};
use lattice_monitor::forge::Forge;
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, InvocationResponse, LatticeName, LinkName, ProviderKey, WasmCloudEntity,
};
use lattice_ui::{Ui, UiConfig};

struct Opts {
    seconds: u64,
    rate: u64,
    pairs: usize,
    callers: u64,
    lattice_bin: Option<PathBuf>,
    open: bool,
}

fn opts() -> Opts {
    let mut o = Opts { seconds: 10, rate: 5000, pairs: 100, callers: 64, lattice_bin: None, open: false };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--open" {
            o.open = true;
            continue;
        }
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--seconds" => o.seconds = value.parse().unwrap(),
            "--rate" => o.rate = value.parse().unwrap(),
            "--pairs" => o.pairs = value.parse().unwrap(),
            "--callers" => o.callers = value.parse::<u64>().unwrap().max(1),
            "--lattice-bin" => o.lattice_bin = Some(PathBuf::from(value)),
            other => panic!(
                "unknown argument {other} (--seconds N --rate R --pairs P --callers C --lattice-bin PATH --open)"
            ),
        }
    }
    o
}

/// The `lattice` binary: `--lattice-bin`, else next to this example's profile directory,
/// else `target/debug`.
fn lattice_bin(given: Option<PathBuf>) -> PathBuf {
    if let Some(path) = given {
        return path;
    }
    let exe = std::env::current_exe().unwrap();
    // target/{profile}/examples/ui_load → target/{profile}
    let profile = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let candidates = [profile.join("lattice"), profile.parent().unwrap().join("debug").join("lattice")];
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
        panic!("no lattice binary at {candidates:?}: build it (`cargo build -p lattice`) or pass --lattice-bin PATH")
    })
}

/// The lattice's NATS: a nats-server running `lattice nats-config`'s configuration, and the
/// seed of each role (none with `--open`).
struct Nats {
    server: lattice_test_support::NatsServer,
    seeds: HashMap<String, String>,
    _dir: Option<tempfile::TempDir>,
}

impl Nats {
    fn open() -> Self {
        Self { server: lattice_test_support::NatsServer::start(), seeds: HashMap::new(), _dir: None }
    }

    fn generated(lattice_bin: &Path, lattice: &LatticeName) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nats");
        let run = std::process::Command::new(lattice_bin)
            .args(["nats-config", "--lattice", lattice.as_str(), "--json", "--out"])
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", lattice_bin.display()));
        assert!(run.status.success(), "lattice nats-config failed: {}", String::from_utf8_lossy(&run.stderr));
        let mut seeds = HashMap::new();
        for line in String::from_utf8(run.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let (Some(role), Some(file)) = (v["role"].as_str(), v["seed_file"].as_str()) {
                seeds.insert(role.to_owned(), std::fs::read_to_string(file).unwrap().trim().to_owned());
            }
        }
        let config = std::fs::read_to_string(out.join("nats-server.conf")).unwrap();
        let server = lattice_test_support::NatsServer::builder().config(config).log_file(true).start();
        Self { server, seeds, _dir: Some(dir) }
    }

    /// A plain client logged in as `role` (anonymous on an open server).
    async fn client(&self, role: &str) -> async_nats::Client {
        let options = match self.seeds.get(role) {
            Some(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
            None => async_nats::ConnectOptions::new(),
        };
        options.name(format!("ui-load-{role}")).connect(self.server.url()).await.unwrap()
    }

    fn auth(&self, role: &str) -> lattice_rpc::NatsAuth {
        self.seeds.get(role).map_or(lattice_rpc::NatsAuth::None, |s| lattice_rpc::NatsAuth::NkeySeed(s.clone()))
    }

    /// Permission violations in the server's log (generated configuration only).
    fn violations(&self) -> Vec<String> {
        let Some(path) = self.server.log_path() else { return Vec::new() };
        let log = std::fs::read_to_string(path).unwrap_or_default();
        log.lines().filter(|l| l.contains("Violation")).map(str::to_owned).collect()
    }
}

/// Answer every invocation on `subject` with an `InvocationResponse`.
async fn respond(nats: async_nats::Client, subject: String) -> tokio::task::JoinHandle<()> {
    let mut sub = nats.subscribe(subject).await.unwrap();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let (Some(reply), Ok(inv)) = (msg.reply, Invocation::decode(&msg.payload)) else { continue };
            let response = InvocationResponse {
                msg: b"ok".to_vec(),
                invocation_id: inv.id,
                content_length: 2,
                ..Default::default()
            };
            let _ = nats.publish(reply, response.encode().into()).await;
        }
    })
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Lags of the feed messages a client received, in ms.
#[derive(Default)]
struct FeedReport {
    lags: Vec<u64>,
    bytes: u64,
    resets: u64,
}

/// Read `/api/feed` as SSE until `until`; record each message's lag.
async fn read_feed(addr: std::net::SocketAddr, until: Instant) -> FeedReport {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/api/feed")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut body = send.send_request(req).await.unwrap().into_body();
    let mut report = FeedReport::default();
    let mut buf = Vec::new();
    while let Ok(Some(frame)) = tokio::time::timeout_at(until.into(), body.frame()).await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else { continue };
        report.bytes += data.len() as u64;
        buf.extend_from_slice(&data);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            for line in event.split(|b| *b == b'\n') {
                if let Some(json) = line.strip_prefix(b"data: ").or_else(|| line.strip_prefix(b"data:")) {
                    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
                    report.lags.push(unix_ms().saturating_sub(v["t"].as_u64().unwrap()));
                    report.resets += u64::from(v["reset"] == true);
                }
            }
        }
    }
    report
}

/// A client that opens the feed with a tiny receive buffer and never reads it.
async fn stalled_feed(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(format!("GET /api/feed HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    stream
}

/// `GET /api/state`: the dashboard's whole picture.
async fn api_state(addr: std::net::SocketAddr) -> serde_json::Value {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/api/state")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let body = send.send_request(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let o = opts();
    let lattice = LatticeName::new("default").unwrap();
    let seed = ClusterSeed::generate();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let actors: Vec<ActorKey> =
        (0..o.pairs).map(|_| ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()).collect();
    let providers: Vec<ProviderKey> =
        (0..o.pairs).map(|_| ProviderKey::parse(&nkeys::KeyPair::new_service().public_key()).unwrap()).collect();
    let link = LinkName::new("default").unwrap();
    let nats = if o.open { Nats::open() } else { Nats::generated(&lattice_bin(o.lattice_bin.clone()), &lattice) };
    let url = nats.server.url();

    // The dashboard, with the monitor role (as `lattice ui --nkey-seed-file monitor.nk
    // --reply-prefix _INBOX --reply-prefix _R_`).
    let conn = lattice_rpc::NatsOptions::new(&url)
        .auth(nats.auth("monitor"))
        .name("lattice-ui")
        .subscription_capacity(lattice_monitor::nats::SUBSCRIPTION_CAPACITY)
        .connect()
        .await
        .unwrap();
    let mut config = UiConfig::new(lattice.clone());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.issuers = vec![seed.public_key().clone()];
    config.reply_prefixes = lattice_monitor::ReplyPrefixes::parse(&["_INBOX", "_R_"]).unwrap();
    let ui = Ui::start(conn, config).await.unwrap();
    let addr = ui.addr();

    // The synthetic host (host role) and provider process (provider role).
    let host_nats = nats.client("host").await;
    let provider_nats = nats.client("provider").await;
    // The synthetic host's heartbeat: 100 actors, 100 providers.
    let inventory = HostInventory {
        host_id: host.to_string(),
        friendly_name: "load-host".into(),
        actors: actors
            .iter()
            .enumerate()
            .map(|(i, a)| ActorDescription {
                id: a.to_string(),
                name: Some(format!("actor-{i:03}")),
                instances: vec![ActorInstance { max_instances: 1, ..Default::default() }],
                ..Default::default()
            })
            .collect(),
        providers: providers
            .iter()
            .enumerate()
            .map(|(i, p)| ProviderDescription {
                id: p.to_string(),
                name: Some(format!("provider-{i:03}")),
                contract_id: "lattice:load".into(),
                link_name: "default".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let hb_nats = host_nats.clone();
    let hb_subject = lattice_control::subjects::event(&lattice, EventName::HostHeartbeat);
    let hb_host = host.clone();
    let heartbeat = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let ev = CloudEvent::new(
                &hb_host,
                uuid::Uuid::new_v4(),
                &Timestamp::from_system_time(SystemTime::now()),
                &LatticeEvent::HostHeartbeat(inventory.clone()),
            );
            let _ = hb_nats.publish(hb_subject.clone(), ev.to_json().into()).await;
        }
    });

    // The responders: the host answers its actors' calls, the provider process its own.
    let rpc = lattice_proto::subject::rpc_wildcard(&lattice).into_string();
    let prefix = rpc.trim_end_matches('>');
    let actor_responder = respond(host_nats.clone(), format!("{prefix}*")).await;
    let provider_responder = respond(provider_nats.clone(), format!("{prefix}*.*")).await;
    host_nats.flush().await.unwrap();
    provider_nats.flush().await.unwrap();

    // The dashboard has seen the host's inventory (readiness, not a sleep).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = api_state(addr).await;
        let entities = state["upsert"]["actors"].as_object().map_or(0, |m| m.len())
            + state["upsert"]["providers"].as_object().map_or(0, |m| m.len());
        if entities == 2 * o.pairs {
            break;
        }
        assert!(Instant::now() < deadline, "the dashboard never showed the {} entities: {state}", 2 * o.pairs);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The feed clients.
    let run = Duration::from_secs(o.seconds);
    let until = Instant::now() + run + Duration::from_secs(1);
    let fast = tokio::spawn(read_feed(addr, until));
    let _stalled = stalled_feed(addr).await;

    // The callers: `--callers` tasks, each its share of the rate, round-robin over the 200
    // edges; calls to actors go out on the provider role's connection, calls to providers
    // on the host role's (a host sends its actors' calls).
    let edges: Arc<Vec<(WasmCloudEntity, WasmCloudEntity, String)>> = Arc::new(
        (0..o.pairs)
            .flat_map(|i| {
                let p = WasmCloudEntity::provider(&providers[i], &link, "lattice:load");
                let a = WasmCloudEntity::actor(&actors[i]);
                let next = WasmCloudEntity::provider(&providers[(i + 1) % o.pairs], &link, "lattice:load");
                let to_actor = lattice_proto::subject::actor_rpc(&lattice, &actors[i]).into_string();
                let to_provider =
                    lattice_proto::subject::provider_rpc(&lattice, &providers[(i + 1) % o.pairs], &link).into_string();
                [(p, a.clone(), to_actor), (a, next, to_provider)]
            })
            .collect(),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks = o.callers;
    let per_task = (o.rate as f64 / tasks as f64).max(0.1);
    let stop_at = Instant::now() + run;
    let started = Instant::now();
    let mut callers = Vec::new();
    for t in 0..tasks {
        let (host_nats, provider_nats, edges, seed, host, sent, failed) = (
            host_nats.clone(),
            provider_nats.clone(),
            edges.clone(),
            seed.clone(),
            host.clone(),
            sent.clone(),
            failed.clone(),
        );
        callers.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / per_task));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = t as usize;
            while Instant::now() < stop_at {
                every.tick().await;
                let (origin, target, subject) = &edges[n % edges.len()];
                n += tasks as usize;
                let forge = Forge {
                    seed: seed.clone(),
                    host: host.clone(),
                    origin: origin.clone(),
                    target: target.clone(),
                    operation: "Load.Call".into(),
                };
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
                let inv = forge.genuine(&uuid::Uuid::new_v4().to_string(), b"hello", now);
                let nats = if target.public_key.starts_with('M') { &provider_nats } else { &host_nats };
                match nats.request(subject.clone(), inv.encode().into()).await {
                    Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for c in callers {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();
    let fast = fast.await.unwrap();
    let calls = sent.load(Ordering::Relaxed);
    // The dashboard counts the last replies a moment after they arrive (up to 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ui.calls_seen() < calls && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = ui.calls_seen();
    let state = api_state(addr).await;
    let stats = &state["stats"];
    let entities = state["upsert"]["actors"].as_object().map_or(0, |m| m.len())
        + state["upsert"]["providers"].as_object().map_or(0, |m| m.len());
    let edges_shown = state["upsert"]["edges"].as_object().map_or(0, |m| m.len());
    let mut lags = fast.lags.clone();
    lags.sort_unstable();
    let rps = calls as f64 / elapsed.as_secs_f64();
    let violations = nats.violations();
    for v in &violations {
        eprintln!("nats-server: {v}");
    }
    let out = serde_json::json!({
        "seconds": elapsed.as_secs_f64(), "calls": calls, "calls_failed": failed.load(Ordering::Relaxed),
        "calls_rps": rps.round(), "entities": entities, "edges": edges_shown,
        "ui_calls_counted": seen, "feed_messages": lags.len(), "feed_bytes": fast.bytes,
        "feed_lag_p50_ms": quantile(&lags, 0.5), "feed_lag_p99_ms": quantile(&lags, 0.99),
        "feed_lag_max_ms": lags.last().copied().unwrap_or(0), "fast_client_resets": fast.resets,
        "dropped_updates": stats["dropped_updates"], "slow_consumer": stats["slow_consumer"],
        "alerts": stats["alerts_total"], "callers": o.callers,
        "nats": if o.open { "open" } else { "lattice nats-config (dashboard: monitor role)" },
        "permission_violations": violations.len(),
    });
    println!("{out}");
    eprintln!(
        "{calls} calls in {:.1} s ({rps:.0}/s) over {edges_shown} edges, {entities} entities; the dashboard counted {seen}; \
         feed: {} messages, lag p50 {} ms p99 {} ms max {} ms; dropped updates (slow client) {}; slow consumer {}; \
         permission violations {}",
        elapsed.as_secs_f64(),
        lags.len(),
        quantile(&lags, 0.5),
        quantile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        stats["dropped_updates"],
        stats["slow_consumer"],
        violations.len(),
    );
    heartbeat.abort();
    actor_responder.abort();
    provider_responder.abort();
    ui.stop().await;
}
