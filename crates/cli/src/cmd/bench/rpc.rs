//! `lattice bench`: what Lattice's signed, verified calls cost next to raw NATS.
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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use futures::StreamExt;
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::verify::{self, Addressee, Body, Verifier};
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, InvocationResponse, LatticeName, TrustedIssuers, VerifyOptions,
    WasmCloudEntity,
};
use lattice_rpc::{HandlerError, Request, RpcClient, RpcServer, Served, handler_fn};
use lattice_test_support::NatsServer;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::exit::{Failure, Outcome};

/// Arguments of `lattice bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The NATS server to use; without it the bench starts its own nats-server.
    #[arg(long, value_name = "URL")]
    pub(crate) nats_url: Option<String>,
    /// NATS credentials file (for `--nats-url`).
    #[arg(long, value_name = "FILE")]
    pub(crate) creds: Option<PathBuf>,
    /// The lattice the benchmark entities live in.
    #[arg(long, default_value = "default", env = "LATTICE_NAME")]
    pub(crate) lattice: String,
    /// Seconds measured per run (each cell runs raw, then lattice).
    #[arg(long, default_value_t = 5.0)]
    pub(crate) duration: f64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) warmup: f64,
    /// Payload sizes in bytes, comma-separated [default: 0,1024,65536; with --http: 1024]
    #[arg(long, value_delimiter = ',')]
    pub(crate) payloads: Vec<usize>,
    /// Concurrent callers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub(crate) concurrency: Vec<usize>,
    /// JSON Lines on stdout (a machine line, then one object per cell).
    #[arg(long)]
    pub(crate) json: bool,
    /// `--actor`, `--instances`: through a wasm actor on a host process instead.
    #[command(flatten)]
    pub(crate) actor: super::bench_actor::ActorArgs,
}

/// Run `lattice bench`.
pub(crate) fn run(mut args: Args) -> Outcome {
    if args.payloads.is_empty() {
        // The cells issue 10 names: HTTP end to end is measured with 1 KiB bodies.
        args.payloads = if args.actor.http { vec![1024] } else { vec![0, 1024, 65536] };
    }
    if !(args.duration > 0.0 && args.duration.is_finite() && args.warmup >= 0.0 && args.warmup.is_finite()) {
        return Err(Failure::bad_input(anyhow!("--duration must be > 0 and --warmup >= 0 seconds")));
    }
    if args.concurrency.contains(&0) || args.concurrency.is_empty() {
        return Err(Failure::bad_input(anyhow!("--concurrency values must be >= 1")));
    }
    let lattice = LatticeName::new(args.lattice.clone()).map_err(Failure::bad_input)?;
    if args.actor.actor {
        return super::bench_actor::run(&args, lattice);
    }
    if args.actor.http {
        return super::bench_http::run(&args, lattice);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(bench(args, lattice)).map_err(Failure::from)
}

/// One measured run.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunStats {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) rps: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    /// This process' CPU time per call.
    pub(crate) cpu_proc_us: f64,
    /// The nats-server's CPU time per call (when we know its pid).
    pub(crate) cpu_broker_us: Option<f64>,
}

/// Per-call costs measured in isolation.
#[derive(Clone, Copy, Debug, Default)]
struct Split {
    codec_us: f64,
    sign_us: f64,
    verify_us: f64,
    verify_batched_us: f64,
}

/// What every bench mode starts with: the NATS server (the bench's own unless
/// `--nats-url` names one), the machine's facts (printed first as a JSON line with
/// `--json`), and where progress lines go.
pub(crate) struct Setup<'a> {
    args: &'a Args,
    /// The server's URL.
    pub(crate) url: String,
    /// The nats-server the bench started (stopped when dropped).
    pub(crate) own_server: Option<NatsServer>,
    pub(crate) nproc: usize,
    pub(crate) model: String,
}

impl<'a> Setup<'a> {
    pub(crate) fn start(args: &'a Args) -> anyhow::Result<Self> {
        let own_server = match &args.nats_url {
            Some(_) => None,
            None => Some(start_nats_server()?),
        };
        let url = args.nats_url.clone().or_else(|| own_server.as_ref().map(NatsServer::url)).unwrap_or_default();
        let (nproc, model) = machine();
        if args.json {
            println!("{}", json!({"machine": {"nproc": nproc, "model": model}}));
        }
        Ok(Self { args, url, own_server, nproc, model })
    }

    /// The pid of the nats-server the bench started.
    pub(crate) fn broker_pid(&self) -> Option<u32> {
        self.own_server.as_ref().and_then(NatsServer::pid)
    }

    /// How the banner names the server.
    pub(crate) fn server_label(&self) -> &str {
        if self.own_server.is_some() { "started by the bench" } else { self.url.as_str() }
    }

    /// A progress line: stdout under the table, stderr with `--json` (stdout is JSON Lines).
    pub(crate) fn say(&self, line: impl std::fmt::Display) {
        if self.args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// The raw baseline: an echo responder on its own connection, answering every request
    /// on the returned subject with its payload (abort the task to stop it).
    pub(crate) async fn raw_responder(&self) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
        let conn = self.connect().await?;
        let subject = format!("lattice.bench.{}.raw", nuid::next());
        let mut sub = conn.subscribe(subject.clone()).await.context("subscribing the raw responder")?;
        conn.flush().await.context("flush")?;
        let task = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(reply) = msg.reply {
                    drop(conn.publish(reply, msg.payload).await);
                }
            }
        });
        Ok((subject, task))
    }

    /// A new connection to the server (with `--creds`).
    pub(crate) async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        let nats = lattice_rpc::NatsOptions::new(self.url.as_str())
            .creds_file(self.args.creds.clone())
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.url))?;
        Ok(nats.client)
    }
}

async fn bench(args: Args, lattice: LatticeName) -> anyhow::Result<()> {
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
                        let out = c.call(o, t, "Bench.Echo", b).await.map_err(|e| e.to_string())?;
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

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// How long each side runs at a time when raw and Lattice runs are interleaved.
const SLICE: Duration = Duration::from_millis(500);

/// Warm up both sides, then alternate slices of `raw` and `lattice` (in alternating
/// order) until each has run for `duration`. Both sides thus see the same background load,
/// so the ratio stays meaningful on a shared machine.
pub(crate) async fn measure_pair<R, RFut, L, LFut>(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    broker_pids: &[u32],
    raw: R,
    lattice: L,
) -> (RunStats, RunStats)
where
    R: Fn() -> RFut + Clone + Send + 'static,
    RFut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    L: Fn() -> LFut + Clone + Send + 'static,
    LFut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    if !warmup.is_zero() {
        run_loops(concurrency, warmup, raw.clone()).await;
        run_loops(concurrency, warmup, lattice.clone()).await;
    }
    let slices = (duration.as_secs_f64() / SLICE.as_secs_f64()).ceil().max(1.0) as u32;
    let slice = duration / slices;
    let (mut a, mut b) = (Acc::default(), Acc::default());
    for i in 0..slices {
        if i % 2 == 0 {
            a.run(concurrency, slice, broker_pids, raw.clone()).await;
            b.run(concurrency, slice, broker_pids, lattice.clone()).await;
        } else {
            b.run(concurrency, slice, broker_pids, lattice.clone()).await;
            a.run(concurrency, slice, broker_pids, raw.clone()).await;
        }
    }
    (a.finish(), b.finish())
}

/// Latencies, errors, time and CPU ticks gathered over one or more runs of one side.
#[derive(Default)]
struct Acc {
    latencies: Vec<u32>,
    errors: u64,
    elapsed: f64,
    proc_ticks: Option<u64>,
    broker_ticks: Option<u64>,
}

impl Acc {
    async fn run<F, Fut>(&mut self, concurrency: usize, duration: Duration, broker_pids: &[u32], call: F)
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let cpu_before = cpu_ticks(None);
        let brokers = || -> Option<u64> {
            if broker_pids.is_empty() { None } else { broker_pids.iter().map(|&p| cpu_ticks(Some(p))).sum() }
        };
        let broker_before = brokers();
        let started = Instant::now();
        let (latencies, errors) = run_loops(concurrency, duration, call).await;
        self.elapsed += started.elapsed().as_secs_f64();
        let used = |before: Option<u64>, after: Option<u64>| Some(after?.saturating_sub(before?));
        let add = |total: Option<u64>, more: Option<u64>| Some(total.unwrap_or(0) + more?);
        self.proc_ticks = add(self.proc_ticks, used(cpu_before, cpu_ticks(None)));
        self.broker_ticks = add(self.broker_ticks, used(broker_before, brokers()));
        self.latencies.extend(latencies);
        self.errors += errors;
    }

    fn finish(mut self) -> RunStats {
        self.latencies.sort_unstable();
        let calls = self.latencies.len() as u64;
        let per_call = |ticks: Option<u64>| match ticks {
            Some(t) if calls > 0 => Some(t as f64 * TICK_US / calls as f64),
            _ => None,
        };
        RunStats {
            calls,
            errors: self.errors,
            rps: if self.elapsed > 0.0 { calls as f64 / self.elapsed } else { 0.0 },
            p50_us: percentile(&self.latencies, 0.50),
            p99_us: percentile(&self.latencies, 0.99),
            cpu_proc_us: per_call(self.proc_ticks).unwrap_or(0.0),
            cpu_broker_us: per_call(self.broker_ticks),
        }
    }
}

/// `concurrency` tasks calling until `duration` has passed; successful call latencies (µs)
/// and the error count.
async fn run_loops<F, Fut>(concurrency: usize, duration: Duration, call: F) -> (Vec<u32>, u64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let end = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                match call().await {
                    Ok(()) => latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        if let Ok((latencies, e, first)) = done {
            all.extend(latencies);
            errors += e;
            if first_error.is_none() {
                first_error = first;
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("bench: {errors} calls failed, first: {e}");
    }
    (all, errors)
}

fn percentile(sorted: &[u32], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    u64::from(sorted[i])
}

/// Microseconds per clock tick of `/proc/*/stat` (USER_HZ is 100 on Linux).
const TICK_US: f64 = 10_000.0;

/// User + system CPU ticks of this process (or of `pid`), from `/proc`.
pub(crate) fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The CPU count and model name.
pub(crate) fn machine() -> (usize, String) {
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    (nproc, model)
}

/// Start a nats-server, turning the helper's panic (binary missing, not ready) into an error.
pub(crate) fn start_nats_server() -> anyhow::Result<NatsServer> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::panic::catch_unwind(NatsServer::start);
    std::panic::set_hook(hook);
    started.map_err(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown failure".to_owned());
        anyhow!("could not start nats-server (or pass --nats-url): {text}")
    })
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
