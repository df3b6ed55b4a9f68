//! `lattice bench --http`: the number users feel — HTTP requests through the HTTP server
//! provider, a Lattice host and the echo wasm actor — next to the same load against a
//! plain HTTP echo server, both driven by `wrk` (issue 10, CONVENTIONS.md "Benchmarks").
//!
//! One bench process, one nats-server (its own unless `--nats-url` names one), one host
//! process (`lattice up --manifest …`, as `--actor` starts it) serving the echo actor with
//! `--instances` and the `lattice-httpserver` provider (found next to `lattice`, then on
//! PATH), linked with `address = 127.0.0.1:{a free port}`. The bench waits for the host's
//! ready line, then until one real `POST` through the whole stack comes back 200 with the
//! request body echoed (the echo actor answers with the request's msgpack, body inside).
//!
//! For each cell (payload × connections), one after the other:
//! - **raw**: `wrk` against a hyper HTTP/1 server inside this process that answers every
//!   request with its body: what HTTP alone costs on this machine;
//! - **http**: the same `wrk` against the provider's listener: HTTP → provider → signed
//!   `HttpServer.HandleRequest` over NATS → host (claims verified) → fresh wasm instance →
//!   back.
//!
//! `wrk` posts `payload` bytes on `connections` keep-alive connections (`-t` = min(2,
//! connections) threads, `--latency`) for `--duration` seconds rounded up to whole seconds
//! (`wrk -d` takes seconds), after a warm-up run of the same length rounded up (skipped with
//! `--warmup 0`). Its Lua `done` hook prints one JSON line with the request count, duration,
//! p50/p99 and every error count (connect, read, write, timeout, non-2xx), so nothing is
//! scraped from its human output. Every error counts: the bench exits 1 when any request
//! failed. Per cell it also reports the CPU time per request of the host process, of the
//! provider process (the host's child) and, when the bench started it, of the nats-server,
//! from `/proc`, over the http run.
//!
//! `wrk` runs on the same 2 cores as everything else: its own CPU is part of both runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lattice_proto::{ClusterSeed, LatticeName};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use super::args::Args;
use super::measure::{cpu_ticks, round1};
use super::setup::{HostProcess, Scratch, Setup};
use crate::exit::{Failure, Outcome};

/// How long the stack may take to answer its first request after the host is ready.
const HTTP_READY_LIMIT: Duration = Duration::from_secs(60);

/// Largest `wrk` thread count (the machine has 2 cores).
const MAX_WRK_THREADS: usize = 2;

/// Microseconds per `/proc` clock tick.
const TICK_US: f64 = 10_000.0;

/// Run `lattice bench --http`.
pub(crate) fn run(args: &Args, lattice: LatticeName) -> Outcome {
    if args.actor.instances == 0 {
        return Err(Failure::bad_input(anyhow!("--instances must be >= 1")));
    }
    let wrk = find_wrk().ok_or_else(|| {
        Failure::from(anyhow!(
            "`wrk` is not installed: `apt-get install -y wrk` (Debian package wrk) and run the bench again"
        ))
    })?;
    // The provider the host will start, found the way `lattice up` finds it; named by its
    // full path in the manifest so the host runs exactly this one.
    let provider = crate::common::exe::find_executable("lattice-httpserver")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let errors = runtime.block_on(bench_http(args, lattice, &wrk, &provider))?;
    if errors > 0 {
        return Err(Failure::no(anyhow!("{errors} HTTP requests failed (see the cells above)")));
    }
    Ok(())
}

/// `wrk` on PATH.
fn find_wrk() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("wrk")).find(|p| p.is_file())
}

/// What the Lua `done` hook prints (one line, prefixed with [`WRK_MARK`]).
#[derive(Clone, Debug, Default, Deserialize)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    timeout: u64,
    status: u64,
}

impl WrkSummary {
    fn rps(&self) -> f64 {
        if self.duration_us == 0 { 0.0 } else { self.requests as f64 * 1e6 / self.duration_us as f64 }
    }

    fn errors(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.status
    }
}

/// The marker in front of the summary line.
const WRK_MARK: &str = "LATTICE_WRK ";

/// The `wrk` script: POST `payload` bytes, print the summary as JSON when done.
fn wrk_script(payload: usize) -> String {
    format!(
        r#"-- written by `lattice bench --http`
wrk.method = "POST"
wrk.body = string.rep("Z", {payload})
wrk.headers["Content-Type"] = "application/octet-stream"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{WRK_MARK}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"#
    )
}

/// Run `wrk` once and return its summary.
fn run_wrk(wrk: &Path, script: &Path, url: &str, connections: usize, seconds: u64) -> anyhow::Result<WrkSummary> {
    let threads = connections.min(MAX_WRK_THREADS);
    let out = Command::new(wrk)
        .arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"))
        .args(["--timeout", "5s", "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed ({}): {}{}", out.status, stdout, String::from_utf8_lossy(&out.stderr));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(WRK_MARK))
        .with_context(|| format!("no summary from wrk:\n{stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("wrk's summary `{line}`"))
}

/// A plain HTTP/1 echo server (the baseline): every request is answered 200 with its body.
async fn start_raw_server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the raw HTTP server")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream.set_nodelay(true));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::<Bytes>::new(body)))
                });
                drop(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await);
            });
        }
    });
    Ok(addr)
}

/// One `POST` of `body` to `addr` (its own connection, `Connection: close`): `Ok` when the
/// answer is 200 and carries the body.
fn probe(addr: SocketAddr, body: &[u8]) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let head = format!(
        "POST /bench HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(format!("answered `{}`", String::from_utf8_lossy(line)));
    }
    if !body.is_empty() && !answer.windows(body.len()).any(|w| w == body) {
        return Err("the answer does not carry the request body".to_owned());
    }
    Ok(())
}

/// The provider processes the host started (its children running `lattice-httpserver`).
fn provider_pids(host_pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{host_pid}/task")) else { return Vec::new() };
    let mut pids: Vec<u32> = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains("lattice-httpserver"))
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// CPU ticks of all `pids` (`None` when one cannot be read, or there are none).
fn ticks(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() { None } else { pids.iter().map(|&p| cpu_ticks(Some(p))).sum() }
}

/// CPU µs per request between two tick readings.
fn per_request(before: Option<u64>, after: Option<u64>, requests: u64) -> Option<f64> {
    let used = after?.checked_sub(before?)?;
    (requests > 0).then(|| round1(used as f64 * TICK_US / requests as f64))
}

async fn bench_http(args: &Args, lattice: LatticeName, wrk: &Path, provider: &Path) -> anyhow::Result<u64> {
    let setup = Setup::start(args)?;
    let url = setup.url.clone();
    let nats_pid = setup.broker_pid();
    let say = |line: String| setup.say(line);
    let (nproc, model) = (setup.nproc, &setup.model);

    // The host: echo actor + HTTP server provider, linked on a free port.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("finding a free port")?.port();
    let http_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let scratch = Scratch::new()?;
    let providers = format!(
        "\n[[providers]]\nname = \"httpserver\"\npath = {}\ncontract = \"wasmcloud:httpserver\"\n\
         vendor = \"lattice\"\n\n[[links]]\nactor = \"echo\"\nprovider = \"httpserver\"\n\
         values = {{ address = \"{http_addr}\" }}\n",
        // A JSON string is a valid TOML basic string (same quotes and escapes).
        serde_json::Value::String(provider.display().to_string())
    );
    let manifest = HostProcess::echo_manifest(&scratch.0, args.actor.instances, &providers)?;
    let seed = ClusterSeed::generate();
    let mut host = HostProcess::spawn(
        &manifest,
        &scratch.0.join("state"),
        &url,
        args.creds.as_deref(),
        &lattice,
        &seed,
        args.actor.host_workers,
    )?;
    let (actor, _) = tokio::task::block_in_place(|| host.wait_ready())?;
    let host_pid = host.pid();
    let first = vec![0x5a_u8; args.payloads.first().copied().unwrap_or(0)];
    let deadline = Instant::now() + HTTP_READY_LIMIT;
    loop {
        match tokio::task::block_in_place(|| probe(http_addr, &first)) {
            Ok(()) => break,
            Err(e) if Instant::now() >= deadline => {
                bail!(
                    "no good answer from http://{http_addr}/ within {} s: {e}; the host's log:\n{}",
                    HTTP_READY_LIMIT.as_secs(),
                    host.tail()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let provider = provider_pids(host_pid);
    let raw_addr = start_raw_server().await?;
    tokio::task::block_in_place(|| probe(raw_addr, &first)).map_err(|e| anyhow!("the raw HTTP server: {e}"))?;

    let seconds = args.duration.ceil().max(1.0) as u64;
    let warmup = if args.warmup > 0.0 { Some(args.warmup.ceil().max(1.0) as u64) } else { None };
    say(format!(
        "lattice bench --http: {nproc} CPUs ({model}); nats-server {}; host process {host_pid} serving the echo actor \
         {actor} ({} instances) behind lattice-httpserver (pid {}) on http://{http_addr}/; wrk {} s per run{}",
        setup.server_label(),
        args.actor.instances,
        provider.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        seconds,
        warmup.map_or_else(String::new, |w| format!(" after {w} s warm-up")),
    ));
    if !args.json {
        println!(
            "\n{:>7} {:>5} | {:>8} {:>8} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} {:>8} | {:>6}",
            "payload",
            "conns",
            "raw/s",
            "http/s",
            "ratio",
            "raw p50",
            "htp p50",
            "raw p99",
            "htp p99",
            "host",
            "provider",
            "nats",
            "errors"
        );
        println!(
            "{:>7} {:>5} | {:>8} {:>8} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} {:>8} | {:>6}",
            "bytes", "", "req/s", "req/s", "", "µs", "µs", "µs", "µs", "µs/req", "µs/req", "µs/req", ""
        );
    }
    let mut errors = 0;
    for &payload in &args.payloads {
        let script = scratch.0.join(format!("post-{payload}.lua"));
        std::fs::write(&script, wrk_script(payload)).context("writing the wrk script")?;
        for &connections in &args.concurrency {
            let raw_url = format!("http://{raw_addr}/bench");
            let http_url = format!("http://{http_addr}/bench");
            let (raw, http, cpu) = tokio::task::block_in_place(|| -> anyhow::Result<_> {
                if let Some(w) = warmup {
                    run_wrk(wrk, &script, &raw_url, connections, w)?;
                    run_wrk(wrk, &script, &http_url, connections, w)?;
                }
                let raw = run_wrk(wrk, &script, &raw_url, connections, seconds)?;
                let before = (ticks(&[host_pid]), ticks(&provider), nats_pid.and_then(|p| cpu_ticks(Some(p))));
                let http = run_wrk(wrk, &script, &http_url, connections, seconds)?;
                let after = (ticks(&[host_pid]), ticks(&provider), nats_pid.and_then(|p| cpu_ticks(Some(p))));
                let cpu = [
                    per_request(before.0, after.0, http.requests),
                    per_request(before.1, after.1, http.requests),
                    per_request(before.2, after.2, http.requests),
                ];
                Ok((raw, http, cpu))
            })?;
            errors += raw.errors() + http.errors();
            report(args, payload, connections, &raw, &http, cpu, seconds);
            if !host.alive() {
                bail!("the host process exited during the run; its log:\n{}", host.tail());
            }
        }
    }
    say(String::new());
    say("raw: wrk against a hyper HTTP/1 echo server in this process. http: wrk against lattice-httpserver → \
         HttpServer.HandleRequest signed per request → host → fresh echo wasm instance → back. host / provider / \
         nats: each process' CPU time per request over the http run."
        .to_owned());
    tokio::task::block_in_place(|| host.stop())?;
    drop(setup);
    drop(scratch);
    Ok(errors)
}

fn report(
    args: &Args,
    payload: usize,
    connections: usize,
    raw: &WrkSummary,
    http: &WrkSummary,
    cpu: [Option<f64>; 3],
    seconds: u64,
) {
    let ratio = if raw.rps() > 0.0 { http.rps() / raw.rps() } else { 0.0 };
    if args.json {
        let line = json!({
            "payload": payload,
            "connections": connections,
            "raw_rps": raw.rps().round() as u64,
            "http_rps": http.rps().round() as u64,
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "raw_p50_us": raw.p50_us,
            "http_p50_us": http.p50_us,
            "raw_p99_us": raw.p99_us,
            "http_p99_us": http.p99_us,
            "errors": raw.errors() + http.errors(),
            "raw_requests": raw.requests,
            "http_requests": http.requests,
            "http_errors": {"connect": http.connect, "read": http.read, "write": http.write, "timeout": http.timeout, "status": http.status},
            "host_cpu_us_per_req": cpu[0],
            "provider_cpu_us_per_req": cpu[1],
            "nats_cpu_us_per_req": cpu[2],
            "instances": args.actor.instances,
            "wrk_threads": connections.min(MAX_WRK_THREADS),
            "duration_s": seconds,
        });
        println!("{line}");
    } else {
        let opt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{payload:>7} {connections:>5} | {:>8.0} {:>8.0} {:>6.3} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} {:>8} | {:>6}",
            raw.rps(),
            http.rps(),
            ratio,
            raw.p50_us,
            http.p50_us,
            raw.p99_us,
            http.p99_us,
            opt(cpu[0]),
            opt(cpu[1]),
            opt(cpu[2]),
            raw.errors() + http.errors(),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_summary_line_parses_and_counts_every_error() {
        let s: WrkSummary = serde_json::from_str(
            r#"{"requests":1200,"duration_us":2000000,"p50_us":700,"p99_us":9000,"connect":1,"read":2,"write":3,"timeout":4,"status":5}"#,
        )
        .unwrap();
        assert_eq!(s.rps(), 600.0);
        assert_eq!(s.errors(), 15);
    }

    #[test]
    fn the_script_posts_the_payload_and_prints_the_mark() {
        let script = wrk_script(1024);
        assert!(script.contains("string.rep(\"Z\", 1024)"));
        assert!(script.contains("wrk.method = \"POST\""));
        assert!(script.contains(WRK_MARK.trim_end()));
    }

    #[test]
    fn cpu_per_request_needs_both_readings() {
        assert_eq!(per_request(Some(10), Some(20), 100), Some(1000.0));
        assert_eq!(per_request(None, Some(20), 100), None);
        assert_eq!(per_request(Some(10), Some(20), 0), None);
    }
}
