//! Issue 11 item 2: the REAL control client (`wasmcloud-control-interface` 0.33 over
//! async-nats 0.33, what wash 0.82 and wadm use) drives a running `lattice up` through a
//! life cycle like the one in vectors/host082: hosts, inventory, links, claims, both
//! auctions, scale / stop actor, start / stop provider (by key and by reference, from
//! provider archives packed by the real `provider-archive` 0.8.0), labels, and events.
//!
//! Every reply is deserialized by the client into its own types, and the content is
//! checked field by field; raw replies and event payloads are also compared key by key with
//! what the real 0.82 host sent (transcript.jsonl), so a renamed or missing field fails here
//! even where the client's `#[serde(default)]` would hide it.

use std::time::Duration;

use lattice_test_support::NatsServer;
use serde_json::{json, Value};

use crate::support::{self, ctl_client, map, Events, Up};
use crate::transcript::{self, assert_same_shape};

/// The raw JSON reply to a control request (to compare shapes with the transcript).
async fn raw(nc: &async_nats::Client, subject: String) -> Value {
    let reply = tokio::time::timeout(Duration::from_secs(10), nc.request(subject.clone(), Vec::new().into()))
        .await
        .unwrap_or_else(|_| panic!("no reply on {subject}"))
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

/// The 0.82 link id: uppercase hex SHA-256 of actor ‖ contract ‖ link name (HOST.md §4).
/// wasmcloud-core's `invocation_hash` is the SHA-256 of its four inputs concatenated, so
/// with the other three empty it is the plain digest.
fn linkdef_id(actor: &str, contract: &str, link: &str) -> String {
    wasmcloud_core::invocation_hash("", "", "", format!("{actor}{contract}{link}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_control_client_drives_a_lattice_host() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;
    let client = ctl_client(nc.clone());
    let kinds = [
        "actors_started",
        "actor_scaled",
        "actors_stopped",
        "actors_start_failed",
        "provider_started",
        "provider_stopped",
        "provider_start_failed",
        "linkdef_set",
        "linkdef_deleted",
        "health_check_passed",
        "health_check_status",
    ];
    let mut events =
        Events::new(client.events_receiver(kinds.iter().map(|k| (*k).to_owned()).collect()).await.unwrap());
    let up = Up::start(&nats.url(), &["--label", "zone=interop"]).await;
    let host = up.host_id.as_str();

    // Artefacts made with the real crates.
    let echo = support::sign_actor(
        dir.path(),
        &support::actors_dir().join("echo.wat"),
        "interop-echo",
        &["wasmcloud:httpserver"],
        7,
    );
    let http = support::pack_par(
        dir.path(),
        &support::product_bin("lattice-httpserver"),
        "lattice-httpserver",
        "wasmcloud:httpserver",
        3,
    )
    .await;
    let sdk_dir = dir.path().join("sdk");
    std::fs::create_dir(&sdk_dir).unwrap();
    let sdk = support::pack_par(&sdk_dir, &support::echo_provider_bin(), "interop-echo", "example:echo", 2).await;

    // ---- ping.hosts -------------------------------------------------------------------
    let hosts = client.get_hosts().await.unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let h = &hosts[0];
    assert_eq!(h.id, host);
    assert_eq!(h.cluster_issuers.as_deref(), Some(up.cluster_key.as_str()), "cluster_issuers: one comma-joined string");
    assert_eq!(h.lattice.as_deref(), Some("default"));
    assert_eq!(h.ctl_host.as_deref(), Some(nats.url().as_str()));
    assert_eq!(h.rpc_host.as_deref(), Some(nats.url().as_str()));
    assert!(!h.friendly_name.is_empty());
    assert!(h.version.as_deref().is_some_and(|v| !v.is_empty()));
    assert!(h.uptime_human.as_deref().is_some_and(|v| v.ends_with('s')), "{:?}", h.uptime_human);
    let labels = h.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("zone").map(String::as_str), Some("interop"));
    for builtin in ["hostcore.arch", "hostcore.os", "hostcore.osfamily"] {
        assert!(labels.contains_key(builtin), "missing built-in label {builtin}: {labels:?}");
    }
    // The raw reply has the 0.82 host's keys, no more, no fewer (no ack wrapper).
    let inbox = nc.new_inbox();
    let mut ping = nc.subscribe(inbox.clone()).await.unwrap();
    nc.publish_with_reply("wasmbus.ctl.default.ping.hosts".to_owned(), inbox, Vec::new().into()).await.unwrap();
    let reply = futures::StreamExt::next(&mut ping).await.unwrap();
    let ours: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_same_shape("ping.hosts", &ours, &transcript::reply_json("ping.hosts"));

    // ---- inventory, links, claims while empty ----------------------------------------
    let inv = client.get_host_inventory(host).await.unwrap();
    assert_eq!(inv.host_id, host);
    assert_eq!(inv.issuer, up.cluster_key);
    assert_eq!(inv.labels.get("zone").map(String::as_str), Some("interop"));
    assert!(inv.actors.is_empty() && inv.providers.is_empty(), "{inv:?}");
    assert!(client.query_links().await.unwrap().is_empty());
    assert!(client.get_claims().await.unwrap().is_empty());
    assert_eq!(raw(&nc, "wasmbus.ctl.default.get.links".into()).await, json!({"links": []}));
    assert_eq!(raw(&nc, "wasmbus.ctl.default.get.claims".into()).await, json!({"claims": []}));

    // ---- actor auction: Lattice bids only when the constraints hold (0.82 always bid) --
    let acks = client.perform_actor_auction(&echo.reference(), map(&[("zone", "interop")])).await.unwrap();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].host_id, host);
    assert_eq!(acks[0].actor_ref, echo.reference());
    assert_eq!(acks[0].constraints, map(&[("zone", "interop")]));
    let none = client.perform_actor_auction(&echo.reference(), map(&[("zone", "elsewhere")])).await.unwrap();
    assert!(none.is_empty(), "a host whose labels do not satisfy the constraints must not bid: {none:?}");

    // ---- scale an actor signed by real wascap 0.12, from a file:// reference ----------
    let ack = client.scale_actor(host, &echo.reference(), 2, Some(map(&[("app", "interop")]))).await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, started) = events.wait("actors_started", |d| d["public_key"] == echo.public_key()).await;
    assert_eq!(started["count"], 2);
    assert_eq!(started["image_ref"], echo.reference());
    assert_eq!(started["host_id"], host);
    assert_eq!(started["annotations"], json!({"app": "interop"}));
    assert_eq!(started["claims"]["issuer"], echo.account.public_key());
    assert_eq!(started["claims"]["caps"], json!(["wasmcloud:httpserver"]));
    assert_eq!(started["claims"]["revision"], 7);
    assert_same_shape("actors_started", &started, &transcript::event_data("actors_started"));
    let (_, scaled) = events.wait("actor_scaled", |d| d["public_key"] == echo.public_key()).await;
    assert_eq!(scaled["max_instances"], 2);
    assert_same_shape("actor_scaled", &scaled, &transcript::event_data("actor_scaled"));

    let inv = client.get_host_inventory(host).await.unwrap();
    assert_eq!(inv.actors.len(), 1, "{inv:?}");
    let a = &inv.actors[0];
    assert_eq!(a.id, echo.public_key());
    assert_eq!(a.name.as_deref(), Some("interop-echo"));
    assert_eq!(a.image_ref.as_deref(), Some(echo.reference().as_str()));
    assert_eq!(a.instances.len(), 1);
    assert_eq!(a.instances[0].max_instances, 2);
    assert_eq!(a.instances[0].revision, 7);
    assert_eq!(a.instances[0].image_ref.as_deref(), Some(echo.reference().as_str()));
    assert_eq!(a.instances[0].annotations, Some(map(&[("app", "interop")])));
    assert!(!a.instances[0].instance_id.is_empty());

    // Claims: string maps with both the short and the long names, as 0.82 answers.
    let claims = client.get_claims().await.unwrap();
    let c = claims.iter().find(|c| c.get("sub") == Some(&echo.public_key())).expect("the actor's claims");
    for (short, long, want) in [
        ("sub", "subject", echo.public_key()),
        ("iss", "issuer", echo.account.public_key()),
        ("caps", "capabilities", "wasmcloud:httpserver".to_owned()),
        ("rev", "revision", "7".to_owned()),
    ] {
        assert_eq!(c.get(short), Some(&want), "claims.{short}: {c:?}");
        assert_eq!(c.get(long), Some(&want), "claims.{long}: {c:?}");
    }
    assert_eq!(c.get("name").map(String::as_str), Some("interop-echo"));
    assert_eq!(c.get("version").map(String::as_str), Some("0.1.0"));
    assert_eq!(c.get("tags").map(String::as_str), Some("interop"));
    let raw_claims = raw(&nc, "wasmbus.ctl.default.get.claims".into()).await;
    let ours = raw_claims["claims"].as_array().unwrap().iter().find(|c| c["sub"] == echo.public_key()).unwrap().clone();
    let theirs = transcript::reply_json("get.claims")["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sub"].as_str().unwrap().starts_with('M'))
        .unwrap()
        .clone();
    assert_same_shape("get.claims (actor)", &ours, &theirs);

    // Scale down by reference: max_instances follows.
    let ack = client.scale_actor(host, &echo.reference(), 1, None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    events.wait("actor_scaled", |d| d["public_key"] == echo.public_key() && d["max_instances"] == 1).await;
    assert_eq!(client.get_host_inventory(host).await.unwrap().actors[0].instances[0].max_instances, 1);

    // ---- provider auction, then start lattice-httpserver from a real .par.gz ---------
    let acks = client.perform_provider_auction(&http.reference(), "default", map(&[])).await.unwrap();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(
        (acks[0].host_id.as_str(), acks[0].link_name.as_str(), acks[0].provider_ref.as_str()),
        (host, "default", http.reference().as_str())
    );
    let ack = client.start_provider(host, &http.reference(), None, Some(map(&[("tier", "edge")])), None).await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, started) = events.wait("provider_started", |d| d["public_key"] == http.public_key()).await;
    assert_eq!(started["contract_id"], "wasmcloud:httpserver", "the contract comes from the archive's claims");
    assert_eq!(started["link_name"], "default");
    assert_eq!(started["image_ref"], http.reference());
    assert_eq!(started["claims"]["issuer"], http.issuer.public_key());
    assert_eq!(started["claims"]["name"], "lattice-httpserver");
    assert_eq!(started["claims"]["version"], "0.2.0");
    assert_same_shape("provider_started", &started, &transcript::event_data("provider_started"));
    // Same reference and link name already running: no bid (as 0.82); another link name: a bid.
    assert!(client.perform_provider_auction(&http.reference(), "default", map(&[])).await.unwrap().is_empty());
    assert_eq!(client.perform_provider_auction(&http.reference(), "other", map(&[])).await.unwrap().len(), 1);

    let inv = client.get_host_inventory(host).await.unwrap();
    let p = inv.providers.iter().find(|p| p.id == http.public_key()).expect("the provider in the inventory");
    assert_eq!(p.contract_id, "wasmcloud:httpserver");
    assert_eq!(p.link_name, "default");
    assert_eq!(p.name.as_deref(), Some("lattice-httpserver"));
    assert_eq!(p.revision, 3);
    assert_eq!(p.image_ref.as_deref(), Some(http.reference().as_str()));
    assert_eq!(p.annotations, Some(map(&[("tier", "edge")])));
    let raw_inv = raw(&nc, format!("wasmbus.ctl.default.get.{host}.inv")).await;
    let theirs = messages_inventory_with_both();
    assert_same_shape("get.{host}.inv", &raw_inv, &theirs);

    let claims = client.get_claims().await.unwrap();
    let c = claims.iter().find(|c| c.get("sub") == Some(&http.public_key())).expect("the provider's claims");
    assert_eq!(c.get("contract_id").map(String::as_str), Some("wasmcloud:httpserver"));
    assert_eq!(c.get("issuer"), Some(&http.issuer.public_key()));
    assert_eq!(c.get("iss"), Some(&http.issuer.public_key()));
    assert_eq!(c.get("name").map(String::as_str), Some("lattice-httpserver"));
    assert_eq!(c.get("rev").map(String::as_str), Some("3"));
    assert_eq!(c.get("version").map(String::as_str), Some("0.2.0"));

    // ---- links: advertise, query, the provider serves HTTP for the actor, remove -------
    let mark = up.proc.mark();
    let ack = client
        .advertise_link(
            &echo.public_key(),
            &http.public_key(),
            "wasmcloud:httpserver",
            "default",
            map(&[("address", "127.0.0.1:0")]),
        )
        .await
        .unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, set) = events.wait("linkdef_set", |d| d["actor_id"] == echo.public_key()).await;
    assert_eq!(set["id"], linkdef_id(&echo.public_key(), "wasmcloud:httpserver", "default"));
    assert_eq!(set["provider_id"], http.public_key());
    assert_eq!(set["values"], json!({"address": "127.0.0.1:0"}));
    assert_same_shape("linkdef_set", &set, &transcript::event_data("linkdef_set"));
    let links = client.query_links().await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        (links[0].actor_id.as_str(), links[0].provider_id.as_str()),
        (echo.public_key().as_str(), http.public_key().as_str())
    );
    assert_eq!((links[0].contract_id.as_str(), links[0].link_name.as_str()), ("wasmcloud:httpserver", "default"));
    assert_eq!(links[0].values.get("address").map(String::as_str), Some("127.0.0.1:0"));

    // The shared lattice data, read with the 0.82 stack (async-nats 0.33 JetStream KV): the
    // keys and JSON a 0.82 host sharing the bucket reads and writes.
    let kv = async_nats::jetstream::new(nc.clone()).get_key_value("LATTICEDATA_default").await.unwrap();
    let id = linkdef_id(&echo.public_key(), "wasmcloud:httpserver", "default");
    let stored: Value =
        serde_json::from_slice(&kv.get(format!("LINKDEF_{id}")).await.unwrap().expect("LINKDEF_{id}")).unwrap();
    let theirs: Value =
        serde_json::from_slice(&transcript::payload(&transcript::find(|s| s.contains(".LINKDEF_")))).unwrap();
    assert_same_shape("LINKDEF_ entry", &stored, &theirs);
    assert_eq!(stored["actor_id"], echo.public_key());
    for (key, kind) in [(echo.public_key(), 'M'), (http.public_key(), 'V')] {
        let stored: Value =
            serde_json::from_slice(&kv.get(format!("CLAIMS_{key}")).await.unwrap().expect("CLAIMS_{pk}")).unwrap();
        let theirs = transcript::find(|s| s.starts_with(&format!("$KV.LATTICEDATA_default.CLAIMS_{kind}")));
        let theirs: Value = serde_json::from_slice(&transcript::payload(&theirs)).unwrap();
        assert_same_shape(&format!("CLAIMS_{kind}… entry"), &stored, &theirs);
        assert_eq!(stored["subject"], key);
    }

    // The provider (launched from the archive, HostData on stdin) got the link and listens.
    let line = up.proc.wait_for_since(mark, &["http listener started", &echo.public_key()]).await;
    let port: u16 = line
        .rsplit("127.0.0.1:")
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/interop?via=archive")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("/interop") && body.contains("via=archive"),
        "the echo actor answers with the request: {body}"
    );

    // Health checks of the provider: passed, then status.
    events.wait("health_check_passed", |d| d["public_key"] == http.public_key()).await;
    let (_, status) = events.wait("health_check_status", |d| d["public_key"] == http.public_key()).await;
    assert_eq!(
        status,
        json!({"public_key": http.public_key(), "link_name": "default", "contract_id": "wasmcloud:httpserver"})
    );

    let ack = client.remove_link(&echo.public_key(), "wasmcloud:httpserver", "default").await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, deleted) = events.wait("linkdef_deleted", |d| d["actor_id"] == echo.public_key()).await;
    assert_same_shape("linkdef_deleted", &deleted, &transcript::event_data("linkdef_deleted"));
    assert!(client.query_links().await.unwrap().is_empty());

    // ---- labels ------------------------------------------------------------------------
    let ack = client.put_label(host, "interop", "yes").await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    assert_eq!(client.get_host_inventory(host).await.unwrap().labels.get("interop").map(String::as_str), Some("yes"));
    let ack = client.delete_label(host, "interop").await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    assert!(!client.get_host_inventory(host).await.unwrap().labels.contains_key("interop"));

    // ---- acks as 0.82 sends them; where Lattice answers differently on purpose ---------
    // The success ack, byte for byte as in the transcript (no other shape is accepted).
    let theirs = transcript::find(|s| s.contains(".labels.") && s.ends_with(".put"));
    let reply = nc
        .request(format!("wasmbus.ctl.default.labels.{host}.put"), br#"{"key":"raw","value":"1"}"#.to_vec().into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), theirs["replies"][0]["payload"].as_str().unwrap());
    assert_eq!(&reply.payload[..], br#"{"accepted":true,"error":""}"#);
    // A malformed link definition: refused with a JSON error ack, as 0.82 refuses it.
    let reply = nc.request("wasmbus.ctl.default.linkdefs.put".to_owned(), b"{bad".to_vec().into()).await.unwrap();
    let ack: wasmcloud_control_interface::CtlOperationAck = serde_json::from_slice(&reply.payload).unwrap();
    assert!(!ack.accepted && !ack.error.is_empty(), "{ack:?}");
    // 0.82 acked a scale body of `[]` with accepted:true (all fields defaulted); Lattice refuses it.
    let reply = nc.request(format!("wasmbus.ctl.default.cmd.{host}.scale"), b"[]".to_vec().into()).await.unwrap();
    let ack: wasmcloud_control_interface::CtlOperationAck = serde_json::from_slice(&reply.payload).unwrap();
    assert!(!ack.accepted && !ack.error.is_empty(), "a malformed scale must be refused: {ack:?}");
    // 0.82 built error acks with format! (quotes unescaped, invalid JSON); Lattice's parse.
    let ack = client.put_label(host, r#"hostcore."quoted"\key"#, "v").await.expect("an error ack is valid JSON");
    assert!(!ack.accepted && ack.error.contains(r#"hostcore."quoted"\key"#), "{ack:?}");
    let ack = client.stop_actor(host, "MNOTRUNNING", None).await.unwrap();
    assert_eq!((ack.accepted, ack.error.as_str()), (false, "actor is not running on this host"), "0.82's answer");
    // A subject outside the host's subscriptions gets no reply at all, as in 0.82 (no
    // catch-all: hosts never answer for each other).
    let err = nc.request("wasmbus.ctl.default.bogus.thing".to_owned(), b"{}".to_vec().into()).await.unwrap_err();
    assert!(matches!(err.kind(), async_nats::client::RequestErrorKind::NoResponders), "{err:?}");

    // ---- stop the httpserver by its REFERENCE (0.82 acked this and did nothing) ---------
    let ack = client.stop_provider(host, &http.reference(), "default", "wasmcloud:httpserver", None).await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, stopped) = events.wait("provider_stopped", |d| d["public_key"] == http.public_key()).await;
    assert_eq!(stopped["link_name"], "default");
    assert_eq!(stopped["contract_id"], "wasmcloud:httpserver");

    // ---- the SDK-0.2.0 provider from its archive, stopped by PUBLIC KEY -----------------
    let mark = up.proc.mark();
    let ack = client.start_provider(host, &sdk.reference(), Some("default".into()), None, None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    let (_, started) = events.wait("provider_started", |d| d["public_key"] == sdk.public_key()).await;
    assert_eq!(started["contract_id"], "example:echo");
    up.proc.wait_for_since(mark, &["interop-echo: host data", &format!("provider_key={}", sdk.public_key())]).await;
    let ack = client.stop_provider(host, &sdk.public_key(), "default", "example:echo", None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    events.wait("provider_stopped", |d| d["public_key"] == sdk.public_key()).await;
    up.proc.wait_for_since(mark, &["interop-echo: shutdown"]).await;
    up.proc.wait_for_since(mark, &["interop-echo: exited cleanly"]).await;
    assert!(client.get_host_inventory(host).await.unwrap().providers.is_empty());

    // ---- tampered archives are refused, with the reason in provider_start_failed --------
    for (tampered, reason) in [
        (support::tamper_binary(&http.path), "does not match its claims"),
        (support::tamper_claims(&http.path), "signature"),
    ] {
        let reference = format!("file://{}", tampered.display());
        let ack = client.start_provider(host, &reference, None, None, None).await.unwrap();
        assert!(ack.accepted, "{ack:?}");
        let (_, failed) = events.wait("provider_start_failed", |d| d["provider_ref"] == reference).await;
        let error = failed["error"].as_str().unwrap();
        assert!(error.contains(reason), "{reference}: {error}");
        assert_eq!(failed["link_name"], "default");
    }
    assert!(client.get_host_inventory(host).await.unwrap().providers.is_empty());

    // ---- a real-wascap module changed after signing never starts ----------------------
    let mut wasm = echo.wasm.clone();
    let at = wasm.windows(4).position(|w| w == b"\x83\xaa\x73\x74").unwrap_or(wasm.len() / 3);
    wasm[at + 1] ^= 0x01;
    let bad = dir.path().join("tampered.wasm");
    std::fs::write(&bad, &wasm).unwrap();
    let reference = format!("file://{}", bad.display());
    let ack = client.scale_actor(host, &reference, 1, None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    let (_, failed) = events.wait("actors_start_failed", |d| d["image_ref"] == reference).await;
    assert!(failed["error"].as_str().unwrap().to_lowercase().contains("hash"), "{failed}");

    // ---- stop the actor by its public key -------------------------------------------------
    let ack = client.stop_actor(host, &echo.public_key(), None).await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    let (_, stopped) = events.wait("actors_stopped", |d| d["public_key"] == echo.public_key()).await;
    assert_eq!(stopped["remaining"], 0);
    assert_same_shape("actors_stopped", &stopped, &transcript::event_data("actors_stopped"));
    assert!(client.get_host_inventory(host).await.unwrap().actors.is_empty());
}

/// The transcript's inventory reply that lists both an actor and a provider.
fn messages_inventory_with_both() -> Value {
    transcript::messages()
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().ends_with(".inv"))
        .filter_map(|m| {
            m["replies"].get(0).and_then(|r| r["payload"].as_str()).map(|p| serde_json::from_str::<Value>(p).unwrap())
        })
        .find(|inv| {
            inv["actors"].as_array().is_some_and(|a| !a.is_empty())
                && inv["providers"].as_array().is_some_and(|p| !p.is_empty())
        })
        .expect("an inventory with an actor and a provider in the transcript")
}

/// A plain HTTP/1.1 GET: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = Vec::new();
    stream.read_to_end(&mut text).unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
