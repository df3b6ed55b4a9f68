//! The dashboard in a real browser (issue 20, item 3): the demo lattice (`lattice up --demo`
//! with the real HTTP server and key-value providers) on a real nats-server, `lattice ui` as
//! a process, Debian's chromium driven through chromedriver. Everything is read from the
//! page's DOM, polled until it shows what is expected (or a deadline passes):
//!
//! 1. the host, the counter actor, both providers and both links appear;
//! 2. HTTP requests to the demo make the httpserver → counter and counter → kv edges appear
//!    with non-zero rates;
//! 3. a forged invocation (bad signature) on the counter's subject shows an alert of kind
//!    `bad_signature` within 10 s (the latency is printed);
//! 4. a screenshot is saved as `target/lattice-ui.png`;
//! 5. the key-value provider, stopped through the control interface, leaves the page;
//! 6. the host, frozen (SIGSTOP: it stops heartbeating, 1 s interval), turns grey, then goes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client, ClientBuilder};
use lattice_control::CtlClient;
use lattice_monitor::forge::{Forge, Forgery};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, LinkName, ProviderKey, WasmCloudEntity};
use lattice_test_support::NatsServer;
use serde_json::{Value, json};

use crate::procs::{Proc, build_product, require, target_dir};

const START: Duration = Duration::from_secs(90);
const PAGE: Duration = Duration::from_secs(30);

/// The value after `prefix` in a progress line, up to the next space.
fn word_after(line: &str, prefix: &str) -> String {
    line.split(prefix).nth(1).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// What the page shows, read from its DOM in one script.
const PROBE: &str = r#"
const q = (s) => [...document.querySelectorAll(s)];
return {
  feed: document.body.dataset.feed,
  hosts: q('#hosts .host').map((h) => ({ id: h.dataset.host, state: h.dataset.state, interval_ms: h.dataset.interval, seen_ms: h.querySelector('.when')?.dataset.seen })),
  actors: q('#hosts .actor').map((a) => a.dataset.key),
  providers: q('#hosts .provider').map((p) => p.dataset.key),
  links: q('#links tr[data-actor]').map((r) => ({ actor: r.dataset.actor, provider: r.dataset.provider, contract: r.dataset.contract })),
  edges: q('#edges tr[data-from]').map((r) => ({ from: r.dataset.from, to: r.dataset.to, rate: Number(r.dataset.rate), error_rate: Number(r.dataset.errorRate) })),
  alerts: q('#alerts li[data-kind]').map((a) => a.dataset.kind),
  height: document.documentElement.scrollHeight,
  now_ms: Date.now(),
};
"#;

async fn probe(browser: &Client) -> Value {
    browser.execute(PROBE, vec![]).await.unwrap()
}

/// Poll the DOM until `ok` holds; the time it took. Panics with the last DOM state.
async fn until(browser: &Client, what: &str, timeout: Duration, ok: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let dom = probe(browser).await;
        if ok(&dom) {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "the page never showed {what} within {timeout:?}; it shows:\n{dom:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has(list: &Value, key: &str) -> bool {
    list.as_array().unwrap().iter().any(|v| v == key)
}

fn edge_rate(dom: &Value, from: &str, to: &str) -> f64 {
    dom["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["from"] == from && e["to"] == to)
        .and_then(|e| e["rate"].as_f64())
        .unwrap_or(0.0)
}

fn host_state(dom: &Value, id: &str) -> Option<String> {
    dom["hosts"].as_array().unwrap().iter().find(|h| h["id"] == id).map(|h| h["state"].as_str().unwrap().to_owned())
}

/// chromedriver on a free port, and a headless chromium session through it.
async fn browser(profile: &std::path::Path) -> (Proc, Client) {
    let driver_bin = require("chromedriver", "chromium-driver");
    let chromium = require("chromium", "chromium");
    let mut cmd = Command::new(driver_bin);
    cmd.arg("--port=0");
    let driver = Proc::spawn(cmd, "chromedriver");
    let line = driver.wait_for("started successfully on port", Duration::from_secs(30));
    let port: u16 = word_after(&line, "on port ").trim_end_matches('.').parse().unwrap();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                format!("--user-data-dir={}", profile.display()), "--window-size=1440,1200",
                "--force-device-scale-factor=1",
            ],
        },
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("cannot open a chromium session: {e}; chromedriver said:\n{}", driver.output()));
    (driver, client)
}

/// GET / on the demo's HTTP server in a loop until told to stop; counts 200s.
fn traffic(addr: String, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = TcpStream::connect(&addr) else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
                continue;
            }
            let mut response = String::new();
            let _ = s.read_to_string(&mut response);
            if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_demo_lattice_live_in_chromium() {
    build_product();
    let nats = NatsServer::start();
    let seed = ClusterSeed::generate();
    let issuer = seed.public_key().to_string();
    let state = tempfile::tempdir().unwrap();

    // The demo host, heartbeating every second.
    let up = Proc::lattice(
        &[
            "up",
            "--demo",
            "--nats-url",
            &nats.url(),
            "--http-port",
            "0",
            "--cluster-seed",
            &seed.seed(),
            "--heartbeat-interval-ms",
            "1000",
            "--label",
            "team=dashboard-test",
        ],
        state.path(),
    );
    let host = word_after(&up.wait_for("lattice: host N", START), "lattice: host ");
    let actor = word_after(&up.wait_for("lattice: actor counter is ", START), "counter is ");
    let http = word_after(&up.wait_for("lattice: provider httpserver is ", START), "httpserver is ");
    let kv = word_after(&up.wait_for("lattice: provider kv is ", START), "kv is ");
    let addr = word_after(&up.wait_for("http listener started", START), "address=");
    up.wait_for("lattice: try: curl", START);

    // The dashboard, trusting the demo's cluster key.
    let ui = Proc::lattice(
        &[
            "ui",
            "--nats-url",
            &nats.url(),
            "--addr",
            "127.0.0.1:0",
            "--issuer",
            &issuer,
            "--interval-ms",
            "200",
            "--refresh",
            "2",
        ],
        state.path(),
    );
    let url = ui.wait_for_start("http://127.0.0.1:", START);
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "stdout is the URL: {url:?}");

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = browser(profile.path()).await;
    browser.goto(&url).await.unwrap();

    // 1. Host, actor, both providers, both links.
    until(&browser, "the host, the counter, both providers and both links", PAGE, |d| {
        host_state(d, &host).as_deref() == Some("up")
            && has(&d["actors"], &actor)
            && has(&d["providers"], &http)
            && has(&d["providers"], &kv)
            && d["links"].as_array().unwrap().iter().filter(|l| l["actor"] == actor.as_str()).count() == 2
            && d["links"].as_array().unwrap().iter().any(|l| l["provider"] == http.as_str())
            && d["links"].as_array().unwrap().iter().any(|l| l["provider"] == kv.as_str())
            && d["feed"] == "live"
    })
    .await;

    // 2. Traffic: both edges with non-zero rates.
    let stop_traffic = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let load = traffic(addr.clone(), stop_traffic.clone(), answered.clone());
    until(&browser, "the httpserver → counter and counter → kv edges with rates", PAGE, |d| {
        edge_rate(d, &http, &actor) > 0.0 && edge_rate(d, &actor, &kv) > 0.0
    })
    .await;
    assert!(answered.load(Ordering::Relaxed) > 0, "the demo answered no request");

    // 3. A forged invocation: the counter's subject, a bad signature.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let lattice = LatticeName::new("default").unwrap();
    let actor_key = ActorKey::parse(&actor).unwrap();
    let forge = Forge {
        seed: seed.clone(),
        host: HostKey::parse(&host).unwrap(),
        origin: WasmCloudEntity::provider(
            &ProviderKey::parse(&http).unwrap(),
            &LinkName::new("default").unwrap(),
            "wasmcloud:httpserver",
        ),
        target: WasmCloudEntity::actor(&actor_key),
        operation: "HttpServer.HandleRequest".into(),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let forged = forge.forge(Forgery::BadSignature, &format!("forged-{now}"), now, 300);
    let subject = lattice_proto::subject::actor_rpc(&lattice, &actor_key).into_string();
    client.publish(subject, forged.into()).await.unwrap();
    client.flush().await.unwrap();
    let latency = until(&browser, "a bad_signature alert", Duration::from_secs(10), |d| {
        has(&d["alerts"], Forgery::BadSignature.kind())
    })
    .await;
    eprintln!("alert latency: forged invocation published → alert in the DOM in {} ms", latency.as_millis());

    // 4. The screenshot, with everything on it (the window as tall as the page).
    let height = probe(&browser).await["height"].as_u64().unwrap_or(1200).clamp(900, 2400) as u32;
    browser.set_window_size(1440, height + 120).await.unwrap();
    until(&browser, "the edges again after the resize", PAGE, |d| edge_rate(d, &http, &actor) > 0.0).await;
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let shot: PathBuf = target_dir().join("lattice-ui.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    stop_traffic.store(true, Ordering::Relaxed);
    load.join().unwrap();

    // 5. Stop the key-value provider: it leaves the page.
    let ctl = CtlClient::builder(client.clone()).lattice(lattice.clone()).build();
    ctl.stop_provider(
        &HostKey::parse(&host).unwrap(),
        &kv,
        &LinkName::new("default").unwrap(),
        "wasmcloud:keyvalue",
        None,
    )
    .await
    .unwrap();
    until(&browser, "the key-value provider gone", PAGE, |d| !has(&d["providers"], &kv) && has(&d["providers"], &http))
        .await;

    // 6. Freeze the host: no more heartbeats. Grey, then gone.
    up.signal("STOP");
    let grey =
        until(&browser, "the silent host grey", PAGE, |d| host_state(d, &host).as_deref() == Some("stale")).await;
    let gone = until(&browser, "the silent host gone", PAGE, |d| host_state(d, &host).is_none()).await;
    eprintln!("silent host: grey after {} ms, gone {} ms later", grey.as_millis(), gone.as_millis());
    up.signal("CONT");

    browser.close().await.unwrap();
    drop(ui);
    drop(up);
}
