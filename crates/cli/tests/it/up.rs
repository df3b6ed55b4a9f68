//! `lattice up` as real processes over a real nats-server: the demo end to end over HTTP,
//! two hosts sharing an actor's calls, links surviving a host restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::RpcClient;
use lattice_test_support::NatsServer;

const START: Duration = Duration::from_secs(60);

/// The provider binaries the host launches live next to `lattice`; build them if a partial
/// build left them out.
fn ensure_providers() {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = Path::new(env!("CARGO_BIN_EXE_lattice")).parent().unwrap().to_owned();
    if dir.join("lattice-kv").is_file() && dir.join("lattice-httpserver").is_file() {
        return;
    }
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "lattice-kv", "-p", "lattice-httpserver"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building the provider binaries failed");
    });
}

/// A running `lattice up`, stopped with SIGTERM when dropped.
pub(crate) struct Up {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Up {
    pub(crate) fn spawn(args: &[&str], state: &Path) -> Self {
        ensure_providers();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lattice"))
            .arg("up")
            .args(args)
            .env("LATTICE_STATE_DIR", state)
            .env("RUST_LOG", "info")
            .env_remove("LATTICE_CLUSTER_SEED")
            .env_remove("WASMCLOUD_CLUSTER_SEED")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                drop(tx.send(line));
            }
        });
        Self { child, lines, log }
    }

    /// The first line of the log containing `needle` (waiting for it if need be).
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + START;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => {
                    panic!("no line with {needle:?} from lattice up; its log:\n{}", self.log.lock().unwrap().join("\n"))
                }
            }
        }
    }

    /// The first line of the log containing every one of `needles` (waiting if need be).
    pub(crate) fn wait_for_all(&mut self, needles: &[&str]) -> String {
        let deadline = Instant::now() + START;
        loop {
            let found = self.log.lock().unwrap().iter().find(|l| needles.iter().all(|n| l.contains(n))).cloned();
            if let Some(line) = found {
                return line;
            }
            if self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
                panic!("no line with {needles:?} from lattice up; its log:\n{}", self.log.lock().unwrap().join("\n"));
            }
        }
    }

    /// The log lines so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Wait for the `lattice: host N… ready` line (everything in the manifest started).
    pub(crate) fn wait_ready(&mut self) {
        let deadline = Instant::now() + START;
        loop {
            let ready = |l: &String| l.starts_with("lattice: host ") && l.ends_with(" ready");
            if self.log.lock().unwrap().iter().any(ready) {
                return;
            }
            if self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
                panic!("lattice up never got ready; its log:\n{}", self.log.lock().unwrap().join("\n"));
            }
        }
    }

    /// The public key in the `lattice: actor NAME is M…` progress line.
    pub(crate) fn actor_key(&mut self, name: &str) -> ActorKey {
        let line = self.wait_for(&format!("lattice: actor {name} is "));
        ActorKey::parse(line.rsplit(' ').next().unwrap()).unwrap()
    }

    /// Stop with SIGTERM, wait for a clean exit, and return every stderr line.
    pub(crate) fn stop_with_log(mut self) -> Vec<String> {
        self.terminate();
        // The reader thread ends when the pipe closes (the process exited).
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok() {}
        self.log.lock().unwrap().clone()
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub(crate) fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.child.try_wait().unwrap().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "lattice up exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("lattice up did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        super::terminate(&mut self.child);
    }
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub(crate) fn http_get(addr: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

pub(crate) fn counter_of(body: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    v["counter"].as_i64().unwrap()
}

#[test]
fn demo_serves_an_incrementing_counter_over_http() {
    let server = NatsServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut up = Up::spawn(&["--demo", "--nats-url", &server.url(), "--http-port", "0"], state.path());
    let line = up.wait_for("http listener started");
    let addr = line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    up.wait_for("lattice: try: curl");
    // Links reach providers asynchronously: wait until the key-value provider has its link.
    up.wait_for_all(&["[kv default]", "actor linked"]);
    let (status, body) = http_get(&addr);
    assert_eq!(status, 200, "{body}");
    let first = counter_of(&body);
    let (_, body) = http_get(&addr);
    assert_eq!(counter_of(&body), first + 1);
    // The generated cluster seed went to a 0600 file in the state directory; the log names
    // the file and the public key, never the seed.
    let line = up.wait_for("generated cluster seed");
    let seed_path = state.path().join("cluster.seed");
    assert!(line.contains(&seed_path.display().to_string()), "{line}");
    let seed = std::fs::read_to_string(&seed_path).unwrap();
    let public = ClusterSeed::parse(&seed).unwrap().public_key().as_str().to_owned();
    assert!(line.contains(&public), "{line}");
    assert!(!up.log.lock().unwrap().iter().any(|l| l.contains(seed.trim())), "the seed was printed");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&seed_path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    up.stop();
}

fn manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("lattice.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn actors_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../actors").canonicalize().unwrap().to_string_lossy().into_owned()
}

pub(crate) fn client(url: &str, seed: &ClusterSeed) -> (tokio::runtime::Runtime, RpcClient) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let nats = rt.block_on(async_nats::connect(url)).unwrap();
    let _guard = rt.enter();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let client = RpcClient::builder(nats, LatticeName::new("default").unwrap(), seed.clone(), host)
        .timeout(Duration::from_secs(5))
        .build();
    (rt, client)
}

/// `HttpServer.HandleRequest` with an empty GET, as the HTTP server provider sends it.
fn http_invocation(rt: &tokio::runtime::Runtime, client: &RpcClient, actor: &ActorKey) -> Vec<u8> {
    let origin = WasmCloudEntity::provider(
        &ProviderKey::parse(&nkeys::KeyPair::new_service().public_key()).unwrap(),
        &LinkName::new("default").unwrap(),
        "wasmcloud:httpserver",
    );
    // msgpack {method, path, queryString, header: {}, body: bin8 ""}
    let mut msg = vec![0x85];
    for (k, v) in [("method", "GET"), ("path", "/"), ("queryString", "")] {
        msg.push(0xa0 | k.len() as u8);
        msg.extend_from_slice(k.as_bytes());
        msg.push(0xa0 | v.len() as u8);
        msg.extend_from_slice(v.as_bytes());
    }
    msg.extend_from_slice(b"\xa6header\x80\xa4body\xc4\x00");
    rt.block_on(client.call(origin, WasmCloudEntity::actor(actor), "HttpServer.HandleRequest", msg)).unwrap()
}

/// The body of the HttpResponse the counter and echo actors answer with.
fn response_body(bytes: &[u8]) -> &[u8] {
    let at = bytes.windows(5).position(|w| w == b"\xa4body").unwrap() + 5;
    assert_eq!(bytes[at], 0xc6, "bin32 body");
    &bytes[at + 5..]
}

/// `out_msgs` of each host's RPC connection, from the server's `/connz`.
fn rpc_out_msgs(monitor_port: u16) -> Vec<(String, u64)> {
    let mut stream = TcpStream::connect(("127.0.0.1", monitor_port)).unwrap();
    write!(stream, "GET /connz?limit=1024 HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json: serde_json::Value = serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    let mut out: Vec<(String, u64)> = json["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("lattice-host") && n.ends_with(" rpc")))
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["out_msgs"].as_u64().unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn two_hosts_share_an_actors_calls() {
    let server = NatsServer::builder().monitoring(true).start();
    let state = tempfile::tempdir().unwrap();
    let seed = ClusterSeed::generate();
    let m = manifest(
        state.path(),
        &format!("[[actors]]\nname = \"echo\"\nwat = \"{}/echo.wat\"\ninstances = 4\n", actors_dir()),
    );
    let args = ["--manifest", m.to_str().unwrap(), "--nats-url", &server.url(), "--cluster-seed", &seed.seed()];
    // One state directory: both hosts sign the actor with the same module key.
    let mut a = Up::spawn(&args, state.path());
    let actor = a.actor_key("echo");
    a.wait_ready();
    let mut b = Up::spawn(&args, state.path());
    assert_eq!(b.actor_key("echo"), actor);
    b.wait_ready();

    let monitor = server.monitor_port().unwrap();
    let before = rpc_out_msgs(monitor);
    assert_eq!(before.len(), 2, "{before:?}");
    let (rt, client) = client(&server.url(), &seed);
    const CALLS: u64 = 200;
    for _ in 0..CALLS {
        let answer = http_invocation(&rt, &client, &actor);
        assert!(response_body(&answer).starts_with(b"\x85"), "echo answers the request it got");
    }
    let after = rpc_out_msgs(monitor);
    let shares: Vec<u64> = after.iter().zip(&before).map(|((_, n), (_, m))| n - m).collect();
    assert!(shares.iter().sum::<u64>() >= CALLS, "{shares:?}");
    for share in &shares {
        assert!(*share >= CALLS / 5, "each host serves a fair part of the calls: {shares:?}");
    }
    a.stop();
    b.stop();
}

#[test]
fn links_survive_a_host_restart() {
    let server = NatsServer::start();
    let state = tempfile::tempdir().unwrap();
    let seed = ClusterSeed::generate();
    let actors = format!(
        "[[actors]]\nname = \"counter\"\nwat = \"{}/counter.wat\"\ncaps = [\"wasmcloud:httpserver\", \"wasmcloud:keyvalue\"]\n\n\
         [[providers]]\nname = \"kv\"\npath = \"lattice-kv\"\ncontract = \"wasmcloud:keyvalue\"\n",
        actors_dir()
    );
    let with_link = manifest(state.path(), &format!("{actors}\n[[links]]\nactor = \"counter\"\nprovider = \"kv\"\n"));
    let args = |m: &Path| {
        vec![
            "--manifest".to_owned(),
            m.to_string_lossy().into_owned(),
            "--nats-url".to_owned(),
            server.url(),
            "--cluster-seed".to_owned(),
            seed.seed(),
        ]
    };
    let a_args = args(&with_link);
    let mut a = Up::spawn(&a_args.iter().map(String::as_str).collect::<Vec<_>>(), state.path());
    let actor = a.actor_key("counter");
    a.wait_ready();
    a.wait_for_all(&["[kv default]", "actor linked"]);
    let (rt, client) = client(&server.url(), &seed);
    let first = counter_of(std::str::from_utf8(response_body(&http_invocation(&rt, &client, &actor))).unwrap());
    a.stop();

    // The restarted host's manifest has no link: the one in LATTICEDATA_default is used.
    let without_link = manifest(state.path(), &actors);
    let b_args = args(&without_link);
    let mut b = Up::spawn(&b_args.iter().map(String::as_str).collect::<Vec<_>>(), state.path());
    assert_eq!(b.actor_key("counter"), actor);
    b.wait_ready();
    // The link comes from the bucket, in the provider's HostData.
    b.wait_for_all(&["[kv default]", "actor linked"]);
    let second = counter_of(std::str::from_utf8(response_body(&http_invocation(&rt, &client, &actor))).unwrap());
    assert_eq!(second, first + 1);
    b.stop();
}

/// A GET that reports what came back: (status, `Retry-After` header, body).
fn http_get_full(addr: &str) -> (u16, Option<String>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let retry_after = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("retry-after")))
        .map(|(_, v)| v.trim().to_owned());
    (status, retry_after, body.to_owned())
}

/// Drive the demo counter until `until` says stop (bounded by `limit`): the counter values
/// the successful requests were acknowledged with, and the number of 503 answers carrying
/// `Retry-After` (the lattice is unreachable; other 503s — the actor not subscribed yet, a
/// timeout — and the actor's 500 when its own key-value call failed are tolerated too:
/// none of them acknowledges an increment).
fn drive(addr: &str, limit: Duration, mut until: impl FnMut(usize) -> bool) -> (Vec<i64>, usize) {
    let (mut acked, mut unavailable) = (Vec::new(), 0);
    let deadline = Instant::now() + limit;
    while !until(acked.len()) {
        assert!(Instant::now() < deadline, "no progress within {limit:?}: {} acknowledged", acked.len());
        match http_get_full(addr) {
            (200, _, body) => acked.push(counter_of(&body)),
            (503, retry_after, _) => {
                unavailable += usize::from(retry_after.is_some());
                std::thread::sleep(Duration::from_millis(20));
            }
            // The actor's own key-value call failed (the broker went away under it): not
            // acknowledged, so it may or may not have been applied.
            (500, _, body) if body.contains("actor failed") => std::thread::sleep(Duration::from_millis(20)),
            (status, _, body) => panic!("unexpected {status}: {body}"),
        }
    }
    (acked, unavailable)
}

/// Every acknowledged increment is in the final count: acknowledged values only grow and
/// the count read afterwards is above all of them.
fn assert_nothing_lost(addr: &str, acked: &[i64]) {
    assert!(acked.windows(2).all(|w| w[0] < w[1]), "an acknowledged value repeated or went back: {acked:?}");
    let (status, _, body) = http_get_full(addr);
    assert_eq!(status, 200, "{body}");
    let last = *acked.last().unwrap();
    assert!(counter_of(&body) > last, "final {body} does not include acknowledged {last}");
}

fn demo_addr(up: &mut Up) -> String {
    let line = up.wait_for("http listener started");
    let addr = line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    up.wait_for("lattice: try: curl");
    up.wait_for_all(&["[kv default]", "actor linked"]);
    addr
}

/// Issue 17 "nothing lost": the demo counter through a broker restart (503 + Retry-After
/// while it is down, never a hang) and through the loss of a cluster node with three
/// replicas; no acknowledged increment is lost. Bounds are generous; timings are measured by
/// scripts/chaos.sh.
#[test]
fn no_acknowledged_increment_is_lost_across_a_broker_restart_and_a_node_kill() {
    let mut server = NatsServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut up = Up::spawn(&["--demo", "--nats-url", &server.url(), "--http-port", "0"], state.path());
    let addr = demo_addr(&mut up);
    let (mut acked, _) = drive(&addr, START, |n| n >= 20);
    server.kill();
    // While it is down, requests fail fast with 503 (a hang would trip the read timeout).
    let t = Instant::now();
    let (during, unavailable) = drive(&addr, Duration::from_secs(30), |_| t.elapsed() > Duration::from_secs(1));
    assert!(unavailable > 0, "no 503 with Retry-After while the broker was down");
    acked.extend(during);
    server.restart();
    let (after, _) = drive(&addr, Duration::from_secs(60), |n| n >= 20);
    acked.extend(after);
    assert_nothing_lost(&addr, &acked);
    up.stop();

    let mut cluster = lattice_test_support::NatsCluster::start();
    let state = tempfile::tempdir().unwrap();
    let urls = cluster.urls().join(",");
    let mut up = Up::spawn(&["--demo", "--nats-url", &urls, "--js-replicas", "3", "--http-port", "0"], state.path());
    let addr = demo_addr(&mut up);
    let (mut acked, _) = drive(&addr, START, |n| n >= 20);
    cluster.kill_node(0);
    let (after, _) = drive(&addr, Duration::from_secs(60), |n| n >= 40);
    acked.extend(after);
    assert_nothing_lost(&addr, &acked);
    up.stop();
}

/// A plain HTTP/1.1 GET of `path`; returns (status, body).
fn http_get_path(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `lattice get hosts --json` over `ctl_url`: the one host's reply.
fn ping_one_host(ctl_url: &str) -> serde_json::Value {
    let out = super::lattice(&["get", "hosts", "--json", "--nats-url", ctl_url], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut hosts: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hosts.len(), 1, "{text}");
    hosts.remove(0)
}

/// Poll `ping_one_host` until `done` holds for the reply (at most 30 s).
fn ping_until(ctl_url: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let host = ping_one_host(ctl_url);
        if done(&host) {
            return host;
        }
        assert!(Instant::now() < deadline, "{what}: never seen; last reply {host}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 17 item 2: a host whose RPC connection drops says so — in its `ping.hosts` reply
/// (so `lattice get hosts` shows it, answered over the control connection, which stays
/// up) and on `/healthz` (503 while down) — and after the broker returns reports the drop
/// and how long it lasted, and is healthy again.
#[test]
fn a_dropped_rpc_connection_shows_in_get_hosts_and_on_healthz() {
    let mut rpc_server = NatsServer::start();
    let ctl_server = NatsServer::start();
    let (rpc_url, ctl_url) = (rpc_server.url(), ctl_server.url());
    let state = tempfile::tempdir().unwrap();
    let mut up =
        Up::spawn(&["--rpc-url", &rpc_url, "--ctl-url", &ctl_url, "--metrics-addr", "127.0.0.1:0"], state.path());
    let line = up.wait_for("metrics on http://");
    let metrics = line.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    up.wait_ready();

    let host = ping_one_host(&ctl_url);
    assert_eq!(host["connections"]["rpc"]["connected"], true, "{host}");
    assert_eq!(host["connections"]["rpc"]["disconnects"], 0, "{host}");
    assert_eq!(http_get_path(&metrics, "/healthz"), (200, "ok\n".to_owned()));

    rpc_server.kill();
    let host = ping_until(&ctl_url, "rpc reported down", |h| h["connections"]["rpc"]["connected"] == false);
    assert_eq!(host["connections"]["ctl"]["connected"], true, "{host}");
    let (status, body) = http_get_path(&metrics, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("rpc DOWN for "), "{body}");
    let table = super::lattice(&["get", "hosts", "--nats-url", &ctl_url], b"");
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("rpc DOWN for "), "{table}");

    rpc_server.restart();
    let host = ping_until(&ctl_url, "rpc reported back", |h| h["connections"]["rpc"]["connected"] == true);
    assert_eq!(host["connections"]["rpc"]["disconnects"], 1, "{host}");
    assert!(host["connections"]["rpc"]["last_outage_ms"].as_u64().is_some_and(|ms| ms > 0), "{host}");
    assert_eq!(http_get_path(&metrics, "/healthz"), (200, "ok\n".to_owned()));
    let table = super::lattice(&["get", "hosts", "--nats-url", &ctl_url], b"");
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("rpc up (1 drop, last outage "), "{table}");
    let (_, text) = http_get_path(&metrics, "/metrics");
    assert!(text.contains("lattice_host_nats_disconnects_total{connection=\"rpc\"} 1"), "{text}");
    up.stop();
}

/// The newcomer's path when the default port is taken (issue 20, item 5): `lattice up --demo`
/// asked for a NATS URL whose port something else holds (here a listener this test owns, not
/// 4222: tests run in parallel) starts its server on another port and prints the exact next
/// commands with `--nats-url`; the printed `lattice get hosts` works as printed.
#[test]
fn demo_on_a_busy_port_starts_nats_elsewhere_and_prints_the_next_commands() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let asked = format!("nats://127.0.0.1:{busy}");
    let mut up = Up::spawn(&["--demo", "--nats-url", &asked, "--http-port", "0"], state.path());
    let moved = up.wait_for("is busy");
    assert!(moved.contains(&format!("port {busy} is busy")), "{moved}");
    let listening = up.wait_for("nats-server listening on ");
    let url = listening.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("nats://127.0.0.1:") && url != asked, "{listening}");
    up.wait_ready();
    let next = up.wait_for("next, in another terminal:");
    let command = next.split("terminal:").nth(1).unwrap().trim().to_owned();
    assert_eq!(command, format!("lattice get hosts --nats-url {url}"));
    let ui_line = up.wait_for("lattice ui --nats-url");
    assert!(ui_line.contains(&format!("lattice ui --nats-url {url} --issuer C")), "{ui_line}");
    // Run the printed command as printed (minus the program name).
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let out = super::lattice(&args, b"");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    let host = up.wait_for("lattice: host N");
    let host = host.split_whitespace().nth(2).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(host), "{}", String::from_utf8_lossy(&out.stdout));
    up.stop();
    drop(held);
}
