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

use crate::monitor::{Watcher, unix_now};

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

    let mut monitor = Watcher::spawn(&["monitor", "--json", "--nats-url", &url, "--issuer", &issuer]);
    monitor.wait_stderr("listening on", Duration::from_secs(20));
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
        // One forged template (16 KiB operation, bad signature); each copy gets its own id
        // region by the sequence number in the reply subject (the monitor alerts each).
        let started = Instant::now();
        let junk = vec![0xa5u8; SIXTEEN_KIB];
        for i in 0..FLOOD {
            let forged = forge.forge(Forgery::BadSignature, &format!("flood-{i}"), now, 300);
            let reply = format!("_INBOX.flood.{i}.{}", "r".repeat(200));
            attacker.publish_with_reply(subject.clone(), reply, forged.into()).await.unwrap();
            // A reply nobody asked for: an early reply that never pairs.
            attacker.publish(format!("_INBOX.unpaired.{i}"), junk.clone().into()).await.unwrap();
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
    let mut peak_during = 0u64;
    let alert_delay = loop {
        let line = monitor
            .next_stdout(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("no alert for the next forgery; {alerts} alerts so far"));
        alerts += 1;
        if alerts % 1000 == 0 {
            peak_during = peak_during.max(vm_kib(pid, "VmRSS:"));
        }
        let alert: Value = serde_json::from_str(&line).unwrap();
        if alert["invocation_id"] == "after-the-flood" {
            break sent.elapsed();
        }
    };
    let hwm = vm_kib(pid, "VmHWM:");
    println!(
        "monitor flood: {FLOOD} forged invocations (16 KiB operation, own reply subject) + {FLOOD} unpaired 16 KiB \
         replies published in {flood_took:?}; monitor RSS idle {} MiB, peak (VmHWM) {} MiB; {alerts} alert lines; \
         next forged invocation alerted {alert_delay:?} after it was published",
        rss_idle / 1024,
        hwm / 1024
    );
    assert_eq!(alerts, FLOOD + 1, "every forged invocation alerted, the next one last");
    assert!(hwm <= 256 * 1024, "monitor peak RSS {} MiB > 256 MiB", hwm / 1024);
    assert!(alert_delay <= Duration::from_secs(2), "next forgery alerted after {alert_delay:?} > 2 s");
}
