//! What every bench mode starts with: the NATS server (the bench's own unless
//! `--nats-url` names one), the machine's facts, and — for `--actor` and `--http` —
//! `lattice up` host processes in scratch directories.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::json;

use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName};

use super::args::Args;
use crate::common::nats_server::NatsServer;

/// The echo actor, built into the binary so the bench runs from anywhere.
const ECHO_WAT: &str = include_str!("../../../../../actors/echo.wat");

/// How long the host may take to start (compiling the actor included).
const HOST_START_LIMIT: Duration = Duration::from_secs(120);

/// How long the host may take to stop after SIGTERM before it is killed.
const HOST_STOP_LIMIT: Duration = Duration::from_secs(15);

/// Host log lines kept to explain a failure.
const LOG_TAIL: usize = 40;

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
            None => Some(NatsServer::start_ephemeral(0).context("could not start nats-server (or pass --nats-url)")?),
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
        self.own_server.as_ref().map(NatsServer::pid)
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

/// A scratch directory removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("lattice-bench-{}", nuid::next()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.0));
    }
}

/// A `lattice up` host process started by a bench, and what it said.
pub(crate) struct HostProcess {
    child: Child,
    lines: Receiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl HostProcess {
    /// Write the echo actor (`echo.wat`) and a manifest serving it with `instances` (plus
    /// `more`, TOML appended as is) into `dir`; returns the manifest's path.
    pub(crate) fn echo_manifest(dir: &Path, instances: u32, more: &str) -> anyhow::Result<PathBuf> {
        std::fs::write(dir.join("echo.wat"), ECHO_WAT).context("writing echo.wat")?;
        let manifest = format!(
            "[[actors]]\nname = \"echo\"\nwat = \"echo.wat\"\ncaps = [\"wasmcloud:httpserver\"]\ninstances = {instances}\n{more}"
        );
        let manifest_path = dir.join("bench.toml");
        std::fs::write(&manifest_path, manifest).context("writing the manifest")?;
        Ok(manifest_path)
    }

    /// Start `lattice up --manifest manifest_path`, its state in `state`.
    pub(crate) fn spawn(
        manifest_path: &Path,
        state: &Path,
        url: &str,
        creds: Option<&Path>,
        lattice: &LatticeName,
        seed: &ClusterSeed,
        workers: Option<usize>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the lattice executable")?;
        let mut cmd = Command::new(exe);
        cmd.arg("up")
            .arg("--nats-url")
            .arg(url)
            .arg("--lattice")
            .arg(lattice.as_str())
            .arg("--cluster-seed")
            .arg(seed.seed())
            .arg("--manifest")
            .arg(manifest_path)
            .arg("--state-dir")
            .arg(state);
        if let Some(creds) = creds {
            cmd.arg("--creds").arg(creds);
        }
        if let Some(workers) = workers {
            cmd.env("TOKIO_WORKER_THREADS", workers.to_string());
        }
        let mut child = cmd
            .env_remove("LATTICE_HOST_SEED")
            .env_remove("WASMCLOUD_HOST_SEED")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting `lattice up`")?;
        let stderr = child.stderr.take().context("the host's stderr")?;
        let (tx, lines) = std::sync::mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let keep = tail.clone();
        std::thread::Builder::new()
            .name("bench-host-log".into())
            .spawn(move || {
                // Drain the pipe until the host exits, so it never blocks on a full pipe.
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("WARN") || line.contains("ERROR") {
                        eprintln!("host: {line}");
                    }
                    {
                        let mut tail = keep.lock().unwrap_or_else(PoisonError::into_inner);
                        if tail.len() == LOG_TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line.clone());
                    }
                    drop(tx.send(line));
                }
            })
            .context("starting the host log reader")?;
        Ok(Self { child, lines, tail })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The host's last log lines, for an error message.
    pub(crate) fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        tail.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }

    /// Wait for `lattice: host N… ready`; returns the echo actor's key (`actor echo is M…`)
    /// and the host's.
    pub(crate) fn wait_ready(&mut self) -> anyhow::Result<(ActorKey, HostKey)> {
        let deadline = Instant::now() + HOST_START_LIMIT;
        let mut actor = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(key) = line.split("lattice: actor echo is ").nth(1) {
                        actor = Some(ActorKey::parse(key.trim()).context("the host's actor key")?);
                    } else if let Some(host) =
                        line.strip_prefix("lattice: host ").and_then(|rest| rest.trim_end().strip_suffix(" ready"))
                    {
                        let host = HostKey::parse(host.trim()).context("the host's key")?;
                        let actor = actor.context("the host is ready but never said the echo actor's key")?;
                        return Ok((actor, host));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!("the host was not ready after {} s; its log:\n{}", HOST_START_LIMIT.as_secs(), self.tail())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    bail!("the host exited ({status}) before it was ready; its log:\n{}", self.tail())
                }
            }
        }
    }

    /// Whether the host process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then wait (kill after [`HOST_STOP_LIMIT`]).
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        if !self.alive() {
            bail!("the host had exited; its log:\n{}", self.tail());
        }
        // No `unsafe` (and no libc) here: the `kill` utility sends the signal.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + if sent { HOST_STOP_LIMIT } else { Duration::ZERO };
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => bail!("the host stopped with {status}; its log:\n{}", self.tail()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    drop(self.child.kill());
                    drop(self.child.wait());
                    bail!("the host did not stop within {} s of SIGTERM: killed", HOST_STOP_LIMIT.as_secs());
                }
            }
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        // Only reached with the child still running when the bench failed half-way.
        if matches!(self.child.try_wait(), Ok(None)) {
            drop(self.child.kill());
            drop(self.child.wait());
        }
    }
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
