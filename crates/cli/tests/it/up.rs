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
