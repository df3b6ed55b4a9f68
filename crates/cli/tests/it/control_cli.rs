//! The control verbs (`get`, `start`, `call`, `scale`, `link`, `events`, `stop`) as real
//! processes against two real `lattice up` hosts on a real nats-server (issue 7, "Done
//! when"): an actor started on both hosts (by `--host` and by auction with a constraint),
//! calls spread over them, scale to 3 and back to 1 seen in inventories and events, a link
//! put through the control interface reaching the provider and `LATTICEDATA_default`, a
//! malformed control message answered `accepted:false` while the host keeps serving, and
//! the exit codes of CONVENTIONS.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lattice_control::storage::linkdef_key;
use lattice_proto::{ClusterSeed, LinkDefinition};
use lattice_test_support::NatsServer;
use serde_json::Value;

const START: Duration = Duration::from_secs(60);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_lattice")).parent().unwrap().to_owned()
}

/// `lattice-kv` lives next to `lattice`; build it if a partial build left it out.
fn kv_provider() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path = bin_dir().join("lattice-kv");
    if !path.is_file() {
        BUILT.get_or_init(|| {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "lattice-kv"]);
            if bin_dir().ends_with("release") {
                cmd.arg("--release");
            }
            assert!(cmd.status().unwrap().success(), "building lattice-kv failed");
        });
    }
    path
}

/// The environment every `lattice` process of a test shares.
struct Lattice {
    server: NatsServer,
    seed: ClusterSeed,
    state: tempfile::TempDir,
}

impl Lattice {
    fn new(server: NatsServer) -> Self {
        Self { server, seed: ClusterSeed::generate(), state: tempfile::tempdir().unwrap() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lattice"));
        cmd.args(args)
            .env("LATTICE_NATS_URL", self.server.url())
            .env("LATTICE_CLUSTER_SEED", self.seed.seed())
            .env("LATTICE_STATE_DIR", self.state.path())
            .env_remove("LATTICE_NAME")
            .env_remove("LATTICE_HOST_SEED")
            .env_remove("WASMCLOUD_CLUSTER_SEED")
            .env_remove("WASMCLOUD_HOST_SEED")
            .stdin(Stdio::null());
        cmd
    }

    /// Run a verb to completion.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run a verb that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lattice {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run a verb with `--json`; its lines as JSON.
    fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        self.ok(&all).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Start `lattice up` with a known host key and `labels`.
    fn up(&self, host_seed: &str, labels: &[&str]) -> Proc {
        let mut args =
            vec!["up".to_owned(), "--allow-file-load".to_owned(), "--host-seed".to_owned(), host_seed.to_owned()];
        for l in labels {
            args.extend(["--label".to_owned(), (*l).to_owned()]);
        }
        let mut cmd = self.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.env("RUST_LOG", "info");
        let mut proc = Proc::spawn(cmd);
        proc.wait_stderr(|l| l.starts_with("lattice: host ") && l.ends_with(" ready"));
        proc
    }
}

/// A child process whose stdout and stderr lines are collected.
struct Proc {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    unclaimed: Vec<Value>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let pump = |read: Box<dyn Read + Send>, log: Arc<Mutex<Vec<String>>>| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(read).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line.clone());
                    drop(tx.send(line));
                }
            });
            rx
        };
        let stdout = pump(Box::new(child.stdout.take().unwrap()), log.clone());
        let stderr = pump(Box::new(child.stderr.take().unwrap()), log.clone());
        Self { child, stdout, stderr, log, unclaimed: Vec::new() }
    }

    fn wait_stderr(&mut self, mut pred: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + START;
        loop {
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no expected stderr line; output so far:\n{}", self.log.lock().unwrap().join("\n")),
            }
        }
    }

    /// The first stdout line not taken yet that is a JSON object `pred` accepts (lines it
    /// skips stay for later calls: events from two hosts arrive in any order).
    fn next_json(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Value {
        if let Some(i) = self.unclaimed.iter().position(&mut pred) {
            return self.unclaimed.remove(i);
        }
        let deadline = Instant::now() + START;
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    if pred(&v) {
                        return v;
                    }
                    self.unclaimed.push(v);
                }
                Err(_) => panic!(
                    "no expected stdout line (process: {:?}); output so far:\n{}",
                    self.child.try_wait(),
                    self.log.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// Wait for the process to exit by itself.
    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the process did not exit; output:\n{}", self.log.lock().unwrap().join("\n"));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        super::terminate(&mut self.child);
    }
}

fn host_seed() -> (String, String) {
    let kp = nkeys::KeyPair::new_server();
    (kp.seed().unwrap(), kp.public_key())
}

/// The echo actor, compiled and signed with `lattice claims sign`; its path and key.
fn signed_echo(lattice: &Lattice) -> (PathBuf, String) {
    let wat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../actors/echo.wat")).unwrap();
    let dir = lattice.state.path();
    let raw = dir.join("echo.wasm");
    std::fs::write(&raw, wat::parse_str(&wat).unwrap()).unwrap();
    let signed = dir.join("echo_s.wasm");
    let out = lattice.json(&[
        "claims",
        "sign",
        raw.to_str().unwrap(),
        "--name",
        "echo",
        "--cap",
        "wasmcloud:httpserver",
        "--output",
        signed.to_str().unwrap(),
    ]);
    (signed, out[0]["public_key"].as_str().unwrap().to_owned())
}

/// `out_msgs` of each host's RPC connection (`/connz`): how many messages each sent,
/// replies to calls included.
fn rpc_out_msgs(monitor_port: u16) -> Vec<u64> {
    let mut stream = TcpStream::connect(("127.0.0.1", monitor_port)).unwrap();
    write!(stream, "GET /connz?limit=1024 HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json: Value = serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    let mut out: Vec<(String, u64)> = json["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("lattice-host") && n.ends_with(" rpc")))
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["out_msgs"].as_u64().unwrap()))
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

fn max_instances(inv: &Value, actor: &str) -> Option<u64> {
    inv["actors"].as_array()?.iter().find(|a| a["id"] == actor)?["instances"][0]["max_instances"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_verbs_drive_two_real_hosts() {
    let lattice = Lattice::new(NatsServer::builder().monitoring(true).start());
    let (seed_a, host_a) = host_seed();
    let (seed_b, host_b) = host_seed();
    let _a = lattice.up(&seed_a, &["zone=east"]);
    let mut b = lattice.up(&seed_b, &["zone=west"]);
    let nats = async_nats::connect(lattice.server.url()).await.unwrap();

    // get hosts: both, in the 0.82 ping shape.
    let hosts = lattice.json(&["get", "hosts"]);
    let ids: Vec<&str> = hosts.iter().map(|h| h["id"].as_str().unwrap()).collect();
    let mut want = vec![host_a.as_str(), host_b.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(hosts[0]["lattice_prefix"], "default");
    assert!(hosts.iter().any(|h| h["labels"]["zone"] == "west"));
    let table = lattice.ok(&["get", "hosts"]);
    assert!(table.starts_with("HOST ID") && table.contains(&host_a), "{table}");

    // Events, watched from here on.
    let mut events = Proc::spawn(lattice.command(&["events", "--json"]));
    events.wait_stderr(|l| l.contains("listening"));

    // start actor: on host A by --host, on host B by an auction constrained to zone=west.
    let (wasm, actor) = signed_echo(&lattice);
    let wasm = wasm.to_str().unwrap();
    let started = lattice.json(&["start", "actor", wasm, "--host", &host_a, "--count", "2"]);
    assert_eq!(started[0]["result"], "started");
    assert_eq!(started[0]["public_key"], actor.as_str());
    let started = lattice.json(&["start", "actor", wasm, "--constraint", "zone=west"]);
    assert_eq!(started[0]["host_id"], host_b.as_str());
    let nobody = lattice.run(&["start", "actor", wasm, "--constraint", "zone=mars", "--collect-ms", "300"]);
    assert_eq!(nobody.status.code(), Some(1), "{}", String::from_utf8_lossy(&nobody.stderr));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("error: no host bid"));
    events.next_json(|e| e["type"] == "com.wasmcloud.lattice.actors_started" && e["source"] == host_b.as_str());

    let inv = lattice.json(&["get", "inventory", &host_a]);
    assert_eq!(max_instances(&inv[0], &actor), Some(2));
    assert_eq!(inv[0]["actors"][0]["image_ref"], format!("file://{wasm}"));

    // call: reaches the actor and prints its reply; calls spread over both hosts.
    let monitor = lattice.server.monitor_port().unwrap();
    let before = rpc_out_msgs(monitor);
    assert_eq!(before.len(), 2);
    for i in 0..20 {
        let text = format!("hello {i}");
        let reply = lattice.ok(&["call", &actor, "HttpServer.HandleRequest", "--data", &text]);
        assert_eq!(reply, format!("{text}\n"));
    }
    let after = rpc_out_msgs(monitor);
    let shares: Vec<u64> = after.iter().zip(&before).map(|(n, m)| n - m).collect();
    assert!(shares.iter().all(|s| *s > 0), "both hosts serve calls: {shares:?}");
    let json = lattice.json(&["call", &actor, "Echo.Raw", "--data", "raw"]);
    assert_eq!(json[0]["ok"], true);
    assert!(json[0]["reply_hex"].as_str().unwrap().ends_with("726177"), "{json:?}");

    // scale to 3 and back to 1: inventories and events agree.
    let scaled = lattice.json(&["scale", "actor", &actor, "3"]);
    assert_eq!(scaled.len(), 2, "both hosts run it");
    for host in [&host_a, &host_b] {
        let inv = lattice.json(&["get", "inventory", host]);
        assert_eq!(max_instances(&inv[0], &actor), Some(3));
        events.next_json(|e| {
            e["type"] == "com.wasmcloud.lattice.actor_scaled"
                && e["source"] == host.as_str()
                && e["data"]["max_instances"] == 3
        });
    }
    assert!(scaled.iter().all(|s| s["result"] == "scaled"), "{scaled:?}");
    // --no-wait: reported as accepted at once; the host still does it.
    let accepted = lattice.json(&["scale", "actor", &actor, "1", "--host", &host_b, "--no-wait"]);
    assert_eq!(accepted[0]["result"], "accepted", "{accepted:?}");
    events.next_json(|e| {
        e["type"] == "com.wasmcloud.lattice.actor_scaled"
            && e["source"] == host_b.as_str()
            && e["data"]["max_instances"] == 1
    });
    let inv = lattice.json(&["get", "inventory", &host_b]);
    assert_eq!(max_instances(&inv[0], &actor), Some(1));

    // A provider from a bare executable (packed into an archive), then a link to it.
    let kv = kv_provider();
    let provider = lattice.json(&[
        "start",
        "provider",
        kv.to_str().unwrap(),
        "--contract",
        "wasmcloud:keyvalue",
        "--host",
        &host_a,
    ]);
    let provider_key = provider[0]["public_key"].as_str().unwrap().to_owned();
    assert_eq!(provider[0]["contract_id"], "wasmcloud:keyvalue");
    let mut to_provider =
        nats.subscribe(format!("wasmbus.rpc.default.{provider_key}.default.linkdefs.put")).await.unwrap();
    nats.flush().await.unwrap();
    lattice.ok(&["link", "put", &actor, &provider_key, "wasmcloud:keyvalue", "bucket=control_cli"]);
    let links = lattice.json(&["get", "links"]);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["values"]["bucket"], "control_cli");
    let msg = tokio::time::timeout(START, to_provider.next()).await.unwrap().unwrap();
    let delivered = LinkDefinition::decode(&msg.payload).unwrap();
    assert_eq!((delivered.actor_id.as_str(), delivered.values.get("bucket")), (actor.as_str(), Some("control_cli")));
    let kv_store = async_nats::jetstream::new(nats.clone()).get_key_value("LATTICEDATA_default").await.unwrap();
    let key = linkdef_key(&actor, "wasmcloud:keyvalue", "default");
    let stored = kv_store.get(&key).await.unwrap().expect("the link is in LATTICEDATA_default");
    assert_eq!(serde_json::from_slice::<LinkDefinition>(&stored).unwrap(), delivered);
    events.next_json(|e| e["type"] == "com.wasmcloud.lattice.linkdef_set");
    lattice.ok(&["link", "del", &actor, "wasmcloud:keyvalue"]);
    assert!(lattice.json(&["link", "get"]).is_empty());

    // A malformed control message gets accepted:false; the host keeps serving.
    for (subject, body) in [
        ("wasmbus.ctl.default.linkdefs.put".to_owned(), "{bad"),
        (format!("wasmbus.ctl.default.cmd.{host_a}.scale"), "[]"),
    ] {
        let reply = nats.request(subject.clone(), body.to_owned().into()).await.unwrap();
        let ack: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(ack["accepted"], false, "{subject}: {ack}");
        assert!(ack["error"].as_str().unwrap().starts_with("failed to deserialize"), "{ack}");
    }
    assert_eq!(lattice.json(&["get", "hosts"]).len(), 2);
    assert_eq!(max_instances(&lattice.json(&["get", "inventory", &host_a])[0], &actor), Some(3));

    // Stop by key and by reference; then stop host B.
    let stopped = lattice.json(&["stop", "provider", &provider_key]);
    assert_eq!(stopped[0]["host_id"], host_a.as_str());
    let stopped = lattice.json(&["stop", "actor", &format!("file://{wasm}"), "--host", &host_a]);
    assert_eq!(stopped[0]["result"], "stopped");
    let inv = lattice.json(&["get", "inventory", &host_a]);
    assert!(inv[0]["actors"].as_array().unwrap().is_empty() && inv[0]["providers"].as_array().unwrap().is_empty());
    let human = lattice.ok(&["stop", "actor", &actor]);
    assert_eq!(human.trim(), format!("actor {actor} stopped on host {host_b}"));
    lattice.ok(&["stop", "host", &host_b]);
    assert!(b.wait_exit(START).success());
    events.next_json(|e| e["type"] == "com.wasmcloud.lattice.host_stopped" && e["source"] == host_b.as_str());
    assert_eq!(lattice.json(&["get", "hosts"]).len(), 1);
}

#[test]
fn verbs_exit_with_the_conventional_codes() {
    let lattice = Lattice::new(NatsServer::start());
    let code = |args: &[&str]| {
        let out = lattice.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            assert!(stderr.lines().any(|l| l.starts_with("error: ")), "{args:?}: {stderr}");
        }
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let actor = nkeys::KeyPair::new_module().public_key();
    let provider = nkeys::KeyPair::new_service().public_key();

    // Nothing runs: empty answers are not failures; commands that need a host are a "no".
    assert_eq!(code(&["get", "hosts", "--collect-ms", "200"]).1, "no hosts answered\n");
    assert_eq!(code(&["get", "hosts", "--json", "--collect-ms", "200"]).1, "");
    assert_eq!(code(&["scale", "actor", &actor, "2", "--collect-ms", "200"]).0, Some(1));
    assert_eq!(code(&["stop", "actor", &actor, "--collect-ms", "200"]).0, Some(1));
    let (status, _, stderr) = code(&["call", &actor, "Op"]);
    assert_eq!(status, Some(1));
    assert!(stderr.contains("no responders"), "{stderr}");
    // linkdefs.* has no responder either.
    assert_eq!(code(&["link", "put", &actor, &provider, "wasmcloud:keyvalue"]).0, Some(1));

    // Bad input: exit 2.
    for args in [
        vec!["get", "inventory", "NOTAHOST"],
        vec!["link", "put", &provider, &actor, "wasmcloud:keyvalue"],
        vec!["link", "put", &actor, &provider, "wasmcloud:keyvalue", "novalue"],
        vec!["link", "del", &actor, "c", "--link-name", "a.b"],
        vec!["start", "actor", "/no/such/module.wasm"],
        vec!["start", "actor", "/no/such/module.wasm", "--count", "0"],
        vec!["scale", "actor", &provider, "1"],
        vec!["call", "NOTAKEY", "Op"],
        vec!["call", &provider, "Op", "--origin", &actor],
        vec!["call", &provider, "Op", "--contract", "wasmcloud:keyvalue"],
        vec!["events", "--filter", "actor_started"],
        vec!["--bogus-flag"],
    ] {
        assert_eq!(code(&args).0, Some(2), "{args:?}");
    }
    let no_seed = lattice.command(&["call", &actor, "Op"]).env_remove("LATTICE_CLUSTER_SEED").output().unwrap();
    assert_eq!(no_seed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_seed.stderr).contains("a cluster seed is required"));

    // An executable without --contract cannot be started (it needs packing).
    let (status, _, stderr) = code(&["start", "provider", env!("CARGO_BIN_EXE_lattice")]);
    assert_eq!(status, Some(2));
    assert!(stderr.contains("--contract"), "{stderr}");

    // No NATS server: an I/O failure, exit 3.
    let out = lattice.command(&["get", "links"]).env("LATTICE_NATS_URL", "nats://127.0.0.1:1").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
