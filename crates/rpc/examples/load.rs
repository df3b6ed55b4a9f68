//! A load generator for profiling the RPC path alone: a nats-server, an echo
//! [`RpcServer`] and an [`RpcClient`] in one process, `CONCURRENCY` callers for `SECS`
//! seconds with `SIZE`-byte bodies; prints calls/s, this process' and the broker's CPU
//! time per call, and the mean verification batch size.
//!
//! ```text
//! cargo build --release -p lattice-rpc --example load
//! perf record -g --call-graph dwarf ./target/release/examples/load 64 3 1024   # CONCURRENCY SECS SIZE
//! ```
//!
//! `lattice bench` is the benchmark of record; this is the quick loop for profiling.
#![allow(clippy::unwrap_used, missing_docs, reason = "a profiling tool, not library code")]
use std::time::{Duration, Instant};

use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, TrustedIssuers, WasmCloudEntity};
use lattice_rpc::{HandlerError, Request, RpcClient, RpcServer, Served, handler_fn};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let conc: usize = args.next().map_or(64, |a| a.parse().unwrap());
    let secs: f64 = args.next().map_or(3.0, |a| a.parse().unwrap());
    let size: usize = args.next().map_or(1024, |a| a.parse().unwrap());
    let server = lattice_test_support::NatsServer::start();
    let seed = ClusterSeed::generate();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap();
    let target = WasmCloudEntity::actor(&actor);
    let origin = WasmCloudEntity::actor(&ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap());
    let srv = RpcServer::builder(
        async_nats::connect(server.url()).await.unwrap(),
        LatticeName::default(),
        TrustedIssuers::new([seed.public_key()]),
        Served::Actor(actor),
    )
    .start(handler_fn(|r: Request| async move { Ok::<_, HandlerError>(r.msg) }))
    .await
    .unwrap();
    let client =
        RpcClient::builder(async_nats::connect(server.url()).await.unwrap(), LatticeName::default(), seed, host)
            .build();
    let cpu0 = cpu(None);
    let b0 = cpu(server.pid());
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (c, o, t) = (client.clone(), origin.clone(), target.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                c.call(o.clone(), t.clone(), "Bench.Echo", vec![0x5a; size]).await.unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    let (cpu1, b1) = (cpu(None), cpu(server.pid()));
    println!(
        "cpu/call: process {:.1} us, broker {:.1} us",
        (cpu1 - cpu0) as f64 * 10_000.0 / total as f64,
        (b1 - b0) as f64 * 10_000.0 / total as f64
    );
    let stats = srv.stats();
    println!(
        "{:.0} calls/s; {} received in {} verification batches",
        total as f64 / secs,
        stats.received,
        stats.batches
    );
    srv.shutdown().await;
}

fn cpu(pid: Option<u32>) -> u64 {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}
