//! `lattice bench --actor`: what a call to a wasm actor through a running Lattice host costs
//! next to raw NATS request/reply (issue 10, CONVENTIONS.md "Benchmarks").
//!
//! One bench process, one nats-server (its own unless `--nats-url` names one) and one
//! **host process**: the same `lattice` executable run as `lattice up --manifest …`, serving
//! the echo actor (`actors/echo.wat`, built into this binary, signed by the host at start
//! with the `wasmcloud:httpserver` capability) with `max_instances = --instances`. The bench
//! gives the host a cluster seed it generated (`--cluster-seed`), so it can sign calls the
//! host accepts, and waits for the host's `lattice: host N… ready` line.
//!
//! Then, for each cell (payload × concurrency), one run after the other:
//! - **raw**: NATS request/reply of the same request bytes against an echo responder inside
//!   this process (its own connection);
//! - **actor**: `HttpServer.HandleRequest` invocations sent the way the HTTP server provider
//!   sends them (origin: a provider entity, contract `wasmcloud:httpserver`, link `default`;
//!   msg: a msgpack `HttpRequest` whose body has `payload` bytes), encoded and signed fresh
//!   inside the timed loop ([`RpcClient::call`]), to `wasmbus.rpc.{lattice}.{actor}`. Every
//!   reply is checked: no `error`, and an `HttpResponse` with status 200 whose body equals
//!   the request's msg bytes; anything else counts as an error.
//!
//! Per cell it reports both rates and latency percentiles, the host's CPU time per call
//! (`/proc/{pid}/stat` utime + stime over the measured run ÷ calls) and its peak resident
//! memory (`VmHWM` of `/proc/{pid}/status`, reset with `clear_refs` before each cell where
//! the kernel allows it, so the peak is the cell's). The host is stopped with SIGTERM at the
//! end, and the bench exits 1 when any call failed.
//!
//! **`--hosts N`** starts N host processes (own state directories, one module key written
//! into each beforehand, so all serve the same actor key and share its queue group). CPU
//! is then the sum over the hosts, RSS the largest host's peak, and each cell also reports
//! every host's share of the actor calls: the growth of the `HttpServer-HandleRequest`
//! request count each host's actor server reports over NATS micro (`$SRV.STATS.{service}`,
//! told apart by the `host_id` metadata) between the start and the end of the cell —
//! warm-up included —, the same numbers `nats micro stats` prints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::{RpcClient, Served, micro};
use serde_json::json;

use lattice_httpserver::wire::{HANDLE_REQUEST, HttpRequest, HttpResponse};

use super::args::Args;
use super::measure::{RunStats, measure_pair, round1};
use super::setup::{HostProcess, Scratch, Setup};
use crate::exit::{Failure, Outcome};

/// The request msg carrying `body`, encoded as the provider does
/// ([`lattice_httpserver::wire`]).
fn http_request(body: &[u8]) -> Vec<u8> {
    HttpRequest {
        method: "POST".into(),
        path: "/bench".into(),
        query_string: String::new(),
        header: Default::default(),
        body: body.to_vec(),
    }
    .encode()
}

/// Check the actor's reply to the request `msg`.
fn check_reply(reply: &[u8], msg: &[u8]) -> Result<(), String> {
    let response = HttpResponse::decode(reply).map_err(|e| format!("not an HttpResponse: {e}"))?;
    if response.status_code != 200 {
        return Err(format!("status {} instead of 200", response.status_code));
    }
    if response.body != msg {
        return Err(format!("the body ({} bytes) is not the request msg ({} bytes)", response.body.len(), msg.len()));
    }
    Ok(())
}

/// Run `lattice bench --actor`.
pub(crate) fn run(args: &Args, lattice: LatticeName) -> Outcome {
    if args.actor.instances == 0 {
        return Err(Failure::bad_input(anyhow!("--instances must be >= 1")));
    }
    let soak = args.actor.soak.plan().map_err(|e| Failure::bad_input(anyhow!(e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    match runtime.block_on(bench_actor(args, lattice, soak))? {
        Some(failed) => Err(Failure::no(anyhow!(failed))),
        None => Ok(()),
    }
}

/// Peak resident memory of `pid` in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Reset `pid`'s peak resident memory to its current value (best effort; Linux ≥ 4.0).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// One cell's results.
struct Cell {
    payload: usize,
    concurrency: usize,
    raw: RunStats,
    actor: RunStats,
    host_rss_mib: Option<f64>,
    /// Each host's actor calls during the cell (warm-up included), in host order.
    shares: Vec<HostShare>,
}

/// One host's part of a cell.
#[derive(Clone, Debug)]
struct HostShare {
    host: HostKey,
    calls: u64,
    rss_mib: Option<f64>,
}

/// How long to collect `$SRV.STATS` answers.
const STATS_WAIT: Duration = Duration::from_secs(2);

/// `HttpServer.HandleRequest` calls served so far by each host running `actor`, from the
/// micro `STATS` answers of its actor servers (keyed by the `host_id` metadata).
async fn served_calls(
    nats: &async_nats::Client,
    lattice: &LatticeName,
    actor: &ActorKey,
    hosts: usize,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let name = micro::service_name(lattice, &Served::Actor(actor.clone()));
    let inbox = nats.new_inbox();
    let mut answers = nats.subscribe(inbox.clone()).await.context("subscribing for $SRV.STATS answers")?;
    nats.publish_with_reply(format!("$SRV.STATS.{name}"), inbox, Vec::new().into())
        .await
        .context("asking $SRV.STATS")?;
    let endpoint = micro::endpoint_name(HANDLE_REQUEST);
    let mut calls = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + STATS_WAIT;
    while calls.len() < hosts {
        let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await else {
            bail!("only {} of {hosts} hosts answered $SRV.STATS.{name} within {} s", calls.len(), STATS_WAIT.as_secs());
        };
        let stats: micro::StatsResponse =
            serde_json::from_slice(&answer.payload).context("a $SRV.STATS answer that is not a stats response")?;
        let host = stats.metadata.get("host_id").cloned().context("a $SRV.STATS answer without host_id")?;
        let n = stats.endpoints.iter().filter(|e| e.name == endpoint).map(|e| e.num_requests).sum();
        calls.insert(host, n);
    }
    Ok(calls)
}

/// Run the cells (or the soak); `Some(why)` when calls failed (or the soak's memory was
/// not flat).
async fn bench_actor(
    args: &Args,
    lattice: LatticeName,
    soak: Option<(Duration, Duration, Duration)>,
) -> anyhow::Result<Option<String>> {
    let setup = Setup::start(args)?;
    let url = setup.url.clone();
    let connect = || setup.connect();
    let say = |line: String| setup.say(line);
    let (nproc, model) = (setup.nproc, &setup.model);

    // The host processes, with a cluster seed we know and one module key for the actor.
    let scratch = Scratch::new()?;
    let seed = ClusterSeed::generate();
    let module_seed = nkeys::KeyPair::new_module().seed().context("a module key")?;
    let manifest = HostProcess::echo_manifest(&scratch.0, args.actor.instances, "")?;
    let mut hosts = Vec::new();
    for i in 0..args.actor.hosts {
        let state = scratch.0.join(format!("state-{i}"));
        let keys = state.join("keys");
        std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
        std::fs::write(keys.join("actor-echo.seed"), &module_seed).context("writing the actor's module key")?;
        hosts.push(HostProcess::spawn(
            &manifest,
            &state,
            &url,
            args.creds.as_deref(),
            &lattice,
            &seed,
            args.actor.host_workers,
        )?);
    }
    let mut actor = None;
    let mut host_keys = Vec::new();
    for host in &mut hosts {
        let (key, host_key) = tokio::task::block_in_place(|| host.wait_ready())?;
        if actor.as_ref().is_some_and(|a| a != &key) {
            bail!("the hosts serve different actor keys ({} and {key})", actor.as_ref().map_or("", ActorKey::as_str));
        }
        actor = Some(key);
        host_keys.push(host_key);
    }
    let actor = actor.context("no host")?;
    let host_pids: Vec<u32> = hosts.iter().map(HostProcess::pid).collect();
    let pids = host_pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    say(format!(
        "lattice bench --actor: {nproc} CPUs ({model}); nats-server {}; {} host process{} ({pids}) serving the \
         echo actor {actor} with {} instances each; {} s per run after {} s warm-up",
        setup.server_label(),
        hosts.len(),
        if hosts.len() == 1 { "" } else { "es" },
        args.actor.instances,
        args.duration,
        args.warmup
    ));

    // Raw baseline: an echo responder on its own connection.
    let (raw_subject, responder) = setup.raw_responder().await?;
    let raw_client = connect().await?;
    let stats_client = connect().await?;

    // The provider side: signs as a host of its own, calls as an httpserver provider.
    let caller_host = HostKey::parse(&nkeys::KeyPair::new_server().public_key())?;
    let client = RpcClient::builder(connect().await?, lattice.clone(), seed, caller_host).build();
    let origin = WasmCloudEntity::provider(
        &ProviderKey::parse(&nkeys::KeyPair::new_service().public_key())?,
        &LinkName::new("default")?,
        "wasmcloud:httpserver",
    );
    let target = WasmCloudEntity::actor(&actor);

    if let Some(plan) = soak {
        let payload = args.payloads.first().copied().unwrap_or(1024);
        let concurrency = args.concurrency.first().copied().unwrap_or(1);
        let body = Arc::new(vec![0x5a_u8; payload]);
        let (c, o, t) = (client.clone(), origin.clone(), target.clone());
        let call = move || {
            let (c, o, t, body) = (c.clone(), o.clone(), t.clone(), body.clone());
            async move {
                let msg = http_request(&body);
                let reply = c.call(o, t, HANDLE_REQUEST, msg.clone()).await.map_err(|e| lattice_proto::chain(&e))?;
                check_reply(&reply, &msg)
            }
        };
        let verdict = super::soak::run(&setup, args.json, plan, payload, concurrency, &host_pids, call).await;
        responder.abort();
        for host in hosts {
            tokio::task::block_in_place(|| host.stop())?;
        }
        return Ok((verdict.errors > 0 || !verdict.flat).then_some(verdict.summary));
    }

    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    if !args.json {
        println!(
            "\n{:>7} {:>4} | {:>8} {:>8} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} | {:>6}",
            "payload",
            "conc",
            "raw/s",
            "actor/s",
            "ratio",
            "raw p50",
            "act p50",
            "raw p99",
            "act p99",
            "host cpu",
            "host rss",
            "errors"
        );
        println!(
            "{:>7} {:>4} | {:>8} {:>8} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} | {:>6}",
            "bytes", "", "calls/s", "calls/s", "", "µs", "µs", "µs", "µs", "µs/call", "MiB", ""
        );
    }
    let mut errors = 0;
    for &payload in &args.payloads {
        let body = vec![0x5a_u8; payload];
        for &concurrency in &args.concurrency {
            let raw_call = {
                let (c, s, msg) = (raw_client.clone(), raw_subject.clone(), http_request(&body));
                move || {
                    let (c, s, msg) = (c.clone(), s.clone(), msg.clone());
                    async move {
                        let len = msg.len();
                        let reply = c.request(s, msg.into()).await.map_err(|e| e.to_string())?;
                        if reply.payload.len() == len { Ok(()) } else { Err("short reply".to_owned()) }
                    }
                }
            };
            let actor_call = {
                let (c, o, t, body) = (client.clone(), origin.clone(), target.clone(), Arc::new(body.clone()));
                move || {
                    let (c, o, t, body) = (c.clone(), o.clone(), t.clone(), body.clone());
                    async move {
                        let msg = http_request(&body);
                        let reply =
                            c.call(o, t, HANDLE_REQUEST, msg.clone()).await.map_err(|e| lattice_proto::chain(&e))?;
                        check_reply(&reply, &msg)
                    }
                }
            };
            let reset = host_pids.iter().all(|&pid| reset_peak_rss(pid));
            let before = served_calls(&stats_client, &lattice, &actor, hosts.len()).await?;
            // Raw and actor slices alternate, so both see the same background load; the
            // "broker" CPU bench.rs measures is the host processes' here (the raw slices'
            // share of it is not reported).
            let (raw, actor_run) = measure_pair(concurrency, warmup, duration, &host_pids, raw_call, actor_call).await;
            let after = served_calls(&stats_client, &lattice, &actor, hosts.len()).await?;
            let shares: Vec<HostShare> = host_keys
                .iter()
                .zip(&host_pids)
                .map(|(host, &pid)| HostShare {
                    host: host.clone(),
                    calls: after
                        .get(host.as_str())
                        .unwrap_or(&0)
                        .saturating_sub(*before.get(host.as_str()).unwrap_or(&0)),
                    rss_mib: peak_rss_mib(pid),
                })
                .collect();
            let host_rss_mib = shares.iter().filter_map(|s| s.rss_mib).reduce(f64::max);
            let cell = Cell { payload, concurrency, raw, actor: actor_run, host_rss_mib, shares };
            if !reset && payload == args.payloads[0] && concurrency == args.concurrency[0] {
                say("note: could not reset the host's peak RSS: `host rss` is the peak since it started".to_owned());
            }
            errors += cell.raw.errors + cell.actor.errors;
            report(args, &cell);
            for host in &mut hosts {
                if !host.alive() {
                    bail!("a host process exited during the run; its log:\n{}", host.tail());
                }
            }
        }
    }
    say(String::new());
    say("raw: NATS request/reply of the same request bytes to a responder in this process. actor: \
         HttpServer.HandleRequest signed per call, verified by the host, run on a fresh wasm instance; \
         every reply's body checked. host cpu: the host processes' CPU time per call; host rss: the \
         largest peak resident memory of a host during the cell; share: each host's part of the actor \
         calls of the cell (warm-up included), from its actor server's NATS micro stats."
        .to_owned());

    responder.abort();
    for host in hosts {
        tokio::task::block_in_place(|| host.stop())?;
    }
    drop(setup);
    drop(scratch);
    Ok((errors > 0).then(|| format!("{errors} calls failed (see the cells above)")))
}

fn report(args: &Args, cell: &Cell) {
    let Cell { payload, concurrency, raw, actor, host_rss_mib, shares } = cell;
    let served: u64 = shares.iter().map(|s| s.calls).sum();
    let share = |calls: u64| if served > 0 { calls as f64 / served as f64 } else { 0.0 };
    let ratio = if raw.rps > 0.0 { actor.rps / raw.rps } else { 0.0 };
    let host_cpu = actor.cpu_broker_us;
    if args.json {
        let line = json!({
            "payload": payload,
            "concurrency": concurrency,
            "raw_rps": raw.rps.round() as u64,
            "actor_rps": actor.rps.round() as u64,
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "raw_p50_us": raw.p50_us,
            "actor_p50_us": actor.p50_us,
            "raw_p99_us": raw.p99_us,
            "actor_p99_us": actor.p99_us,
            "errors": raw.errors + actor.errors,
            "host_cpu_us_per_call": host_cpu.map(round1),
            "host_rss_mib": host_rss_mib.map(round1),
            "instances": args.actor.instances,
            "raw_calls": raw.calls,
            "actor_calls": actor.calls,
            "raw_errors": raw.errors,
            "actor_errors": actor.errors,
            "cpu_bench_us_per_call": round1(actor.cpu_proc_us),
            "duration_s": args.duration,
            "hosts": shares.iter().map(|s| json!({
                "host_id": s.host.as_str(),
                "calls": s.calls,
                "share": (share(s.calls) * 1000.0).round() / 1000.0,
                "rss_mib": s.rss_mib.map(round1),
            })).collect::<Vec<_>>(),
        });
        println!("{line}");
    } else {
        let opt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{payload:>7} {concurrency:>4} | {:>8.0} {:>8.0} {:>6.3} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} | {:>6}",
            raw.rps,
            actor.rps,
            ratio,
            raw.p50_us,
            actor.p50_us,
            raw.p99_us,
            actor.p99_us,
            opt(host_cpu),
            opt(*host_rss_mib),
            raw.errors + actor.errors,
        );
        if shares.len() > 1 {
            let parts: Vec<String> = shares
                .iter()
                .map(|s| format!("{}… {:.1} % ({} calls)", &s.host.as_str()[..8], share(s.calls) * 100.0, s.calls))
                .collect();
            println!("{:>12} share: {}", "", parts.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_request_is_the_providers_five_entry_map() {
        let msg = http_request(b"xy");
        assert_eq!(msg[0], 0x85, "a 5-entry map");
        assert!(msg.windows(11).any(|w| w == b"queryString"));
        assert!(msg.ends_with(&[0xa4, b'b', b'o', b'd', b'y', 0xc4, 0x02, b'x', b'y']), "{msg:02x?}");
    }

    #[test]
    fn replies_are_checked_against_the_request() {
        // What echo.wat answers: the fixed prefix, a bin32 length, the msg.
        let msg = http_request(&[7; 300]);
        let mut reply = b"\x83\xaastatusCode\xcc\xc8\xa6header\x80\xa4body\xc6".to_vec();
        reply.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
        reply.extend_from_slice(&msg);
        assert_eq!(check_reply(&reply, &msg), Ok(()));
        assert!(check_reply(&reply, &msg[1..]).is_err());
        assert!(check_reply(b"\x80", &msg).is_err(), "no status is not 200");
        assert!(check_reply(b"junk", &msg).is_err());
    }
}
