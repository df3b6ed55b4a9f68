//! Observability against real receivers: one HTTP request through the demo (HTTP server
//! provider → host → counter actor → key-value provider) arrives at an in-test OTLP/HTTP
//! receiver as one connected trace; with `--log-format json` every stderr line (host
//! and providers) is one JSON object; no span attribute or log line carries a seed; and a
//! real Prometheus scraping `--metrics-addr` counts the calls made and the forged ones.

use lattice_test_support::{
    NatsServer, OtlpReceiver, ReceivedSpan, SPAN_KIND_CLIENT as CLIENT, SPAN_KIND_SERVER as SERVER,
};

use super::up::{Up, counter_of, http_get};

/// Whether `text` holds something shaped like an nkey seed (`S` + type + 56 base32).
fn has_seed(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        w.len() == 58 && w.starts_with('S') && w.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    })
}

#[test]
fn one_http_request_is_one_trace_and_json_logs_parse() {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.endpoint();

    let server = NatsServer::start();
    let state = tempfile::tempdir().unwrap();
    let seed = lattice_proto::ClusterSeed::generate().seed();
    let mut up = Up::spawn(
        &[
            "--demo",
            "--nats-url",
            &server.url(),
            "--http-port",
            "0",
            "--cluster-seed",
            &seed,
            "--log-format",
            "json",
            "--otel",
            "--otel-exporter-otlp-endpoint",
            &endpoint,
        ],
        state.path(),
    );
    let line = up.wait_for("http listener started");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = v["fields"]["address"].as_str().unwrap_or_else(|| panic!("no address in {line}")).to_owned();
    up.wait_for("try: curl");
    up.wait_for_all(&["\"provider\":\"kv default\"", "actor linked"]);
    let (status, body) = http_get(&addr);
    assert_eq!(status, 200, "{body}");
    counter_of(&body);
    // Stopping flushes every process's spans (no waiting out the batch delay).
    let log = up.stop_with_log();

    // JSON logs: every line an object; provider lines re-emitted with a `provider` field,
    // not wrapped in a host line; no seed anywhere.
    assert!(log.len() > 5, "{log:?}");
    for line in &log {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(!has_seed(line), "a seed in a log line: {line}");
    }
    assert!(log.iter().any(|l| l.contains("\"provider\":\"kv default\"") && l.contains("\"timestamp\"")));
    assert!(!log.iter().any(|l| l.matches("\"timestamp\"").count() > 1), "a line with two timestamps");

    // One trace: http.request → rpc.call → rpc.handle (host, actor) → rpc.call → rpc.handle
    // (kv). Exported spans are named after the request and the operation (`otel.name`).
    let spans = receiver.spans();
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());
    let root = spans
        .iter()
        .find(|s| s.name == "GET /" && s.service == "lattice-httpserver")
        .unwrap_or_else(|| panic!("no http.request span among {spans:#?}"));
    assert_eq!(root.kind, SERVER);
    assert!(root.is_root(), "{root:?}");
    let trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == root.trace_id).collect();
    let child_of = |parent: &ReceivedSpan, name: &str, kind: i32, service: &str| -> ReceivedSpan {
        trace
            .iter()
            .find(|s| s.parent == parent.span_id && s.name == name && s.kind == kind && s.service == service)
            .map(|s| (*s).clone())
            .unwrap_or_else(|| panic!("no {name} ({service}) under {parent:?} in {trace:#?}"))
    };
    let call = child_of(root, "HttpServer.HandleRequest", CLIENT, "lattice-httpserver");
    let handle = child_of(&call, "HttpServer.HandleRequest", SERVER, "lattice-host");
    let kv_call = child_of(&handle, "KeyValue.Increment", CLIENT, "lattice-host");
    let kv_handle = child_of(&kv_call, "KeyValue.Increment", SERVER, "lattice-kv");
    assert_eq!(handle.attributes["operation"], "HttpServer.HandleRequest");
    assert_eq!(kv_handle.attributes["operation"], "KeyValue.Increment");
    for s in [&call, &handle, &kv_call, &kv_handle] {
        for key in ["origin", "target", "lattice", "host_id", "outcome", "payload_size"] {
            assert!(s.attributes.contains_key(key), "{key} missing in {s:?}");
        }
        assert_eq!(s.attributes["outcome"], "ok", "{s:?}");
    }
    assert_eq!(kv_handle.attributes["contract_id"], "wasmcloud:keyvalue");
    for s in &spans {
        for v in s.attributes.values() {
            assert!(!has_seed(v), "a seed in span {s:?}");
        }
    }
}

/// Percent-encode a query-string value.
fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// `GET path` over plain HTTP/1.1; the body.
fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

/// A real Prometheus (the Debian package), scraping `target` every second; stopped on drop.
struct Prometheus {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lattice-host\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus ({e}): install the Debian package `prometheus` (scripts/test.sh does)")
            });
        // Its log names the port it really got: `msg="Listening on" address=127.0.0.1:PORT`.
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().unwrap_or_else(|| panic!("prometheus exited before listening")).unwrap();
            if line.contains("msg=\"Listening on\"") {
                break line.rsplit("address=").next().unwrap().trim().to_owned();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr, _dir: dir }
    }

    /// The value of an instant query's first sample, if any.
    fn query(&self, q: &str) -> Option<String> {
        let body = get(&self.addr, &format!("/api/v1/query?query={}", encode_query(q)));
        let v: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
        v["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    }

    /// Wait (up to 30 s; Prometheus scrapes every second) until `q` answers `want`.
    fn wait_for(&self, q: &str, want: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut last = None;
        while std::time::Instant::now() < deadline {
            last = self.query(q);
            if last.as_deref() == Some(want) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("Prometheus answered {last:?} to {q}, expected {want}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        super::terminate(&mut self.child);
    }
}

#[test]
fn prometheus_counts_the_calls_and_the_forgeries() {
    const CALLS: usize = 3;
    const FORGED: usize = 2;
    let server = NatsServer::start();
    let state = tempfile::tempdir().unwrap();
    let seed = lattice_proto::ClusterSeed::generate().seed();
    let mut up = Up::spawn(
        &[
            "--demo",
            "--nats-url",
            &server.url(),
            "--http-port",
            "0",
            "--cluster-seed",
            &seed,
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        state.path(),
    );
    let line = up.wait_for("lattice: metrics on http://");
    let metrics = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches("/metrics")
        .to_owned();
    let counter = up.actor_key("counter");
    let line = up.wait_for("http listener started");
    let addr = line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    up.wait_for_all(&["[kv default]", "actor linked"]);
    for _ in 0..CALLS {
        assert_eq!(http_get(&addr).0, 200);
    }
    // Forged: signed with a cluster key the host does not trust.
    let (rt, rogue) = super::up::client(&server.url(), &lattice_proto::ClusterSeed::generate());
    for _ in 0..FORGED {
        let origin = lattice_proto::WasmCloudEntity::actor(&counter);
        let err = rt
            .block_on(rogue.call(
                origin,
                lattice_proto::WasmCloudEntity::actor(&counter),
                "HttpServer.HandleRequest",
                vec![],
            ))
            .unwrap_err();
        assert!(matches!(err, lattice_rpc::RpcError::Rejected { .. }), "{err:?}");
    }
    // The host's own exposition first (exact), then what Prometheus scraped from it.
    let text = get(&metrics, "/metrics");
    let calls =
        format!("lattice_host_calls_total{{actor=\"{counter}\",operation=\"HttpServer.HandleRequest\"}} {CALLS}");
    assert!(text.contains(&calls), "{calls} missing in\n{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");

    let prometheus = Prometheus::start(&metrics);
    prometheus.wait_for(
        &format!("sum(lattice_host_calls_total{{actor=\"{counter}\",operation=\"HttpServer.HandleRequest\"}})"),
        &CALLS.to_string(),
    );
    prometheus.wait_for(
        &format!("sum(lattice_host_rejections_total{{actor=\"{counter}\",kind=\"unknown_issuer\"}})"),
        &FORGED.to_string(),
    );
    prometheus.wait_for("lattice_host_linkdefs", "2");
    prometheus.wait_for("min(lattice_host_nats_connected)", "1");
    up.stop();
}
