//! Per-call cost of the actor path without NATS: a fresh pooled instance of the echo actor
//! per call (`InstancePre` + pooling allocator), 0 B / 1 KiB / 64 KiB msgs, one call at a
//! time and 64 concurrent calls on a 2-worker runtime.

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lattice_host::actor::{Actor, ActorRuntime, NoHostCalls, RuntimeConfig};
use lattice_host::claims::{self, SignOptions};
use lattice_proto::{LinkName, ProviderKey, WasmCloudEntity};
use nkeys::KeyPair;

fn echo(rt: &ActorRuntime) -> Actor {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../actors/echo.wat");
    let wasm = wat::parse_file(path).unwrap();
    let opts = SignOptions { name: "echo".into(), ..Default::default() };
    let signed = claims::sign(&wasm, &opts, &KeyPair::new_module(), &KeyPair::new_account(), 1_700_000_000).unwrap();
    rt.load_at(&signed, 1_700_000_000).unwrap().start(Arc::new(NoHostCalls), 64)
}

fn origin() -> WasmCloudEntity {
    WasmCloudEntity::provider(
        &ProviderKey::parse(&KeyPair::new_service().public_key()).unwrap(),
        &LinkName::new("default").unwrap(),
        "wasmcloud:httpserver",
    )
}

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rt = ActorRuntime::new(RuntimeConfig::default()).unwrap();
    let actor = echo(&rt);
    let origin = origin();
    let mut group = c.benchmark_group("echo_call");
    for size in [0usize, 1024, 65_536] {
        let msg = vec![7u8; size];
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("sequential", size), &msg, |b, msg| {
            b.to_async(&tokio)
                .iter(|| async { actor.call(&origin, "HttpServer.HandleRequest", msg.clone()).await.unwrap() });
        });
        group.throughput(Throughput::Elements(64));
        group.bench_with_input(BenchmarkId::new("concurrent64", size), &msg, |b, msg| {
            b.to_async(&tokio).iter(|| async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..64 {
                    let (actor, origin, msg) = (actor.clone(), origin.clone(), msg.clone());
                    set.spawn(async move { actor.call(&origin, "HttpServer.HandleRequest", msg).await.unwrap() });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
