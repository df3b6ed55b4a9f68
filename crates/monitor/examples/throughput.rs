//! How many invocations per second the monitor classifies, measured against a real
//! nats-server on this machine. Run in release:
//!
//! ```text
//! cargo run --release -p lattice-monitor --features forge --example throughput -- [N] [SECS]
//! ```
//!
//! 1. **flood**: N pre-signed genuine invocations published back to back (no replies); the
//!    rate is N / (time until the monitor has classified all N). The monitor's NATS buffer
//!    holds them all, so this is its drain rate, the ceiling of what it keeps up with.
//! 2. **bench load**: 64 concurrent signed request/reply calls through an `RpcServer` for
//!    SECS seconds (what `lattice bench` runs), with the monitor watching on the same
//!    machine; it must classify every call, with no slow-consumer event.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use lattice_monitor::forge::Forge;
use lattice_monitor::{Monitor, MonitorHandle};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, TrustedIssuers, WasmCloudEntity};
use lattice_rpc::{RpcClient, RpcServer, Served, handler_fn};
use lattice_test_support::NatsServer;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn wait_valid(handle: &MonitorHandle, n: u64, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while handle.metrics().invocations_with("valid") < n {
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(start.elapsed())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(Ok(200_000), |a| a.parse())?;
    let secs: u64 = args.get(2).map_or(Ok(10), |a| a.parse())?;
    let nats = NatsServer::start();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key())?;
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key())?;
    let me = WasmCloudEntity::actor(&actor);

    let (mclient, events) = lattice_monitor::connect(&nats.url(), None, "monitor").await?;
    let mut handle = Monitor::builder(mclient, lattice.clone(), std::slice::from_ref(seed.public_key()))
        .nats_events(events)
        .alert_subject(None)
        .start()
        .await?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("machine: {cores} cores; monitor workers: {cores}");

    // 1. flood
    let forge = Forge {
        seed: seed.clone(),
        host: host.clone(),
        origin: me.clone(),
        target: me.clone(),
        operation: "Echo.Ping".into(),
    };
    let t = Instant::now();
    let t0 = now();
    let payloads: Vec<bytes::Bytes> =
        (0..n).map(|i| forge.genuine(&format!("flood-{i}"), b"0123456789", t0).encode().into()).collect();
    println!("flood: signed {n} invocations in {:.1} s", t.elapsed().as_secs_f64());
    // 0. the pure classification cost on one thread (no NATS): decode + batch verify.
    let sample: Vec<_> = payloads.iter().take(20_000).cloned().collect();
    let mut replay = lattice_proto::replay::ReplayWindow::new(300, 1_000_000);
    let issuers = TrustedIssuers::new([seed.public_key()]);
    let subject0 = lattice_proto::subject::actor_rpc(&lattice, &actor).into_string();
    let t = Instant::now();
    for chunk in sample.chunks(64) {
        let items = chunk.iter().map(|p| (subject0.clone(), lattice_monitor::classify::decode(p))).collect();
        let verdicts = lattice_monitor::classify_batch(items, t0, &mut replay, &issuers);
        assert!(verdicts.iter().all(|(_, v)| v.label() == "valid"));
    }
    let per = t.elapsed() / sample.len() as u32;
    let t = Instant::now();
    for p in &sample {
        let _ = lattice_monitor::classify::decode(p);
    }
    let decode = t.elapsed() / sample.len() as u32;
    println!(
        "pure: {per:?} per invocation on one thread (decode alone {decode:?}) = {:.0} msgs/s per core",
        1.0 / per.as_secs_f64()
    );

    let publisher = async_nats::connect(nats.url()).await?;
    let subject = lattice_proto::subject::actor_rpc(&lattice, &actor).into_string();
    let start = Instant::now();
    for p in payloads {
        publisher.publish(subject.clone(), p).await?;
    }
    publisher.flush().await?;
    let published = start.elapsed();
    let took = wait_valid(&handle, n, Duration::from_secs(120)).await.map(|d| d + published);
    let slow = handle.metrics().slow_consumer_total();
    match took {
        Some(d) => println!(
            "flood: published {n} in {:.2} s; monitor classified all in {:.2} s = {:.0} msgs/s; slow-consumer events: {slow}",
            published.as_secs_f64(),
            d.as_secs_f64(),
            n as f64 / d.as_secs_f64()
        ),
        None => println!(
            "flood: monitor classified only {} of {n} (slow-consumer events: {slow})",
            handle.metrics().invocations_with("valid")
        ),
    }
    let base = handle.metrics().invocations_with("valid");

    // 2. bench load: request/reply through an RpcServer.
    let sclient = async_nats::connect(nats.url()).await?;
    let server = RpcServer::builder(
        sclient,
        lattice.clone(),
        TrustedIssuers::new([seed.public_key()]),
        Served::Actor(actor.clone()),
    )
    .start(handler_fn(|req: lattice_rpc::Request| async move { Ok(req.msg) }))
    .await?;
    let cclient = async_nats::connect(nats.url()).await?;
    let rpc = RpcClient::builder(cclient, lattice, seed, host).build();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    futures::stream::iter(0..64)
        .for_each_concurrent(64, |_| {
            let (rpc, me, done) = (rpc.clone(), me.clone(), done.clone());
            async move {
                while Instant::now() < deadline {
                    if let Err(e) = rpc.call(me.clone(), me.clone(), "Echo.Ping", vec![7; 16]).await {
                        eprintln!("call failed: {e}");
                        return;
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .await;
    let elapsed = start.elapsed();
    let calls = done.load(std::sync::atomic::Ordering::Relaxed);
    let lag = wait_valid(&handle, base + calls, Duration::from_secs(60)).await;
    println!(
        "bench load: {calls} calls in {:.1} s = {:.0} calls/s; monitor classified all: {} (lag after the last call {:?}); slow-consumer events: {}",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        lag.is_some(),
        lag,
        handle.metrics().slow_consumer_total(),
    );
    let text = handle.metrics().encode();
    for line in text.lines().filter(|l| {
        l.starts_with("lattice_monitor_invocations_total")
            || l.starts_with("lattice_monitor_responses_total")
            || l.starts_with("lattice_monitor_unanswered")
            || l.contains("latency_seconds_sum")
            || l.contains("latency_seconds_count")
    }) {
        println!("  {line}");
    }
    server.shutdown().await;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(10), handle.next_report()).await {}
    handle.stop().await;
    Ok(())
}
