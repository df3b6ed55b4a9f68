//! `lattice bench` (the default mode): what Lattice's signed, verified calls cost next to
//! raw NATS.
//!
//! One process, one nats-server (its own, unless `--nats-url` names one), one cell after
//! the other (CONVENTIONS.md "Benchmarks"): for each payload size and concurrency,
//! - **raw**: NATS request/reply against an echo responder inside this process;
//! - **lattice**: [`RpcClient::call`] against an [`RpcServer`] in this process: every call
//!   built and signed inside the timed loop (fresh id and claims), msgpack-encoded,
//!   verified (issuer, signature, URLs, hash, replay window) before the echo handler runs.
//!
//! Both sides use two connections (a caller's and a responder's). Each cell warms both
//! up briefly, then alternates half-second slices of raw and Lattice until each has run
//! `--duration` seconds, so both see the same background load. Output: a table (stdout, or stderr with `--json`), or JSON Lines
//! with one object per cell after a `{"machine": …}` line. The CPU split per call is
//! measured twice: in isolation (codec, sign, verify — single and batched — timed in a
//! loop on this machine) and in the cells (this process' and, when we started it, the
//! nats-server's CPU time per call, from `/proc`), so the floor the crypto sets is visible.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::verify::{self, Addressee, Body, Verifier};
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, InvocationResponse, LatticeName, TrustedIssuers, VerifyOptions,
    WasmCloudEntity,
};
use lattice_rpc::{HandlerError, Request, RpcClient, RpcServer, Served, handler_fn};
use serde_json::{Value, json};

use super::args::Args;
use super::measure::{RunStats, measure_pair, round1};
use super::setup::Setup;

/// Per-call costs measured in isolation.
#[derive(Clone, Copy, Debug, Default)]
struct Split {
    codec_us: f64,
    sign_us: f64,
    verify_us: f64,
    verify_batched_us: f64,
}

pub(super) async fn bench(args: Args, lattice: LatticeName) -> anyhow::Result<()> {
    let setup = Setup::start(&args)?;
    let broker_pid = setup.broker_pid();
    let connect = || setup.connect();
    let say = |line: String| setup.say(line);
    let (nproc, model) = (setup.nproc, &setup.model);
    say(format!(
        "lattice bench: {nproc} CPUs ({model}); nats-server {}; {} s per run after {} s warm-up",
        setup.server_label(),
        args.duration,
        args.warmup
    ));

    // Raw baseline: an echo responder on its own connection.
    let (raw_subject, responder) = setup.raw_responder().await?;

    // Lattice: a verifying server and a signing client, each on its own connection.
    let seed = ClusterSeed::generate();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key())?;
    let actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key())?;
    let origin = WasmCloudEntity::actor(&ActorKey::parse(&nkeys::KeyPair::new_module().public_key())?);
    let target = WasmCloudEntity::actor(&actor);
    let server = RpcServer::builder(
        connect().await?,
        lattice.clone(),
        TrustedIssuers::new([seed.public_key()]),
        Served::Actor(actor),
    )
    .start(handler_fn(|req: Request| async move { Ok::<_, HandlerError>(req.msg) }))
    .await
    .context("starting the rpc server")?;
    let client = RpcClient::builder(connect().await?, lattice, seed.clone(), host.clone()).build();
    let raw_client = connect().await?;

    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    if !args.json {
        println!(
            "\n{:>8} {:>5} | {:>9} {:>9} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8}",
            "payload",
            "conc",
            "raw/s",
            "lattice/s",
            "ratio",
            "raw p50",
            "lat p50",
            "raw p99",
            "lat p99",
            "cpu raw",
            "cpu lat"
        );
    }
    let mut splits = Vec::new();
    for &payload in &args.payloads {
        let split = {
            let (seed, host, origin, target) = (seed.clone(), host.clone(), origin.clone(), target.clone());
            tokio::task::spawn_blocking(move || measure_split(&seed, &host, &origin, &target, payload))
                .await
                .context("measuring the CPU split")?
        };
        splits.push((payload, split));
        let body = vec![0x5a_u8; payload];
        for &concurrency in &args.concurrency {
            let raw_call = {
                let (c, s, b) = (raw_client.clone(), raw_subject.clone(), body.clone());
                move || {
                    let (c, s, b) = (c.clone(), s.clone(), b.clone());
                    async move {
                        let reply = c.request(s, b.into()).await.map_err(|e| e.to_string())?;
                        if reply.payload.len() == payload { Ok(()) } else { Err("short reply".to_owned()) }
                    }
                }
            };
            let lattice_call = {
                let (c, o, t, b) = (client.clone(), origin.clone(), target.clone(), body.clone());
                move || {
                    let (c, o, t, b) = (c.clone(), o.clone(), t.clone(), b.clone());
                    async move {
                        let out = c.call(o, t, "Bench.Echo", b).await.map_err(|e| lattice_proto::chain(&e))?;
                        if out.len() == payload { Ok(()) } else { Err("short reply".to_owned()) }
                    }
                }
            };
            let (raw, lattice) =
                measure_pair(concurrency, warmup, duration, broker_pid.as_slice(), raw_call, lattice_call).await;
            report(&args, payload, concurrency, &raw, &lattice, &split);
        }
    }

    say(String::new());
    say("CPU per call measured in isolation on this machine (µs; `verify` includes the body hash):".to_owned());
    say(format!("{:>8} | {:>8} {:>8} {:>8} {:>14}", "payload", "codec", "sign", "verify", "verify batched"));
    for (payload, s) in &splits {
        say(format!(
            "{payload:>8} | {:>8.1} {:>8.1} {:>8.1} {:>14.1}",
            s.codec_us, s.sign_us, s.verify_us, s.verify_batched_us
        ));
    }
    say(
        "`cpu raw` / `cpu lat`: CPU µs per call in the cells (this process + nats-server when the bench started it):\n\
         the NATS share of a Lattice call is `cpu raw`; the rest is codec, signing, verification and dispatch."
            .to_owned(),
    );

    let stats = server.stats();
    if stats.rejected_total() > 0 || stats.handler_errors > 0 {
        say(format!("warning: the server rejected {} and failed {} calls", stats.rejected_total(), stats.failed));
    }
    server.shutdown().await;
    responder.abort();
    drop(setup);
    Ok(())
}

fn report(args: &Args, payload: usize, concurrency: usize, raw: &RunStats, lat: &RunStats, split: &Split) {
    let ratio = if raw.rps > 0.0 { lat.rps / raw.rps } else { 0.0 };
    let cpu_raw = raw.cpu_proc_us + raw.cpu_broker_us.unwrap_or(0.0);
    let cpu_lat = lat.cpu_proc_us + lat.cpu_broker_us.unwrap_or(0.0);
    if args.json {
        let cell: Value = json!({
            "payload": payload,
            "concurrency": concurrency,
            "raw_rps": raw.rps.round() as u64,
            "lattice_rps": lat.rps.round() as u64,
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "raw_p50_us": raw.p50_us,
            "lattice_p50_us": lat.p50_us,
            "raw_p99_us": raw.p99_us,
            "lattice_p99_us": lat.p99_us,
            "raw_calls": raw.calls,
            "lattice_calls": lat.calls,
            "raw_errors": raw.errors,
            "lattice_errors": lat.errors,
            "duration_s": args.duration,
            "cpu_raw_us": round1(cpu_raw),
            "cpu_lattice_us": round1(cpu_lat),
            "cpu_raw_broker_us": raw.cpu_broker_us.map(round1),
            "cpu_lattice_broker_us": lat.cpu_broker_us.map(round1),
            "cpu_nats_us": round1(cpu_raw),
            "cpu_codec_us": round1(split.codec_us),
            "cpu_sign_us": round1(split.sign_us),
            "cpu_verify_us": round1(split.verify_us),
            "cpu_verify_batched_us": round1(split.verify_batched_us),
        });
        println!("{cell}");
    } else {
        println!(
            "{payload:>8} {concurrency:>5} | {:>9.0} {:>9.0} {:>6.2} | {:>8} {:>8} {:>8} {:>8} | {:>8.1} {:>8.1}{}",
            raw.rps,
            lat.rps,
            ratio,
            raw.p50_us,
            lat.p50_us,
            raw.p99_us,
            lat.p99_us,
            cpu_raw,
            cpu_lat,
            if raw.errors + lat.errors > 0 {
                format!("  (errors: raw {}, lattice {})", raw.errors, lat.errors)
            } else {
                String::new()
            }
        );
    }
}

/// CPU time of the calling thread in nanoseconds (`/proc/thread-self/schedstat`), so
/// the isolated costs stay CPU costs when other processes share the machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Run `f` in a loop for about `budget` of wall time; mean CPU µs per iteration (wall
/// time where the thread's CPU time is not available).
fn time_per_iter(budget: Duration, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let cpu_start = thread_cpu_ns();
    let mut n = 0u64;
    while started.elapsed() < budget || n < 10 {
        f();
        n += 1;
    }
    let wall_us = started.elapsed().as_secs_f64() * 1e6;
    let used_us = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e3,
        _ => wall_us,
    };
    used_us / n as f64
}

/// Codec, signing and verification costs of one call carrying `payload` bytes.
fn measure_split(
    seed: &ClusterSeed,
    host: &HostKey,
    origin: &WasmCloudEntity,
    target: &WasmCloudEntity,
    payload: usize,
) -> Split {
    let body = vec![0x5a_u8; payload];
    let budget = Duration::from_millis(150);
    let issuers = Arc::new(TrustedIssuers::new([seed.public_key()]));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let sign = |i: u64| {
        let jti = nuid::next();
        Invocation::new_signed(
            CallSpec {
                origin: origin.clone(),
                target: target.clone(),
                operation: "Bench.Echo".to_owned(),
                msg: body.clone(),
                host_id: host,
            },
            seed,
            SignContext { id: format!("{i:032x}"), jti: jti.as_str(), now, expires: None },
        )
    };
    let mut i = 0;
    let sign_us = time_per_iter(budget, || {
        i += 1;
        std::hint::black_box(sign(i));
    });
    let inv = sign(0);
    let codec_us = time_per_iter(budget, || {
        let bytes = inv.encode();
        let decoded = Invocation::decode(&bytes).ok();
        let response = InvocationResponse::success(inv.id.clone(), body.clone()).encode();
        std::hint::black_box((decoded, InvocationResponse::decode(&response).ok()));
    });
    let opts = VerifyOptions { now, max_age: Some(300) };
    let verify_us = time_per_iter(budget, || {
        std::hint::black_box(issuers.verify(&inv, &opts).is_ok());
    });
    let batch: Vec<Invocation> = (1..=64).map(sign).collect();
    let verifier = Verifier::new((*issuers).clone(), Some(300));
    let verify_batched_us = time_per_iter(budget, || {
        let items: Vec<(&Invocation, Addressee<'_>)> = batch.iter().map(|inv| (inv, Addressee::Anyone)).collect();
        for (checked, inv) in verifier.check_batch(&items, now).into_iter().zip(&batch) {
            let ok = checked.and_then(|c| verify::finish(c, Body::Full(&inv.msg), None, now));
            std::hint::black_box(ok.is_ok());
        }
    }) / batch.len() as f64;
    Split { codec_us, sign_us, verify_us, verify_batched_us }
}
