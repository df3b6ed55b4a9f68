//! Load for the dashboard (issue 20, item 4): 200 entities and thousands of calls per second
//! on a real nats-server, with the dashboard's feed read by a fast and a slow client.
//!
//! ```sh
//! cargo run --release -p lattice-ui --example ui_load -- --seconds 10 --rate 5000
//! ```
//!
//! - a synthetic host announces 100 actors and 100 providers (a `host_heartbeat` every
//!   second, the inventory the dashboard shows);
//! - 200 edges of calls (provider i → actor i, actor i → provider i+1), each a real signed
//!   invocation (fresh id and claims) answered by a responder with an `InvocationResponse`,
//!   at `--rate` calls/s in total, from 64 concurrent callers;
//! - the dashboard (this crate's `Ui`, with the monitor verifying every invocation) in
//!   this process;
//! - a **fast** SSE client measuring the feed lag (its clock minus the message's render
//!   time `t`) and a **slow** one that never reads (its updates must be dropped, counted,
//!   not queued).
//!
//! Prints one JSON line on stdout (the numbers) and a summary on stderr.

#![allow(clippy::unwrap_used, reason = "a benchmark: a panic is the report")]

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
    nats_url: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts { seconds: 10, rate: 5000, pairs: 100, nats_url: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seconds" => o.seconds = value.parse().unwrap(),
            "--rate" => o.rate = value.parse().unwrap(),
            "--pairs" => o.pairs = value.parse().unwrap(),
            "--nats-url" => o.nats_url = Some(value),
            other => panic!("unknown argument {other} (--seconds N --rate R --pairs P --nats-url URL)"),
        }
        i += 2;
    }
    o
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

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let o = opts();
    let _server;
    let url = match &o.nats_url {
        Some(u) => u.clone(),
        None => {
            _server = lattice_test_support::NatsServer::start();
            _server.url()
        }
    };
    let lattice = LatticeName::new("default").unwrap();
    let seed = ClusterSeed::generate();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let actors: Vec<ActorKey> =
        (0..o.pairs).map(|_| ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()).collect();
    let providers: Vec<ProviderKey> =
        (0..o.pairs).map(|_| ProviderKey::parse(&nkeys::KeyPair::new_service().public_key()).unwrap()).collect();
    let link = LinkName::new("default").unwrap();

    // The dashboard.
    let conn = lattice_rpc::NatsOptions::new(&url)
        .name("lattice-ui")
        .subscription_capacity(lattice_monitor::nats::SUBSCRIPTION_CAPACITY)
        .connect()
        .await
        .unwrap();
    let mut config = UiConfig::new(lattice.clone());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.issuers = vec![seed.public_key().clone()];
    let ui = Ui::start(conn, config).await.unwrap();
    let addr = ui.addr();

    // The synthetic host's heartbeat: 100 actors, 100 providers.
    let nats = async_nats::connect(&url).await.unwrap();
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
    let hb_nats = nats.clone();
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

    // The responder: every invocation on the lattice gets an InvocationResponse.
    let mut rpc = nats.subscribe(lattice_proto::subject::rpc_wildcard(&lattice).into_string()).await.unwrap();
    let responder_nats = nats.clone();
    let responder = tokio::spawn(async move {
        while let Some(msg) = rpc.next().await {
            let (Some(reply), Ok(inv)) = (msg.reply, Invocation::decode(&msg.payload)) else { continue };
            let response = InvocationResponse {
                msg: b"ok".to_vec(),
                invocation_id: inv.id,
                content_length: 2,
                ..Default::default()
            };
            let _ = responder_nats.publish(reply, response.encode().into()).await;
        }
    });
    nats.flush().await.unwrap();

    // Let the dashboard see the host before the traffic starts.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The feed clients.
    let run = Duration::from_secs(o.seconds);
    let until = Instant::now() + run + Duration::from_secs(1);
    let fast = tokio::spawn(read_feed(addr, until));
    let _stalled = stalled_feed(addr).await;

    // The callers: 64 tasks, each its share of the rate, round-robin over the 200 edges.
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
    let tasks = 64u64;
    let per_task = (o.rate as f64 / tasks as f64).max(0.1);
    let stop_at = Instant::now() + run;
    let started = Instant::now();
    let mut callers = Vec::new();
    for t in 0..tasks {
        let (nats, edges, seed, host, sent, failed) =
            (nats.clone(), edges.clone(), seed.clone(), host.clone(), sent.clone(), failed.clone());
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
    // Give the dashboard a moment to count the last replies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = sent.load(Ordering::Relaxed);
    let seen = ui.calls_seen();
    let state: serde_json::Value = {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get("/api/state")
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let body = send.send_request(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    };
    let stats = &state["stats"];
    let entities = state["upsert"]["actors"].as_object().map_or(0, |m| m.len())
        + state["upsert"]["providers"].as_object().map_or(0, |m| m.len());
    let edges_shown = state["upsert"]["edges"].as_object().map_or(0, |m| m.len());
    let mut lags = fast.lags.clone();
    lags.sort_unstable();
    let rps = calls as f64 / elapsed.as_secs_f64();
    let out = serde_json::json!({
        "seconds": elapsed.as_secs_f64(), "calls": calls, "calls_failed": failed.load(Ordering::Relaxed),
        "calls_rps": rps.round(), "entities": entities, "edges": edges_shown,
        "ui_calls_counted": seen, "feed_messages": lags.len(), "feed_bytes": fast.bytes,
        "feed_lag_p50_ms": quantile(&lags, 0.5), "feed_lag_p99_ms": quantile(&lags, 0.99),
        "feed_lag_max_ms": lags.last().copied().unwrap_or(0), "fast_client_resets": fast.resets,
        "dropped_updates": stats["dropped_updates"], "slow_consumer": stats["slow_consumer"],
        "alerts": stats["alerts_total"],
    });
    println!("{out}");
    eprintln!(
        "{calls} calls in {:.1} s ({rps:.0}/s) over {edges_shown} edges, {entities} entities; the dashboard counted {seen}; \
         feed: {} messages, lag p50 {} ms p99 {} ms max {} ms; dropped updates (slow client) {}; slow consumer {}",
        elapsed.as_secs_f64(),
        lags.len(),
        quantile(&lags, 0.5),
        quantile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        stats["dropped_updates"],
        stats["slow_consumer"],
    );
    heartbeat.abort();
    responder.abort();
    ui.stop().await;
}
