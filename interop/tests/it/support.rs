//! What the network-level interop tests share: the product binaries, processes whose stderr
//! is watched line by line (readiness = a log line, never a sleep), a `lattice up` host,
//! and artefacts made with the REAL 0.82-era crates (wascap-signed actors, provider
//! archives packed by provider-archive 0.8.0).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How long anything may take to become ready (debug builds on a busy 2-core machine).
pub const READY: Duration = Duration::from_secs(60);

/// Where the product binaries (`lattice`, `lattice-httpserver`, `lattice-kv`) are:
/// `$LATTICE_BIN_DIR`, else `<repo>/target/debug` (what `cargo build` in the product
/// workspace, and so scripts/test.sh, leaves there).
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("LATTICE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"),
    }
}

/// A product binary, or a loud failure saying how to build it.
pub fn product_bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "the interop suite runs the product binaries, but {} does not exist: build them first \
         (`cargo build -p lattice -p lattice-httpserver -p lattice-kv -p lattice-example-messaging-provider` in the repository root), \
         or point LATTICE_BIN_DIR at the directory holding them",
        path.display()
    );
    path
}

/// The SDK-0.2.0 echo provider of this package.
pub fn echo_provider_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_interop-echo-provider"))
}

/// The repository's `actors/` directory (WAT sources).
pub fn actors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../actors")
}

/// This package's own WAT actors.
pub fn interop_actor(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("actors").join(name)
}

/// The 0.82 host transcript and HostData vectors (the repository copy of
/// vectors/host082, in the proto crate's fixtures).
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("LATTICE_HOST082_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/proto/tests/vectors/host082"),
    }
}

struct LogState {
    lines: Mutex<Vec<String>>,
    closed: Mutex<bool>,
    notify: Notify,
}

/// A child process whose stderr lines are collected; killed (SIGTERM, then SIGKILL) on drop.
pub struct Proc {
    name: String,
    child: Child,
    log: Arc<LogState>,
}

impl Proc {
    /// Spawn `command` with stderr piped (stdout is inherited by the test harness unless the
    /// caller redirected it).
    pub fn spawn(name: &str, mut command: Command) -> Self {
        command.stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log =
            Arc::new(LogState { lines: Mutex::new(Vec::new()), closed: Mutex::new(false), notify: Notify::new() });
        let stderr = child.stderr.take().expect("piped stderr");
        let keep = log.clone();
        let echo = std::env::var_os("INTEROP_ECHO_LOGS").is_some();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[{label}] {line}");
                }
                keep.lines.lock().unwrap().push(line);
                keep.notify.notify_waiters();
            }
            *keep.closed.lock().unwrap() = true;
            keep.notify.notify_waiters();
        });
        Self { name: name.to_owned(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many lines have been logged so far (a mark for [`Proc::wait_for_since`]).
    pub fn mark(&self) -> usize {
        self.log.lines.lock().unwrap().len()
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lines.lock().unwrap().join("\n")
    }

    /// The first line containing every one of `needles` (waiting for it).
    pub async fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_for_since(0, needles).await
    }

    /// The first line after line `mark` containing every one of `needles`.
    pub async fn wait_for_since(&self, mark: usize, needles: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            let notified = self.log.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let lines = self.log.lines.lock().unwrap();
                if let Some(line) = lines.iter().skip(mark).find(|l| needles.iter().all(|n| l.contains(n))) {
                    return line.clone();
                }
            }
            if *self.log.closed.lock().unwrap() {
                panic!("{} exited before logging a line with {needles:?}; its log:\n{}", self.name, self.log());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {} to log a line with {needles:?}; its log:\n{}", self.name, self.log());
            }
        }
    }

    /// Whether some line after `mark` contains every one of `needles` (no waiting).
    pub fn logged_since(&self, mark: usize, needles: &[&str]) -> bool {
        self.log.lines.lock().unwrap().iter().skip(mark).any(|l| needles.iter().all(|n| l.contains(n)))
    }

    /// Wait for the process to exit by itself; its status.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            // The stderr reader sees EOF when the process (and its children holding the
            // pipe) exit: wait for that, then reap.
            let notified = self.log.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *self.log.closed.lock().unwrap() {
                return self.child.wait().unwrap();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} did not exit; its log:\n{}", self.name, self.log());
            }
        }
    }

    /// Ask the process to stop (SIGTERM), wait up to `grace`, then kill it.
    pub fn terminate(&mut self, grace: Duration) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: a `lattice up` then stops its providers (they run in their own
        // process groups and would outlive a SIGKILLed host).
        self.terminate(Duration::from_secs(10));
    }
}

/// Whether a process id is still alive (`kill -0`).
pub fn alive(pid: u32) -> bool {
    Command::new("kill")
        .arg("-0")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A running `lattice up` with known host and cluster keys, in its own state directory.
pub struct Up {
    pub proc: Proc,
    pub host_id: String,
    pub cluster_seed: String,
    pub cluster_key: String,
    pub state: tempfile::TempDir,
}

impl Up {
    /// `lattice up --nats-url URL` plus `args`, with short health checks (first after
    /// 300 ms, then every 700 ms); returns once it logs `host N… ready`.
    pub async fn start(nats_url: &str, args: &[&str]) -> Self {
        let state = tempfile::tempdir().unwrap();
        let host = nkeys::KeyPair::new_server();
        let cluster = nkeys::KeyPair::new_cluster();
        let host_id = host.public_key();
        let cluster_seed = cluster.seed().unwrap();
        let mut command = Command::new(product_bin("lattice"));
        command
            .arg("up")
            .args(["--nats-url", nats_url])
            .args(["--host-seed", &host.seed().unwrap()])
            .args(["--cluster-seed", &cluster_seed])
            .args(["--state-dir", &state.path().to_string_lossy()])
            .args(["--health-first-ms", "300", "--health-interval-ms", "700"])
            // The tests start local files over the control interface, as `lattice start` does.
            .arg("--allow-file-load")
            .args(args)
            .env("RUST_LOG", "info,async_nats=warn")
            .env_remove("LATTICE_CLUSTER_SEED")
            .env_remove("WASMCLOUD_CLUSTER_SEED")
            .env_remove("LATTICE_HOST_SEED")
            .env_remove("WASMCLOUD_HOST_SEED")
            .env_remove("LATTICE_NAME")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let proc = Proc::spawn("lattice up", command);
        proc.wait_for(&["lattice: host", &host_id, "ready"]).await;
        Self { proc, host_id, cluster_seed, cluster_key: cluster.public_key(), state }
    }

    pub fn cluster(&self) -> nkeys::KeyPair {
        nkeys::KeyPair::from_seed(&self.cluster_seed).unwrap()
    }
}

/// Run `lattice ARGS…`; (exit code, stdout, stderr).
pub fn lattice(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(product_bin("lattice"))
        .args(args)
        .env_remove("LATTICE_CLUSTER_SEED")
        .env_remove("WASMCLOUD_CLUSTER_SEED")
        .env_remove("LATTICE_ISSUER_SEED")
        .env_remove("LATTICE_SUBJECT_SEED")
        .stdin(Stdio::null())
        .output()
        .expect("running lattice");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`lattice`] off the async runtime's threads.
pub async fn lattice_async(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || lattice(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

/// Connect with the REAL client stack (async-nats 0.33).
pub async fn connect(url: &str) -> async_nats::Client {
    async_nats::connect(url).await.expect("connecting to nats-server with async-nats 0.33")
}

/// Compile a WAT file to a wasm module.
pub fn compile(wat: &Path) -> Vec<u8> {
    wat::parse_file(wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()))
}

/// An actor signed by the REAL wascap 0.12 (`embed_claims`, account-issued).
pub struct SignedActor {
    pub wasm: Vec<u8>,
    pub path: PathBuf,
    pub module: nkeys::KeyPair,
    pub account: nkeys::KeyPair,
}

impl SignedActor {
    pub fn public_key(&self) -> String {
        self.module.public_key()
    }

    pub fn reference(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

/// Sign `wat` with real wascap 0.12 into `dir/{name}.wasm`.
pub fn sign_actor(dir: &Path, wat: &Path, name: &str, caps: &[&str], rev: i32) -> SignedActor {
    let module = nkeys::KeyPair::new_module();
    let account = nkeys::KeyPair::new_account();
    let claims = wascap::jwt::Claims::<wascap::jwt::Actor>::with_dates(
        name.to_owned(),
        account.public_key(),
        module.public_key(),
        Some(caps.iter().map(|c| (*c).to_owned()).collect()),
        Some(vec!["interop".to_owned()]),
        None,
        None,
        false,
        Some(rev),
        Some("0.1.0".to_owned()),
        None,
    );
    let wasm = wascap::wasm::embed_claims(&compile(wat), &claims, &account).expect("wascap embed_claims");
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, &wasm).unwrap();
    SignedActor { wasm, path, module, account }
}

/// A provider archive packed by the REAL provider-archive 0.8.0.
pub struct Par {
    pub path: PathBuf,
    pub provider: nkeys::KeyPair,
    pub issuer: nkeys::KeyPair,
    pub contract: String,
}

impl Par {
    pub fn public_key(&self) -> String {
        self.provider.public_key()
    }

    pub fn reference(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

/// A copy of executable `path` without symbols or debug information (`strip -s`), to
/// keep provider archives small: debug builds of the providers weigh 100+ MB, which the
/// unoptimised gzip of a debug `lattice` would take minutes to unpack. Falls back to the
/// original when `strip` is not installed.
pub fn stripped(path: &Path) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stripped");
    std::fs::create_dir_all(&dir).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let out = dir.join(&name);
    let stamp_path = dir.join(format!("{name}.source"));
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stamp = format!("{} {} {:?}", path.display(), meta.len(), meta.modified().ok());
    if out.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return out;
    }
    let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
    match Command::new("strip").arg("-s").arg("-o").arg(&tmp).arg(path).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => {
            std::fs::rename(&tmp, &out).unwrap();
            std::fs::write(&stamp_path, stamp).unwrap();
            out
        }
        _ => path.to_owned(),
    }
}

/// This machine's archive target, as wash names it (`x86_64-linux`).
pub fn target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Pack `binary` (stripped, see [`stripped`]) for this machine into `dir/{name}.par.gz`
/// with provider-archive 0.8.0. Packing (gzip at its best level) is the slow part, so an
/// archive is packed once per test process for each (binary, name, contract, rev) and
/// copied for later callers; its keys are the same.
pub async fn pack_par(dir: &Path, binary: &Path, name: &str, contract: &str, rev: i32) -> Par {
    /// (binary, name, contract, rev) → (archive bytes, provider seed, issuer seed)
    type Key = (PathBuf, String, String, i32);
    type Packed = (Vec<u8>, String, String);
    static CACHE: tokio::sync::Mutex<Vec<(Key, Packed)>> = tokio::sync::Mutex::const_new(Vec::new());
    let key = (binary.to_owned(), name.to_owned(), contract.to_owned(), rev);
    let path = dir.join(format!("{name}.par.gz"));
    let mut cache = CACHE.lock().await;
    if let Some((_, (bytes, provider, issuer))) = cache.iter().find(|(k, _)| *k == key) {
        std::fs::write(&path, bytes).unwrap();
        return Par {
            path,
            provider: nkeys::KeyPair::from_seed(provider).unwrap(),
            issuer: nkeys::KeyPair::from_seed(issuer).unwrap(),
            contract: contract.to_owned(),
        };
    }
    let bin = stripped(binary);
    let mut archive =
        provider_archive::ProviderArchive::new(contract, name, "interop", Some(rev), Some("0.2.0".to_owned()));
    archive.add_library(&target(), &std::fs::read(&bin).unwrap()).unwrap();
    let provider = nkeys::KeyPair::new_service();
    let issuer = nkeys::KeyPair::new_account();
    archive.write(&path, &issuer, &provider, true).await.expect("provider-archive write");
    cache.push((key, (std::fs::read(&path).unwrap(), provider.seed().unwrap(), issuer.seed().unwrap())));
    Par { path, provider, issuer, contract: contract.to_owned() }
}

/// The 0.82 HostData line: standard base64 of the JSON, then `\r\n` (HOST.md §7).
/// Store `link` in the lattice data bucket as a 0.82 host does before it publishes the link
/// to the provider (HOST.md §4: `LATTICEDATA_{lattice}`, key `LINKDEF_{SHA-256 of actor ‖
/// contract ‖ link name, upper hex}`, the link's JSON). Lattice providers apply a link put
/// only when this entry holds the same link.
pub async fn store_link_as_a_0_82_host(nc: &async_nats::Client, lattice: &str, link: &wasmcloud_core::LinkDefinition) {
    use sha2::{Digest, Sha256};
    let js = async_nats::jetstream::new(nc.clone());
    let bucket = format!("LATTICEDATA_{lattice}");
    let kv = match js.get_key_value(&bucket).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(async_nats::jetstream::kv::Config { bucket: bucket.clone(), ..Default::default() })
            .await
            .unwrap(),
    };
    let mut hash = Sha256::new();
    hash.update(link.actor_id.as_bytes());
    hash.update(link.contract_id.as_bytes());
    hash.update(link.link_name.as_bytes());
    let key: String = hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
    kv.put(format!("LINKDEF_{key}"), serde_json::to_vec(link).unwrap().into()).await.unwrap();
}

pub fn host_data_line(data: &wasmcloud_core::HostData) -> Vec<u8> {
    use base64::Engine;
    let mut line = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(data).unwrap()).into_bytes();
    line.extend_from_slice(b"\r\n");
    line
}

/// Launch a provider executable as a 0.82 host does: cleared environment, no arguments,
/// the HostData line on stdin, then stdin closed.
pub fn launch_provider(name: &str, binary: &Path, stdin_line: &[u8]) -> Proc {
    use std::io::Write;
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("OTEL_TRACES_EXPORTER", "")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut proc = Proc::spawn(name, command);
    let mut stdin = proc.child.stdin.take().unwrap();
    stdin.write_all(stdin_line).unwrap();
    drop(stdin);
    proc
}

/// Wait until `subject` has a responder (a request gets an answer other than "no
/// responders"): how a test knows a provider started outside a host has subscribed.
pub async fn wait_for_responder(nc: &async_nats::Client, subject: &str) -> async_nats::Message {
    let deadline = tokio::time::Instant::now() + READY;
    let mut pause = Duration::from_millis(5);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), nc.request(subject.to_owned(), Vec::new().into())).await {
            Ok(Ok(msg)) => return msg,
            _ if tokio::time::Instant::now() >= deadline => panic!("nothing answers on {subject}"),
            _ => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Events the real client hands out, with helpers to wait for one.
pub struct Events {
    rx: tokio::sync::mpsc::Receiver<cloudevents::Event>,
    seen: Vec<cloudevents::Event>,
}

impl Events {
    pub fn new(rx: tokio::sync::mpsc::Receiver<cloudevents::Event>) -> Self {
        Self { rx, seen: Vec::new() }
    }

    /// The first event (seen or to come) of `kind` (`actors_started`) whose data satisfies
    /// `pred`; it is consumed.
    pub async fn wait(
        &mut self,
        kind: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> (cloudevents::Event, serde_json::Value) {
        use cloudevents::AttributesReader;
        let ty = format!("com.wasmcloud.lattice.{kind}");
        let matches = |e: &cloudevents::Event| -> Option<serde_json::Value> {
            if e.ty() != ty {
                return None;
            }
            let data = event_data(e);
            pred(&data).then_some(data)
        };
        if let Some(i) = self.seen.iter().position(|e| matches(e).is_some()) {
            let e = self.seen.remove(i);
            let data = matches(&e).unwrap();
            return (e, data);
        }
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            let e = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => e,
                Ok(None) => panic!("the event stream ended before a {kind} event"),
                Err(_) => panic!(
                    "no {kind} event; seen: {:?}",
                    self.seen.iter().map(|e| (e.ty().to_owned(), event_data(e))).collect::<Vec<_>>()
                ),
            };
            if let Some(data) = matches(&e) {
                return (e, data);
            }
            self.seen.push(e);
        }
    }
}

/// The JSON `data` of a CloudEvent.
pub fn event_data(e: &cloudevents::Event) -> serde_json::Value {
    match e.data() {
        Some(cloudevents::Data::Json(v)) => v.clone(),
        Some(cloudevents::Data::String(s)) => serde_json::from_str(s).unwrap_or(serde_json::Value::Null),
        Some(cloudevents::Data::Binary(b)) => serde_json::from_slice(b).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    }
}

/// A string map from pairs.
pub fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The real 0.82 client, with a short auction window (auctions wait the whole window).
pub fn ctl_client(nc: async_nats::Client) -> wasmcloud_control_interface::Client {
    wasmcloud_control_interface::ClientBuilder::new(nc)
        .lattice("default")
        .timeout(Duration::from_secs(10))
        .auction_timeout(Duration::from_millis(750))
        .build()
}

/// Gunzip a `.par.gz`.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Gzip bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The data range of the tar entry `name` (headers at 512-byte boundaries, size in octal).
pub fn tar_entry(tar: &[u8], name: &str) -> std::ops::Range<usize> {
    let mut pos = 0;
    while pos + 512 <= tar.len() && tar[pos] != 0 {
        let header = &tar[pos..pos + 512];
        let entry = String::from_utf8_lossy(header[..100].split(|b| *b == 0).next().unwrap()).into_owned();
        let size_text: String =
            header[124..136].iter().take_while(|b| **b != 0 && **b != b' ').map(|b| *b as char).collect();
        let size = usize::from_str_radix(size_text.trim(), 8).unwrap();
        if entry.trim_start_matches("./") == name {
            return pos + 512..pos + 512 + size;
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
    panic!("no tar entry {name}");
}

/// A copy of the archive at `par` whose executable for this machine has one byte changed
/// (the claims still carry the old hash), written next to it as `{stem}-binary.par.gz`.
pub fn tamper_binary(par: &Path) -> PathBuf {
    let mut tar = gunzip(&std::fs::read(par).unwrap());
    let range = tar_entry(&tar, &format!("{}.bin", target()));
    let at = range.start + range.len() / 2;
    tar[at] ^= 0x55;
    let out = par.with_file_name("tampered-binary.par.gz");
    std::fs::write(&out, gzip(&tar)).unwrap();
    out
}

/// A copy of the archive at `par` whose claims name another contract (same length, the
/// signature left as it was), written next to it as `tampered-claims.par.gz`.
pub fn tamper_claims(par: &Path) -> PathBuf {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut tar = gunzip(&std::fs::read(par).unwrap());
    let range = tar_entry(&tar, "claims.jwt");
    let jwt = String::from_utf8(tar[range.clone()].to_vec()).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let capid = claims["wascap"]["capid"].as_str().unwrap().to_owned();
    let forged = capid.replace('e', "E");
    assert_ne!(forged, capid);
    claims["wascap"]["capid"] = forged.into();
    let body = b64.encode(serde_json::to_vec(&claims).unwrap());
    let forged_jwt = format!("{}.{}.{}", parts[0], body, parts[2]);
    assert_eq!(forged_jwt.len(), jwt.len(), "the forged claims must keep the entry's size");
    tar[range].copy_from_slice(forged_jwt.as_bytes());
    let out = par.with_file_name("tampered-claims.par.gz");
    std::fs::write(&out, gzip(&tar)).unwrap();
    out
}
