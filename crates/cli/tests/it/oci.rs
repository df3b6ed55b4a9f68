//! OCI references end to end, against a real registry (Debian's `docker-registry`), a real
//! nats-server and real `lattice` processes (issue 15 items 2, 3, 5):
//! - `lattice push` an actor and the HTTP server provider archive, `lattice pull` them back;
//! - a host started with only OCI references in its manifest serves HTTP through them, and
//!   starts again with the registry stopped, from its cache;
//! - through the control interface (`lattice start`, `registries.put`): every failure (bad
//!   reference, `:latest`, not found, unreachable, wrong credentials, wrong media type,
//!   digest mismatch, unsigned) is one clear line naming the reference and the cause, while
//!   the host keeps serving HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lattice_test_support::{NatsServer, Registry, closed_port};
use serde_json::Value;

const START: Duration = Duration::from_secs(90);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_lattice")).parent().unwrap().to_owned()
}

/// `lattice-httpserver` lives next to `lattice`; build it if a partial build left it out.
fn httpserver() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path = bin_dir().join("lattice-httpserver");
    if !path.is_file() {
        BUILT.get_or_init(|| {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "lattice-httpserver"]);
            if bin_dir().ends_with("release") {
                cmd.arg("--release");
            }
            assert!(cmd.status().unwrap().success(), "building lattice-httpserver failed");
        });
    }
    path
}

/// A `lattice` command with this test's NATS server and a state directory.
fn lattice_cmd(nats: &NatsServer, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lattice"));
    cmd.args(args)
        .env("LATTICE_NATS_URL", nats.url())
        .env("LATTICE_STATE_DIR", state)
        .env("RUST_LOG", "info")
        .env_remove("LATTICE_NAME")
        .env_remove("LATTICE_CLUSTER_SEED")
        .env_remove("WASMCLOUD_CLUSTER_SEED")
        .env_remove("WASMCLOUD_OCI_ALLOW_LATEST")
        .env_remove("WASMCLOUD_OCI_ALLOWED_INSECURE")
        .env_remove("WASMCLOUD_OCI_REGISTRY")
        .env_remove("WASMCLOUD_OCI_REGISTRY_USER")
        .env_remove("WASMCLOUD_OCI_REGISTRY_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

fn run(nats: &NatsServer, state: &Path, args: &[&str]) -> Output {
    lattice_cmd(nats, state, args).output().unwrap()
}

/// Run a verb that must succeed with `--json`; its first JSON line.
fn json(nats: &NatsServer, state: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = run(nats, state, &all);
    assert!(out.status.success(), "lattice {args:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().next().unwrap()).unwrap()
}

/// One cluster seed for every host of this test binary (a second start is the same lattice).
fn cluster_seed() -> String {
    static SEED: OnceLock<String> = OnceLock::new();
    SEED.get_or_init(|| lattice_proto::ClusterSeed::generate().seed()).clone()
}

/// A running `lattice up` whose stderr lines are collected; SIGTERM (then kill) on drop.
struct Up {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Up {
    fn spawn(nats: &NatsServer, state: &Path, args: &[&str]) -> Self {
        let seed = cluster_seed();
        let mut all = vec!["up", "--cluster-seed", seed.as_str()];
        all.extend_from_slice(args);
        let mut child = lattice_cmd(nats, state, &all).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stderr, keep) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                drop(tx.send(line));
            }
        });
        Self { child, lines, log }
    }

    /// The first line containing every needle (waiting for it).
    fn wait_for(&self, needles: &[&str]) -> String {
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

    fn wait_ready(&self) {
        self.wait_for(&["lattice: host ", " ready"]);
    }

    /// The HTTP address the HTTP server provider reported.
    fn http_addr(&self) -> String {
        let line = self.wait_for(&["http listener started"]);
        line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        super::terminate(&mut self.child);
    }
}

/// A plain HTTP/1.1 GET; returns (status, body length).
fn http_get(addr: &str) -> (u16, usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET /hello HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    (status, body)
}

fn assert_serves(addr: &str, context: &str) {
    let (status, body) = http_get(addr);
    assert_eq!(status, 200, "{context}: the host serves HTTP through the echo actor");
    assert!(body > 0, "{context}: the echo actor answers with the request it got");
}

/// The echo actor compiled from WAT and signed with `lattice claims sign` under `name`.
fn signed_echo(nats: &NatsServer, dir: &Path, name: &str) -> (PathBuf, String) {
    let wat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../actors/echo.wat")).unwrap();
    let raw = dir.join(format!("{name}.wasm"));
    std::fs::write(&raw, wat::parse_str(&wat).unwrap()).unwrap();
    let signed = dir.join(format!("{name}_s.wasm"));
    let out = json(
        nats,
        dir,
        &[
            "claims",
            "sign",
            raw.to_str().unwrap(),
            "--name",
            name,
            "--cap",
            "wasmcloud:httpserver",
            "--output",
            signed.to_str().unwrap(),
        ],
    );
    (signed, out["public_key"].as_str().unwrap().to_owned())
}

/// The HTTP server provider packed into a gzipped provider archive; its path and key.
fn httpserver_archive(nats: &NatsServer, dir: &Path) -> (PathBuf, String) {
    let out = dir.join("httpserver.par.gz");
    let v = json(
        nats,
        dir,
        &[
            "par",
            "create",
            httpserver().to_str().unwrap(),
            "--contract",
            "wasmcloud:httpserver",
            "--name",
            "httpserver",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    (out, v["public_key"].as_str().unwrap().to_owned())
}

/// `lattice push --insecure REF FILE --json`.
fn push(nats: &NatsServer, dir: &Path, reference: &str, file: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["push", "--insecure", reference, file.to_str().unwrap()];
    args.extend_from_slice(extra);
    json(nats, dir, &args)
}

#[test]
fn pushed_artifacts_run_from_oci_references_and_again_offline_from_the_cache() {
    let nats = NatsServer::start();
    let mut registry = Registry::start();
    let reg = registry.authority();
    let work = tempfile::tempdir().unwrap();
    let (actor_file, actor_key) = signed_echo(&nats, work.path(), "echo");
    let (par_file, provider_key) = httpserver_archive(&nats, work.path());

    let actor_ref = format!("{reg}/lattice/echo:0.1.0");
    let provider_ref = format!("oci://{reg}/lattice/httpserver:0.1.0");
    let pushed = push(&nats, work.path(), &actor_ref, &actor_file, &[]);
    assert_eq!(
        (pushed["kind"].as_str(), pushed["claims"]["public_key"].as_str()),
        (Some("actor"), Some(actor_key.as_str()))
    );
    let pushed_par = push(&nats, work.path(), &provider_ref, &par_file, &[]);
    assert_eq!(pushed_par["kind"], "provider");
    assert_eq!(pushed_par["claims"]["contract_id"], "wasmcloud:httpserver");

    // lattice pull: the cache path and the claims.
    let pulled = json(&nats, work.path(), &["pull", "--insecure", &actor_ref]);
    assert_eq!(pulled["digest"], pushed["digest"]);
    assert_eq!(pulled["claims"]["public_key"], actor_key.as_str());
    let path = PathBuf::from(pulled["path"].as_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&actor_file).unwrap(), "the cached artifact is the module");
    assert!(path.starts_with(work.path().join("oci")), "{path:?}");
    // By digest, and the provider archive too.
    let digest_ref = format!("{reg}/lattice/echo@{}", pushed["digest"].as_str().unwrap());
    assert_eq!(
        json(&nats, work.path(), &["pull", "--insecure", &digest_ref])["claims"]["public_key"],
        actor_key.as_str()
    );
    assert_eq!(
        json(&nats, work.path(), &["pull", "--insecure", &provider_ref])["claims"]["public_key"],
        provider_key.as_str()
    );

    // A host with a fresh state directory, only OCI references in its manifest.
    let state = tempfile::tempdir().unwrap();
    let manifest = state.path().join("lattice.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[actors]]\nname = \"echo\"\npath = \"{actor_ref}\"\n\n\
             [[providers]]\nname = \"http\"\npath = \"{provider_ref}\"\n\n\
             [[links]]\nactor = \"echo\"\nprovider = \"http\"\ncontract = \"wasmcloud:httpserver\"\nvalues = {{ address = \"127.0.0.1:0\" }}\n"
        ),
    )
    .unwrap();
    let args = ["--manifest", manifest.to_str().unwrap(), "--allowed-insecure", &reg];
    let up = Up::spawn(&nats, state.path(), &args);
    up.wait_ready();
    assert!(up.log().contains(&format!("lattice: actor echo is {actor_key}")), "{}", up.log());
    assert_serves(&up.http_addr(), "first start");
    assert!(up.log().contains("pulled from the registry"), "{}", up.log());
    let cached = state.path().join("oci").join(pushed["digest"].as_str().unwrap()).join("artifact");
    assert!(cached.is_file(), "the actor is cached by digest at {cached:?}");
    drop(up);

    // The registry goes away: the second start needs no network.
    registry.stop();
    let up = Up::spawn(&nats, state.path(), &args);
    up.wait_ready();
    assert_serves(&up.http_addr(), "offline start");
    let warning = up.wait_for(&[&actor_ref, "unreachable", "earlier pull"]);
    assert!(warning.contains(pushed["digest"].as_str().unwrap()), "{warning}");
}

/// Run `lattice start …` that must fail; its one `error:` line.
fn start_fails(nats: &NatsServer, dir: &Path, args: &[&str]) -> String {
    let out = run(nats, dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "lattice {args:?} should fail; stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_interface_pulls_and_each_failure_is_one_clear_line_while_the_host_serves() {
    let nats = NatsServer::start();
    let open = Registry::start();
    let locked = Registry::builder().user("alice", "s3cret").start();
    let (a, b) = (open.authority(), locked.authority());
    let work = tempfile::tempdir().unwrap();
    let (actor_file, actor_key) = signed_echo(&nats, work.path(), "echo");
    let (par_file, _) = httpserver_archive(&nats, work.path());
    let actor_ref = format!("{a}/lattice/echo:0.1.0");
    let provider_ref = format!("{a}/lattice/httpserver:0.1.0");
    push(&nats, work.path(), &actor_ref, &actor_file, &[]);
    push(&nats, work.path(), &provider_ref, &par_file, &[]);
    let locked_ref = format!("{b}/lattice/echo:0.1.0");
    push(&nats, work.path(), &locked_ref, &actor_file, &["--oci-user", "alice", "--oci-password", "s3cret"]);
    let no_creds = run(
        &nats,
        work.path(),
        &["push", "--insecure", &format!("{b}/lattice/echo:0.2.0"), actor_file.to_str().unwrap()],
    );
    assert_eq!(no_creds.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_creds.stderr).contains("unauthorized"));

    // A host without a manifest; wrong credentials for the locked registry.
    let (seed, host) = {
        let kp = nkeys::KeyPair::new_server();
        (kp.seed().unwrap(), kp.public_key())
    };
    let state = tempfile::tempdir().unwrap();
    let insecure = format!("{a},{b}");
    let up = Up::spawn(
        &nats,
        state.path(),
        &[
            "--host-seed",
            &seed,
            "--allowed-insecure",
            &insecure,
            "--oci-registry",
            &b,
            "--oci-user",
            "alice",
            "--oci-password",
            "wrong",
        ],
    );
    up.wait_ready();
    let dir = work.path();
    let started = json(&nats, dir, &["start", "actor", &actor_ref, "--host", &host]);
    assert_eq!(started["public_key"], actor_key.as_str());
    let provider = json(&nats, dir, &["start", "provider", &provider_ref, "--host", &host]);
    let provider_key = provider["public_key"].as_str().unwrap().to_owned();
    let link =
        run(&nats, dir, &["link", "put", &actor_key, &provider_key, "wasmcloud:httpserver", "address=127.0.0.1:0"]);
    assert!(link.status.success(), "{}", String::from_utf8_lossy(&link.stderr));
    let addr = up.http_addr();
    assert_serves(&addr, "started over the control interface");

    // A tampered blob: the registry serves it unchecked, the host refuses it.
    let (tampered_file, _) = signed_echo(&nats, dir, "tampered");
    let tampered_ref = format!("{a}/lattice/tampered:0.1.0");
    push(&nats, dir, &tampered_ref, &tampered_file, &[]);
    let layer = lattice_host::state_dir::sha256_hex(&std::fs::read(&tampered_file).unwrap());
    let blob = open.blob_path(&format!("sha256:{layer}"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    // An unsigned module pushed by a tool that does not check (as any OCI client can).
    let unsigned_ref = format!("{a}/lattice/unsigned:0.1.0");
    let regs = lattice_oci::Registries::new(
        lattice_oci::OciSettings { allowed_insecure: vec![a.clone()], ..Default::default() },
        dir,
    );
    let unsigned = std::fs::read(dir.join("echo.wasm")).unwrap();
    regs.push(&lattice_oci::OciRef::parse(&unsigned_ref).unwrap(), lattice_oci::ArtifactKind::Actor, unsigned)
        .await
        .unwrap();

    let closed = format!("127.0.0.1:{}/lattice/echo:0.1.0", closed_port());
    let latest = format!("{a}/lattice/echo");
    let missing = format!("{a}/lattice/nope:0.1.0");
    let cases: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (vec!["actor", "oci://echo:0.1.0"], "oci://echo:0.1.0", vec!["name the registry"]),
        (vec!["actor", &latest], &latest, vec!["latest", "--allow-latest"]),
        (vec!["actor", &missing], &missing, vec!["not found"]),
        (vec!["actor", &closed], &closed, vec!["unreachable"]),
        (vec!["actor", &locked_ref], &locked_ref, vec!["unauthorized"]),
        (vec!["provider", &actor_ref], &actor_ref, vec!["wrong media type"]),
        (vec!["actor", &tampered_ref], &tampered_ref, vec!["digest mismatch", &layer]),
        (vec!["actor", &unsigned_ref], &unsigned_ref, vec!["unsigned"]),
    ];
    for (what, reference, causes) in cases {
        let mut args = vec!["start"];
        args.extend_from_slice(&what);
        args.extend_from_slice(&["--host", &host]);
        let line = start_fails(&nats, dir, &args);
        assert!(line.contains(reference.trim_start_matches("oci://")), "the line names the reference: {line}");
        for cause in causes {
            assert!(line.contains(cause), "{what:?}: {cause:?} in {line}");
        }
        assert_serves(&addr, &line);
    }
    assert!(up.log().contains("digest mismatch"), "the host logged it too");

    // registries.put with the right credentials (the 0.82 shape): the locked actor starts.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let body = serde_json::json!({ b.clone(): { "username": "alice", "password": "s3cret", "registryType": "oci" } });
    let reply = client.request("wasmbus.ctl.default.registries.put", body.to_string().into()).await.unwrap();
    assert_eq!(&reply.payload[..], br#"{"accepted":true,"error":""}"#);
    json(&nats, dir, &["stop", "actor", &actor_key, "--host", &host]);
    let started = json(&nats, dir, &["start", "actor", &locked_ref, "--host", &host]);
    assert_eq!(started["public_key"], actor_key.as_str());
    assert_serves(&addr, "after registries.put");
}
