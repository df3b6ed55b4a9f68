//! The unsigned side doors, attacked end to end (docs/SECURITY.md lists (a) and (c)): a real
//! nats-server, `lattice up --demo` (a real host launching the real httpserver and kv
//! provider processes), `lattice monitor` as a process, and an attacker who may publish on
//! the lattice's RPC subjects but holds no seed.
//!
//! - A forged `.linkdefs.put` to lattice-httpserver asking for a new listener is refused by
//!   the provider (no listener opens) and alerted by the monitor as `unstored_link_put`.
//! - A forged `.shutdown` is alerted as `unexplained_shutdown` (no host followed it with
//!   `provider_stopped`).
//! - The legitimate path is untouched: the demo's own links (stored by the host) raise no
//!   alert and keep serving, and the host's own shutdown at the end raises none either.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use lattice_control::storage;
use lattice_proto::shutdown::ShutdownRequest;
use lattice_proto::{ClusterSeed, LatticeName, LinkDefinition, LinkName, ProviderKey, subject};
use lattice_test_support::NatsServer;
use serde_json::Value;

use crate::monitor::Watcher;
use crate::up::{Up, http_get};

/// Every link the host stored, read from the lattice data bucket.
async fn stored_links(nats: &async_nats::Client, lattice: &LatticeName) -> Vec<LinkDefinition> {
    let js = async_nats::jetstream::new(nats.clone());
    let kv = js.get_key_value(storage::bucket_name(lattice)).await.unwrap();
    let mut keys = kv.keys().await.unwrap();
    let mut links = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.unwrap();
        if key.starts_with(storage::LINKDEF_PREFIX)
            && let Some(value) = kv.get(&key).await.unwrap()
        {
            links.push(storage::decode_linkdef(&key, &value).unwrap());
        }
    }
    links
}

fn alerts(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn forged_link_puts_and_shutdowns_are_refused_and_alerted_and_real_ones_are_not() {
    let server = NatsServer::start();
    let url = server.url();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let issuer = seed.public_key().as_str().to_owned();

    // The monitor first, so it sees the host's own (real) link puts too.
    let mut monitor = Watcher::spawn(&[
        "monitor",
        "--json",
        "--nats-url",
        &url,
        "--issuer",
        &issuer,
        "--shutdown-wait",
        "3",
        "--alert-subject",
        "",
    ]);
    monitor.wait_stderr("listening on", Duration::from_secs(20));

    let state = tempfile::tempdir().unwrap();
    let mut up =
        Up::spawn(&["--demo", "--nats-url", &url, "--http-port", "0", "--cluster-seed", &seed.seed()], state.path());
    let line = up.wait_for("http listener started");
    let addr = line.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    up.wait_for_all(&["[kv default]", "actor linked"]);
    assert_eq!(http_get(&addr).0, 200);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let attacker = rt.block_on(async_nats::connect(&url)).unwrap();
    let links = rt.block_on(stored_links(&attacker, &lattice));
    let by_contract: HashMap<&str, &LinkDefinition> = links.iter().map(|l| (l.contract_id.as_str(), l)).collect();
    let http = by_contract["wasmcloud:httpserver"];
    let kv = by_contract["wasmcloud:keyvalue"];
    let link = LinkName::new("default").unwrap();

    // (a)+(c) A forged link put: the counter actor on a new port of the attacker's choice.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut forged = (*http).clone();
    forged.values = [("address", format!("127.0.0.1:{port}"))].into_iter().collect();
    let http_provider = ProviderKey::parse(&http.provider_id).unwrap();
    let put = subject::linkdefs_put(&lattice, &http_provider, &link).into_string();
    rt.block_on(async {
        attacker.publish(put.clone(), forged.encode().into()).await.unwrap();
        attacker.flush().await.unwrap();
    });
    up.wait_for("refusing a link put that no host stored");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the forged link opened a listener");
    let first = alerts(&monitor.stdout_lines(1, Duration::from_secs(20)));
    assert_eq!(first[0]["kind"], "unstored_link_put", "{first:?}");
    assert_eq!(first[0]["subject"], put);
    assert_eq!(first[0]["origin"], http.actor_id.as_str());
    assert_eq!(first[0]["target"], http.provider_id.as_str());

    // (c) A forged shutdown of the kv provider (naming another host: ignored by the provider,
    // and no host follows it with provider_stopped).
    let kv_provider = ProviderKey::parse(&kv.provider_id).unwrap();
    let stop = subject::shutdown(&lattice, &kv_provider, &link).into_string();
    let other_host = nkeys::KeyPair::new_server().public_key();
    rt.block_on(async {
        let body = ShutdownRequest { host_id: other_host.clone() }.encode();
        attacker.publish(stop.clone(), body.into()).await.unwrap();
        attacker.flush().await.unwrap();
    });
    let second = alerts(&monitor.stdout_lines(1, Duration::from_secs(20)));
    assert_eq!(second[0]["kind"], "unexplained_shutdown", "{second:?}");
    assert_eq!(second[0]["origin"], other_host.as_str());
    assert_eq!(second[0]["target"], kv.provider_id.as_str());

    // The legitimate path: still serving, counting.
    let (status, body) = http_get(&addr);
    assert_eq!(status, 200, "{body}");

    // The host's own shutdown of its providers is followed by provider_stopped: no alert
    // (an absence, so it needs a bound: the 3 s shutdown wait plus a margin).
    up.stop();
    std::thread::sleep(Duration::from_secs(4));
    let rest = monitor.stdout_now();
    assert!(rest.is_empty(), "real traffic raised alerts: {rest:?}\nmonitor stderr: {:?}", monitor.stderr_seen);
}
