//! The monitor under a memory flood (issue 16 item 4, docs/BENCHMARKS.md "monitor flood"):
//! 20 000 forged invocations with a 16 KiB operation and their own reply subjects, plus
//! 20 000 unpaired 16 KiB replies on `_INBOX.>`, published as fast as one client can. The
//! monitor (a real `lattice monitor --json` process) must stay at or under 256 MiB peak
//! RSS (`VmHWM`) and alert the next forged invocation within 2 s. A measurement, not a
//! timed unit test: ignored by default, run with
//! `cargo nextest run -p lattice --run-ignored only -E 'test(monitor_flood)'`
//! (the numbers and the command are recorded in docs/BENCHMARKS.md).

use std::time::{Duration, Instant};

use lattice_monitor::forge::{Forge, Forgery};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, WasmCloudEntity};
use lattice_test_support::NatsServer;
use serde_json::Value;

use crate::monitor::{Watcher, http_get, sample, unix_now};

const FLOOD: usize = 20_000;
const SIXTEEN_KIB: usize = 16 * 1024;

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
#[ignore = "a measurement (docs/BENCHMARKS.md): run with --run-ignored only"]
fn monitor_flood_stays_bounded_and_alerts_the_next_forgery() {
    let nats = NatsServer::start();
    let url = nats.url();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let issuer = seed.public_key().as_str().to_owned();
    let actor = ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let subject = format!("wasmbus.rpc.{lattice}.{actor}");

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
    let metrics_addr: std::net::SocketAddr =
        ready.split("metrics http://").nth(1).and_then(|s| s.strip_suffix("/metrics")).unwrap().parse().unwrap();
    let pid = monitor.pid();
    let rss_idle = vm_kib(pid, "VmRSS:");

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let flood_took = rt.block_on(async {
        let attacker = async_nats::connect(&url).await.unwrap();
        let forge = Forge {
            seed: seed.clone(),
            host: host.clone(),
            origin: WasmCloudEntity::actor(&ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()),
            target: WasmCloudEntity::actor(&actor),
            operation: "x".repeat(SIXTEEN_KIB),
        };
        let now = unix_now();
        // One forged invocation (16 KiB operation, bad signature), prepared before the
        // clock starts and published 20 000 times, each copy with its own reply subject:
        // a forged signature is refused before the replay check, so every copy is alerted.
        let forged: bytes::Bytes = forge.forge(Forgery::BadSignature, "flood", now, 300).into();
        let junk = bytes::Bytes::from(vec![0xa5u8; SIXTEEN_KIB]);
        let started = Instant::now();
        for i in 0..FLOOD {
            let reply = format!("_INBOX.flood.{i}.{}", "r".repeat(200));
            attacker.publish_with_reply(subject.clone(), reply, forged.clone()).await.unwrap();
            // A reply nobody asked for: an early reply that never pairs.
            attacker.publish(format!("_INBOX.unpaired.{i}"), junk.clone()).await.unwrap();
        }
        attacker.flush().await.unwrap();
        let flood_took = started.elapsed();
        // The next forged invocation, right after the flood.
        let next = forge.forge(Forgery::UnknownIssuer, "after-the-flood", unix_now(), 300);
        attacker.publish(subject.clone(), next.into()).await.unwrap();
        attacker.flush().await.unwrap();
        flood_took
    });
    let sent = Instant::now();

    // Drain the alerts until the one for the next forgery; its delay from publishing.
    let mut alerts = 0usize;
    let mut alert_delay = None;
    while let Some(line) = monitor.next_stdout(Duration::from_secs(20)) {
        alerts += 1;
        let alert: Value = serde_json::from_str(&line).unwrap();
        if alert["invocation_id"] == "after-the-flood" {
            alert_delay = Some(sent.elapsed());
            break;
        }
    }
    let hwm = vm_kib(pid, "VmHWM:");
    let (_, metrics) = http_get(metrics_addr, "/metrics");
    let counter = |series: &str| sample(&metrics, series).unwrap_or(0.0) as usize;
    let unverified = counter("lattice_monitor_unverified_dropped_total");
    let early = counter("lattice_monitor_pairing_dropped_total{what=\"early_reply\"}");
    let slow = counter("lattice_monitor_slow_consumer_events_total");
    println!(
        "monitor flood: {FLOOD} forged invocations (16 KiB operation, own reply subject) + {FLOOD} unpaired 16 KiB \
         replies published in {flood_took:?}; monitor RSS idle {} MiB, peak (VmHWM) {} MiB; {alerts} alert lines, \
         {unverified} invocations dropped unverified (counted), {early} early replies dropped, {slow} slow-consumer \
         events; next forged invocation alerted after {alert_delay:?} (None: not alerted)",
        rss_idle / 1024,
        hwm / 1024
    );
    // Nothing lost silently: each forged invocation was alerted or counted as dropped.
    assert_eq!(alerts + unverified, FLOOD + 1, "every forged invocation alerted or counted");
    assert_eq!(slow, 0, "NATS dropped nothing for the monitor");
    assert!(hwm <= 256 * 1024, "monitor peak RSS {} MiB > 256 MiB", hwm / 1024);
    let alert_delay = alert_delay.expect("the next forged invocation was alerted");
    assert!(alert_delay <= Duration::from_secs(2), "next forgery alerted after {alert_delay:?} > 2 s");
}
