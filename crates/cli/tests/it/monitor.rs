//! `lattice monitor` end to end (issue 8, "Done when"): a real nats-server, an
//! `RpcServer` for an actor with a counting handler, the monitor as a real process, and an
//! attacker publishing every kind of forged invocation while 10 000 valid calls run.
//! The monitor must report each forgery with its kind and nothing else, the server must
//! dispatch none of them, and `/metrics` must show the counters.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use lattice_monitor::forge::{Forge, Forgery};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, InvocationResponse, LatticeName, TrustedIssuers, WasmCloudEntity};
use lattice_rpc::{RpcClient, RpcServer, Served, handler_fn};
use lattice_test_support::NatsServer;
use serde_json::Value;

/// A `lattice` verb running as a child process, its output read line by line.
pub(crate) struct Watcher {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far (for failure messages).
    pub(crate) stderr_seen: Vec<String>,
}

fn pump(read: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watcher {
    /// Start `lattice ARGS`.
    pub(crate) fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lattice"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = pump(child.stdout.take().unwrap());
        let stderr = pump(child.stderr.take().unwrap());
        Self { child, stdout, stderr, stderr_seen: Vec::new() }
    }

    /// Wait for a stderr line containing `needle` (readiness), and return it.
    pub(crate) fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no stderr line with {needle:?} ({e}); stderr so far: {:#?}", self.stderr_seen),
            }
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, if one arrives within `timeout`.
    pub(crate) fn next_stdout(&mut self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// Collect stdout lines until `n` have arrived (panics after `timeout`).
    pub(crate) fn stdout_lines(&mut self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        while lines.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(e) => {
                    self.drain_stderr();
                    panic!("{e}: got {} of {n} stdout lines: {lines:#?}\nstderr: {:#?}", lines.len(), self.stderr_seen)
                }
            }
        }
        lines
    }

    /// Stdout lines already waiting (none blocks).
    pub(crate) fn stdout_now(&mut self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }

    fn drain_stderr(&mut self) {
        self.stderr_seen.extend(self.stderr.try_iter());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET http://{addr}{path}` with a plain socket; returns (status line, body).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The value of one sample line (`name{labels} value`) in a Prometheus exposition.
pub(crate) fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

const VALID_CALLS: u64 = 10_000;
const CONCURRENCY: usize = 64;

#[test]
fn monitor_reports_every_forgery_with_its_kind_and_no_valid_call() {
    let nats = NatsServer::start();
    let url = nats.url();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let issuer = seed.public_key().as_str().to_owned();
    let actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap();
    let other_actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let subject = format!("wasmbus.rpc.{lattice}.{actor}");

    // The monitor, a real process; its `listening` line says it is subscribed.
    let mut monitor = Watcher::spawn(&[
        "monitor",
        "--json",
        "--nats-url",
        &url,
        "--issuer",
        &issuer,
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let ready = monitor.wait_stderr("listening on", Duration::from_secs(20));
    let metrics_addr: SocketAddr = ready
        .split("metrics http://")
        .nth(1)
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {ready:?}"))
        .parse()
        .unwrap();
    assert!(ready.contains("alerts published on lattice.alerts.default"), "{ready}");

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (server_stats, handled, rejections, published_alerts) = rt.block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        // Someone listening to the alert subject.
        let mut alert_sub = client.subscribe("lattice.alerts.default").await.unwrap();

        // The server, with a handler that counts what it is given.
        let handled = Arc::new(AtomicU64::new(0));
        let count = handled.clone();
        let server = RpcServer::builder(
            client.clone(),
            lattice.clone(),
            TrustedIssuers::new([seed.public_key()]),
            Served::Actor(actor.clone()),
        )
        .start(handler_fn(move |req: lattice_rpc::Request| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                Ok(req.msg)
            }
        }))
        .await
        .unwrap();

        // The attacker taps the actor's subject (plain subscription: it sees every call).
        let attacker = async_nats::connect(&url).await.unwrap();
        let mut tap = attacker.subscribe(subject.clone()).await.unwrap();
        attacker.flush().await.unwrap();

        // One genuine call, captured by the attacker.
        let rpc = RpcClient::builder(client.clone(), lattice.clone(), seed.clone(), host.clone())
            .timeout(Duration::from_secs(20))
            .build();
        let me = WasmCloudEntity::actor(&actor);
        let first = rpc.call(me.clone(), me.clone(), "Echo.Ping", b"call 0".to_vec()).await.unwrap();
        assert_eq!(first, b"call 0");
        let captured = tokio::time::timeout(Duration::from_secs(30), tap.next())
            .await
            .expect("the tap saw the genuine call")
            .unwrap()
            .payload;
        drop(tap);

        // The attacker's traffic, concurrent with the 9 999 other genuine calls: every
        // forgery (as requests, to see the server's answer), a replay of the captured call,
        // and the captured call re-published on another actor's subject.
        let forge = Forge {
            seed: seed.clone(),
            host: host.clone(),
            origin: me.clone(),
            target: me.clone(),
            operation: "Echo.Ping".into(),
        };
        let attack_subject = subject.clone();
        let other_subject = format!("wasmbus.rpc.{lattice}.{other_actor}");
        let attack = tokio::spawn(async move {
            let mut answers = Vec::new();
            for (i, forgery) in Forgery::ALL.into_iter().enumerate() {
                let payload = forge.forge(forgery, &format!("forged-{i}"), unix_now(), 300);
                let reply = attacker.request(attack_subject.clone(), payload.into()).await.unwrap();
                answers.push((forgery.kind(), InvocationResponse::decode(&reply.payload).unwrap()));
                tokio::task::yield_now().await;
            }
            let reply = attacker.request(attack_subject.clone(), captured.clone()).await.unwrap();
            answers.push(("replayed", InvocationResponse::decode(&reply.payload).unwrap()));
            attacker.publish(other_subject, captured).await.unwrap();
            attacker.flush().await.unwrap();
            answers
        });
        let calls = futures::stream::iter(1..VALID_CALLS)
            .map(|i| {
                let (rpc, me) = (rpc.clone(), me.clone());
                async move {
                    let body = format!("call {i}").into_bytes();
                    let got = rpc.call(me.clone(), me, "Echo.Ping", body.clone()).await.unwrap();
                    assert_eq!(got, body);
                }
            })
            .buffer_unordered(CONCURRENCY)
            .count();
        let (answers, done) = tokio::time::timeout(Duration::from_secs(120), async { tokio::join!(attack, calls) })
            .await
            .expect("the attack and the genuine calls finish");
        assert_eq!(done as u64, VALID_CALLS - 1);
        let rejections = answers.unwrap();

        // Every alert is also published on the alert subject.
        let mut published = Vec::new();
        while published.len() < Forgery::ALL.len() + 2 {
            let msg = tokio::time::timeout(Duration::from_secs(30), alert_sub.next()).await.unwrap().unwrap();
            published.push(serde_json::from_slice::<Value>(&msg.payload).unwrap());
        }
        let stats = server.stats();
        tokio::time::timeout(Duration::from_secs(30), server.shutdown()).await.expect("the server shuts down");
        (stats, handled.load(Ordering::Relaxed), rejections, published)
    });

    // The server refused every forgery it was sent, each for the right reason, and ran
    // the handler exactly once per genuine call.
    assert_eq!(handled, VALID_CALLS, "the handler ran for a forged call");
    assert_eq!(server_stats.dispatched, VALID_CALLS);
    for (kind, answer) in &rejections {
        let error = answer.error.as_deref().unwrap_or_else(|| panic!("{kind}: accepted: {answer:?}"));
        if *kind == "malformed" {
            assert!(error.contains("malformed") || answer.invocation_id == "UNKNOWN", "{kind}: {error}");
        } else {
            assert!(error.contains(&format!("[{kind}]")), "{kind}: {error}");
        }
    }
    assert_eq!(server_stats.rejected_total(), Forgery::ALL.len() as u64 + 1, "{server_stats:?}");

    // The monitor: one JSON line per forged message, with the right kind.
    let expected_lines = Forgery::ALL.len() + 2;
    let lines = monitor.stdout_lines(expected_lines, Duration::from_secs(30));
    let alerts: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut expected: BTreeMap<Option<String>, &str> = BTreeMap::new();
    for (i, forgery) in Forgery::ALL.into_iter().enumerate() {
        let id = match forgery {
            Forgery::MalformedMsgpack => None,
            Forgery::IdMismatch => Some(format!("forged-{i}-rewritten")),
            _ => Some(format!("forged-{i}")),
        };
        expected.insert(id, forgery.kind());
    }
    let mut seen_kinds: Vec<&str> = Vec::new();
    let mut replay_alerts = Vec::new();
    for a in &alerts {
        for field in ["time", "subject", "kind", "origin", "target", "operation", "invocation_id", "reason"] {
            assert!(a.get(field).is_some(), "alert without {field}: {a}");
        }
        assert!(a["time"].as_str().unwrap().ends_with('Z'), "{a}");
        let kind = a["kind"].as_str().unwrap();
        let id = a["invocation_id"].as_str().map(str::to_owned);
        match expected.get(&id) {
            Some(k) => assert_eq!(kind, *k, "{a}"),
            // The captured genuine call: replayed on its subject, re-targeted on another's.
            None => replay_alerts.push((kind.to_owned(), a["subject"].as_str().unwrap().to_owned())),
        }
        seen_kinds.push(a["kind"].as_str().unwrap());
    }
    replay_alerts.sort();
    assert_eq!(
        replay_alerts,
        [
            ("replayed".to_owned(), subject.clone()),
            ("target_mismatch".to_owned(), format!("wasmbus.rpc.{lattice}.{other_actor}")),
        ]
    );
    let distinct: HashSet<&str> = seen_kinds.iter().copied().collect();
    assert_eq!(distinct.len(), 12, "every alert kind: {seen_kinds:?}");
    // The alert subject carried the same alerts.
    let mut published: Vec<&str> = published_alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    published.sort_unstable();
    seen_kinds.sort_unstable();
    assert_eq!(published, seen_kinds);

    // /metrics: all valid calls classified valid (so none was alerted on), every kind counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (status, body) = http_get(metrics_addr, "/metrics");
        assert!(status.contains("200"), "{status}");
        if sample(&body, r#"lattice_monitor_invocations_total{verdict="valid"}"#) == Some(VALID_CALLS as f64) {
            break body;
        }
        assert!(Instant::now() < deadline, "the monitor did not count {VALID_CALLS} valid calls:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for kind in distinct {
        let n = sample(&text, &format!(r#"lattice_monitor_invocations_total{{verdict="{kind}"}}"#));
        let want = seen_kinds.iter().filter(|k| **k == kind).count() as f64;
        assert_eq!(n, Some(want), "{kind}:\n{text}");
    }
    assert_eq!(sample(&text, r#"lattice_monitor_calls_total{operation="Echo.Ping"}"#), Some(VALID_CALLS as f64));
    assert_eq!(sample(&text, "lattice_monitor_slow_consumer_events_total"), Some(0.0), "{text}");
    // Responses were paired: at least every genuine call's answer is in the latency histogram.
    let answered = sample(&text, r#"lattice_monitor_responses_total{operation="Echo.Ping",outcome="ok"}"#).unwrap();
    assert!(answered >= VALID_CALLS as f64 * 0.99, "{answered}:\n{text}");
    assert!(sample(&text, r#"lattice_monitor_response_latency_seconds_count{operation="Echo.Ping"}"#).unwrap() > 0.0);
    // Forged calls are never recorded for pairing (only verified ones are, issue 16), so the
    // server's rejections of them pair with nothing: no response error is counted.
    assert!(
        sample(&text, r#"lattice_monitor_response_errors_total{operation="Echo.Ping"}"#).unwrap_or(0.0) == 0.0,
        "{text}"
    );

    // Nothing more was reported after the counters settled: zero false alerts.
    assert_eq!(monitor.stdout_now(), Vec::<String>::new());
}

#[test]
fn monitor_refuses_bad_flags_with_exit_2() {
    let out = crate::lattice(&["monitor", "--issuer", "not-a-key"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: --issuer"));
    // --issuer is required.
    let out = crate::lattice(&["monitor"], b"");
    assert_eq!(out.status.code(), Some(2));
    let seed = ClusterSeed::generate();
    let out = crate::lattice(&["monitor", "--issuer", seed.public_key().as_str(), "--window", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
    // An account key is not a cluster key.
    let account = nkeys::KeyPair::new_account().public_key();
    let out = crate::lattice(&["monitor", "--issuer", &account], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn monitor_without_a_server_fails_with_one_error_line() {
    let seed = ClusterSeed::generate();
    // A port nothing listens on (the discard port on loopback is never served here).
    let out =
        crate::lattice(&["monitor", "--issuer", seed.public_key().as_str(), "--nats-url", "nats://127.0.0.1:9"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The connect helper's error names the URL; no layer says it again.
    assert!(stderr.starts_with("error: cannot connect to NATS at nats://127.0.0.1:9: "), "{stderr}");
    assert_eq!(stderr.matches("nats://127.0.0.1:9").count(), 1, "{stderr}");
}
