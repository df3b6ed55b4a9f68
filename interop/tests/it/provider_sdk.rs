//! Issue 11 item 3 (and item 6 at the network level): providers across the two SDKs.
//!
//! - A provider written with the REAL `wasmcloud-provider-sdk` 0.2.0 (src/bin/echo_provider.rs),
//!   packed by the real `provider-archive` 0.8.0, runs on a Lattice host: it reads the
//!   host's HostData, receives its link, answers health checks, is called by a
//!   Lattice-hosted wasm actor (signed by real wascap) — so Lattice-signed invocations pass
//!   the SDK's own validation — and exits when stopped.
//! - Invocations built and signed by the real `wasmcloud_core::Invocation::new`, sent with
//!   async-nats 0.33, are accepted by a Lattice-hosted actor.
//! - Lattice's own providers accept what a 0.82 host sends: `lattice-httpserver` gets the
//!   real 0.82 HostData line and the transcript's link, serves HTTP by invoking the actor as
//!   0.82 providers do (checked by the real crate's `validate_antiforgery`), answers the
//!   health check byte for byte and obeys the shutdown request; `lattice-kv` gets HostData
//!   built with the real struct (initial links included) and real signed invocations.

use std::time::Duration;

use lattice_test_support::NatsServer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasmcloud_core::{HealthCheckResponse, HostData, Invocation, InvocationResponse, LinkDefinition, WasmCloudEntity};

use crate::support::{self, ctl_client, Events, Up};
use crate::transcript;

fn actor_entity(key: &str) -> WasmCloudEntity {
    WasmCloudEntity { public_key: key.to_owned(), ..Default::default() }
}

fn provider_entity(key: &str, contract: &str, link: &str) -> WasmCloudEntity {
    WasmCloudEntity { public_key: key.to_owned(), link_name: link.to_owned(), contract_id: contract.to_owned() }
}

/// Send a real invocation and decode the real response.
async fn invoke(nc: &async_nats::Client, subject: String, inv: &Invocation) -> InvocationResponse {
    let bytes = rmp_serde::to_vec_named(inv).unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), nc.request(subject.clone(), bytes.into()))
        .await
        .unwrap_or_else(|_| panic!("no answer on {subject}"))
        .unwrap_or_else(|e| panic!("request on {subject}: {e}"));
    rmp_serde::from_slice(&reply.payload).expect("the reply decodes as wasmcloud_core::InvocationResponse")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_0_2_provider_runs_on_a_lattice_host() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;
    let client = ctl_client(nc.clone());
    let kinds = ["provider_started", "provider_stopped", "health_check_passed", "health_check_status", "linkdef_set"];
    let mut events =
        Events::new(client.events_receiver(kinds.iter().map(|k| (*k).to_owned()).collect()).await.unwrap());

    let relay = support::sign_actor(dir.path(), &support::interop_actor("relay.wat"), "relay", &["example:echo"], 1);
    // The same actor without the `example:echo` capability claim, linked all the same.
    let nocap = support::sign_actor(dir.path(), &support::interop_actor("relay.wat"), "nocap", &[], 1);
    let par = support::pack_par(dir.path(), &support::echo_provider_bin(), "interop-echo", "example:echo", 2).await;
    let manifest = dir.path().join("lattice.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[[actors]]
name = "relay"
path = "{}"
instances = 2

[[actors]]
name = "nocap"
path = "{}"

[[providers]]
name = "echo"
path = "{}"

[[links]]
actor = "relay"
provider = "echo"
contract = "example:echo"
values = {{ greeting = "hi" }}

[[links]]
actor = "nocap"
provider = "echo"
contract = "example:echo"
"#,
            relay.reference(),
            nocap.reference(),
            par.reference()
        ),
    )
    .unwrap();
    let up = Up::start(&nats.url(), &["--manifest", &manifest.to_string_lossy()]).await;

    // Launched from the archive with the host's HostData, which the real SDK parsed.
    let (_, started) = events.wait("provider_started", |d| d["public_key"] == par.public_key()).await;
    assert_eq!(started["contract_id"], "example:echo");
    assert_eq!(started["claims"]["name"], "interop-echo");
    let line = up.proc.wait_for(&["interop-echo: host data"]).await;
    for want in [
        format!("host_id={}", up.host_id),
        format!("provider_key={}", par.public_key()),
        "link_name=default".to_owned(),
        "lattice=default".to_owned(),
    ] {
        assert!(line.contains(&want), "{want} in {line}");
    }
    assert!(line.contains(&up.cluster_key), "the host's cluster key must be among HostData's cluster_issuers: {line}");

    // It received its link (in HostData or as a msgpack linkdefs.put, both decoded by the SDK).
    up.proc
        .wait_for(&[
            "interop-echo: put_link",
            &format!("actor={}", relay.public_key()),
            "contract=example:echo link=default",
            r#"values={"greeting":"hi"}"#,
        ])
        .await;

    // Health checks answered by the SDK: passed, then status.
    events.wait("health_check_passed", |d| d["public_key"] == par.public_key()).await;
    events.wait("health_check_status", |d| d["public_key"] == par.public_key()).await;

    // A Lattice-hosted wasm actor calls it: `lattice call` → host → relay actor → the host's
    // actor→provider invocation, which the SDK validates (issuer, target, origin linked).
    let seed = up.cluster_seed.clone();
    let url = nats.url();
    let (code, out, err) = support::lattice_async(
        [
            "call",
            &relay.public_key(),
            "Echo.Echo",
            "--data",
            "hello",
            "--cluster-seed",
            &seed,
            "--nats-url",
            &url,
            "--timeout-ms",
            "10000",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(code, 0, "lattice call failed: {err}\nhost log:\n{}", up.proc.log());
    assert_eq!(out.trim(), format!("echo {}: hello", relay.public_key()));
    up.proc.wait_for(&["interop-echo: call Echo.Echo", &relay.public_key()]).await;

    // `lattice call` straight to the provider (origin: the linked actor): the SDK accepts it.
    let (code, out, err) = support::lattice_async(
        [
            "call",
            &par.public_key(),
            "Echo.Link",
            "--origin",
            &relay.public_key(),
            "--contract",
            "example:echo",
            "--cluster-seed",
            &seed,
            "--nats-url",
            &url,
            "--timeout-ms",
            "10000",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(code, 0, "lattice call to the provider failed: {err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).unwrap(), json!({"greeting": "hi"}));

    // Item 6: an invocation signed by the REAL wasmcloud_core::Invocation::new, over
    // async-nats 0.33, to the Lattice-hosted actor (origin = the actor itself, as 0.82
    // accepts without cached origin claims).
    let cluster = up.cluster();
    let fake_host = nkeys::KeyPair::new_server();
    let inv = Invocation::new(
        &cluster,
        &fake_host,
        actor_entity(&relay.public_key()),
        actor_entity(&relay.public_key()),
        "example:echo/Echo.Echo",
        b"from the real crate".to_vec(),
        Default::default(),
    )
    .unwrap();
    let resp = invoke(&nc, format!("wasmbus.rpc.default.{}", relay.public_key()), &inv).await;
    assert_eq!(resp.error, None, "{resp:?}");
    assert_eq!(resp.invocation_id, inv.id);
    assert_eq!(
        String::from_utf8(resp.msg.clone()).unwrap(),
        format!("echo {}: from the real crate", relay.public_key())
    );
    assert_eq!(resp.content_length, resp.msg.len() as u64);

    // The same call signed by a cluster key the host does not trust is refused (and never
    // reaches the provider: wait for the last call's line first, the host forwards provider
    // output asynchronously).
    up.proc.wait_for(&["interop-echo: call Echo.Echo", "(19 bytes)"]).await;
    let mark = up.proc.mark();
    let forged = Invocation::new(
        &nkeys::KeyPair::new_cluster(),
        &fake_host,
        actor_entity(&relay.public_key()),
        actor_entity(&relay.public_key()),
        "example:echo/Echo.Echo",
        b"forged".to_vec(),
        Default::default(),
    )
    .unwrap();
    let resp = invoke(&nc, format!("wasmbus.rpc.default.{}", relay.public_key()), &forged).await;
    assert!(resp.error.is_some(), "an untrusted issuer must be refused: {resp:?}");
    assert!(resp.msg.is_empty());
    assert!(!up.proc.logged_since(mark, &["interop-echo: call"]), "the forged call must not reach the provider");

    // Where Lattice is stricter than 0.82 on purpose, each with a real-crate invocation:
    let subject = format!("wasmbus.rpc.default.{}", relay.public_key());
    // - a replay of an accepted invocation (0.82 has no replay protection);
    let resp = invoke(&nc, subject.clone(), &inv).await;
    assert!(
        resp.error.as_deref().is_some_and(|e| e.contains("replay")),
        "a replayed invocation must be refused: {resp:?}"
    );
    // - an invocation for another actor sent to this actor's subject (0.82 never compares
    //   the target with the subject it arrived on);
    let other = Invocation::new(
        &cluster,
        &fake_host,
        actor_entity(&nocap.public_key()),
        actor_entity(&nocap.public_key()),
        "example:echo/Echo.Echo",
        b"x".to_vec(),
        Default::default(),
    )
    .unwrap();
    let resp = invoke(&nc, subject.clone(), &other).await;
    assert!(resp.error.is_some() && resp.msg.is_empty(), "an invocation for another target must be refused: {resp:?}");
    // - a genuine invocation whose body was emptied after signing (0.82 skips the hash
    //   check for an empty msg);
    let mut emptied = Invocation::new(
        &cluster,
        &fake_host,
        actor_entity(&relay.public_key()),
        actor_entity(&relay.public_key()),
        "example:echo/Echo.Echo",
        b"signed body".to_vec(),
        Default::default(),
    )
    .unwrap();
    emptied.msg.clear();
    emptied.content_length = 0;
    let resp = invoke(&nc, subject.clone(), &emptied).await;
    assert!(resp.error.as_deref().is_some_and(|e| e.contains("hash")), "an emptied body must be refused: {resp:?}");
    // - a call to a linked contract the actor's claims do not list (0.82 never checks caps).
    let (code, _, err) = support::lattice_async(
        [
            "call",
            &nocap.public_key(),
            "Echo.Echo",
            "--data",
            "x",
            "--cluster-seed",
            &seed,
            "--nats-url",
            &url,
            "--timeout-ms",
            "10000",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(code, 1, "an actor without the capability claim must not reach the provider: {err}");
    assert!(!up.proc.logged_since(0, &["interop-echo: call", &format!("from {}", nocap.public_key())]));

    // Stopped through the real client by its reference: the SDK shuts down and exits.
    let mark = up.proc.mark();
    let ack = client.stop_provider(&up.host_id, &par.reference(), "default", "example:echo", None).await.unwrap();
    assert!(ack.accepted && ack.error.is_empty(), "{ack:?}");
    events.wait("provider_stopped", |d| d["public_key"] == par.public_key()).await;
    up.proc.wait_for_since(mark, &["interop-echo: shutdown"]).await;
    up.proc.wait_for_since(mark, &["interop-echo: exited cleanly"]).await;
}

/// wasmcloud:httpserver request and response as the 0.82 compat structs encode them.
#[derive(Debug, Deserialize)]
struct HttpRequest {
    method: String,
    path: String,
    #[serde(rename = "queryString")]
    query_string: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_httpserver_takes_what_a_0_82_host_sends() {
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;

    // The HostData a real 0.82 host wrote: the real struct re-encodes it byte for byte.
    let vector: serde_json::Value =
        serde_json::from_slice(&std::fs::read(support::vectors_dir().join("host_data_stdin.json")).unwrap()).unwrap();
    let original = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(vector["base64"].as_str().unwrap()).unwrap()
    };
    let mut host_data: HostData = serde_json::from_slice(&original).unwrap();
    assert_eq!(serde_json::to_vec(&host_data).unwrap(), original, "wasmcloud-core 0.2.0's HostData is what 0.82 wrote");
    assert_eq!(vector["stdin_bytes_after_base64"], "0d0a");
    assert_eq!(
        nkeys::KeyPair::from_seed(&host_data.invocation_seed).unwrap().public_key(),
        host_data.cluster_issuers[0],
        "the vector's invocation seed is its cluster issuer"
    );
    host_data.lattice_rpc_url = nats.url();
    let provider = host_data.provider_key.clone();
    let host_id = host_data.host_id.clone();
    let issuer = host_data.cluster_issuers[0].clone();
    let mut proc = support::launch_provider(
        "lattice-httpserver",
        &support::product_bin("lattice-httpserver"),
        &support::host_data_line(&host_data),
    );

    // Health: an empty request, answered with the exact msgpack of the transcript.
    let health = support::wait_for_responder(&nc, &format!("wasmbus.rpc.default.{provider}.default.health")).await;
    let theirs = transcript::find(|s| s.ends_with(".health"));
    let want = transcript::payload(&json!({"payload_hex": theirs["replies"][0]["payload_hex"]}));
    assert_eq!(health.payload.to_vec(), want, "health reply bytes");
    let decoded: HealthCheckResponse = rmp_serde::from_slice(&health.payload).unwrap();
    assert!(decoded.healthy);

    // The transcript's linkdefs.put: the real struct decodes and re-encodes it exactly;
    // we send it with the address changed to a port of the OS's choosing.
    let put = transcript::find(|s| s.ends_with(".linkdefs.put") && s.starts_with("wasmbus.rpc."));
    let bytes = transcript::payload(&put);
    let mut link: LinkDefinition = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(rmp_serde::to_vec_named(&link).unwrap(), bytes);
    assert_eq!(put["subject"], format!("wasmbus.rpc.default.{provider}.default.linkdefs.put"));
    let actor = link.actor_id.clone();
    for (k, v) in link.values.iter_mut() {
        if k == "address" {
            *v = "127.0.0.1:0".into();
        }
    }
    let mut calls = nc.subscribe(format!("wasmbus.rpc.default.{actor}")).await.unwrap();
    nc.flush().await.unwrap();
    support::store_link_as_a_0_82_host(&nc, "default", &link).await;
    nc.publish(put["subject"].as_str().unwrap().to_owned(), rmp_serde::to_vec_named(&link).unwrap().into())
        .await
        .unwrap();
    let line = proc.wait_for(&["http listener started", &actor]).await;
    let port: u16 = line
        .rsplit("127.0.0.1:")
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();

    // An HTTP request becomes an invocation of the actor, as a 0.82 provider sends it.
    let client = tokio::task::spawn_blocking(move || crate::control_client::http_get(port, "/hello?x=1"));
    let msg =
        tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(&mut calls)).await.unwrap().unwrap();
    let inv: Invocation = rmp_serde::from_slice(&msg.payload).expect("a wasmcloud_core::Invocation");
    inv.validate_antiforgery(std::slice::from_ref(&issuer))
        .expect("the real anti-forgery check accepts the provider's invocation");
    assert_eq!(inv.operation, "HttpServer.HandleRequest");
    assert_eq!(
        (inv.origin.public_key.as_str(), inv.origin.contract_id.as_str(), inv.origin.link_name.as_str()),
        (provider.as_str(), "wasmcloud:httpserver", "default")
    );
    assert_eq!(inv.target.public_key, actor);
    assert_eq!(inv.host_id, host_id, "host_id is the HostData's");
    let request: HttpRequest = rmp_serde::from_slice(&inv.msg).unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str(), request.query_string.as_str()),
        ("GET", "/hello", "x=1")
    );
    // Answer with the transcript's actor response (an HttpResponse), for this invocation id.
    let reply_of_0_82 = transcript::find(|s| s == format!("wasmbus.rpc.default.{actor}"));
    let recorded: InvocationResponse = rmp_serde::from_slice(&transcript::payload(
        &json!({"payload_hex": reply_of_0_82["replies"][0]["payload_hex"]}),
    ))
    .unwrap();
    let response = InvocationResponse { invocation_id: inv.id.clone(), ..recorded.clone() };
    nc.publish(msg.reply.unwrap(), rmp_serde::to_vec_named(&response).unwrap().into()).await.unwrap();
    let (status, body) = client.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.starts_with("hello "), "the actor's body reaches the HTTP client: {body}");

    // Shutdown as 0.82 asks for it: JSON {"host_id"}, answered `shutting down`, then exit.
    let reply = nc
        .request(
            format!("wasmbus.rpc.default.{provider}.default.shutdown"),
            serde_json::to_vec(&json!({"host_id": host_id})).unwrap().into(),
        )
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"shutting down");
    let status = proc.wait_exit().await;
    assert!(status.success(), "{status}");
}

#[derive(Serialize)]
struct SetRequest<'a> {
    key: &'a str,
    value: &'a str,
    expires: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
struct GetResponse {
    value: String,
    exists: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_kv_accepts_real_host_data_and_real_invocations() {
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;
    let cluster = nkeys::KeyPair::new_cluster();
    let host = nkeys::KeyPair::new_server();
    let provider = nkeys::KeyPair::new_service().public_key();
    let (early, late, stranger) = (
        nkeys::KeyPair::new_module().public_key(),
        nkeys::KeyPair::new_module().public_key(),
        nkeys::KeyPair::new_module().public_key(),
    );
    let link = |actor: &str| LinkDefinition {
        actor_id: actor.to_owned(),
        provider_id: provider.clone(),
        link_name: "default".into(),
        contract_id: "wasmcloud:keyvalue".into(),
        values: vec![("bucket".to_owned(), "interop_kv".to_owned())],
    };
    // HostData built with the real struct, one link in it from the start.
    let host_data = HostData {
        host_id: host.public_key(),
        lattice_rpc_prefix: "default".into(),
        link_name: "default".into(),
        lattice_rpc_url: nats.url(),
        provider_key: provider.clone(),
        invocation_seed: cluster.seed().unwrap(),
        instance_id: "4f2c1a0e-0000-4000-8000-000000000001".into(),
        link_definitions: vec![link(&early)],
        cluster_issuers: vec![cluster.public_key()],
        default_rpc_timeout_ms: Some(2000),
        ..Default::default()
    };
    let mut proc = support::launch_provider(
        "lattice-kv",
        &support::product_bin("lattice-kv"),
        &support::host_data_line(&host_data),
    );
    let health = support::wait_for_responder(&nc, &format!("wasmbus.rpc.default.{provider}.default.health")).await;
    assert!(rmp_serde::from_slice::<HealthCheckResponse>(&health.payload).unwrap().healthy);

    // The other link arrives as a 0.82 host publishes it: stored in the lattice data
    // bucket, then msgpack on linkdefs.put.
    support::store_link_as_a_0_82_host(&nc, "default", &link(&late)).await;
    nc.publish(
        format!("wasmbus.rpc.default.{provider}.default.linkdefs.put"),
        rmp_serde::to_vec_named(&link(&late)).unwrap().into(),
    )
    .await
    .unwrap();
    nc.flush().await.unwrap();

    let subject = format!("wasmbus.rpc.default.{provider}.default");
    let target = provider_entity(&provider, "wasmcloud:keyvalue", "default");
    let call = |origin: &str, signer: &nkeys::KeyPair, op: &str, msg: Vec<u8>| {
        Invocation::new(
            signer,
            &host,
            actor_entity(origin),
            target.clone(),
            format!("wasmcloud:keyvalue/{op}"),
            msg,
            Default::default(),
        )
        .unwrap()
    };

    // Both linked actors: Set then Get, signed per call by the real crate.
    for (actor, value) in [(&early, "from-host-data"), (&late, "from-linkdefs-put")] {
        let set = rmp_serde::to_vec_named(&SetRequest { key: "k", value, expires: 0 }).unwrap();
        let mut resp = invoke(&nc, subject.clone(), &call(actor, &cluster, "KeyValue.Set", set.clone())).await;
        // The link sent on linkdefs.put may still be on its way: retry until it is in.
        let deadline = tokio::time::Instant::now() + support::READY;
        while resp.error.as_deref().is_some_and(|e| e.contains("link")) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            resp = invoke(&nc, subject.clone(), &call(actor, &cluster, "KeyValue.Set", set.clone())).await;
        }
        assert_eq!(resp.error, None, "KeyValue.Set for {actor}: {resp:?}");
        let get = rmp_serde::to_vec_named("k").unwrap();
        let resp = invoke(&nc, subject.clone(), &call(actor, &cluster, "KeyValue.Get", get)).await;
        assert_eq!(resp.error, None, "{resp:?}");
        let got: GetResponse = rmp_serde::from_slice(&resp.msg).unwrap();
        assert_eq!(got, GetResponse { value: value.to_owned(), exists: true });
    }

    // Refused: an issuer outside HostData's cluster_issuers; an actor with no link.
    let resp = invoke(
        &nc,
        subject.clone(),
        &call(&early, &nkeys::KeyPair::new_cluster(), "KeyValue.Get", rmp_serde::to_vec_named("k").unwrap()),
    )
    .await;
    assert!(resp.error.is_some() && resp.msg.is_empty(), "untrusted issuer: {resp:?}");
    let resp =
        invoke(&nc, subject.clone(), &call(&stranger, &cluster, "KeyValue.Get", rmp_serde::to_vec_named("k").unwrap()))
            .await;
    assert!(resp.error.is_some() && resp.msg.is_empty(), "unlinked actor: {resp:?}");

    // A shutdown for another host is ignored (0.82's rule); ours stops it.
    let other = nc.request(
        format!("wasmbus.rpc.default.{provider}.default.shutdown"),
        br#"{"host_id":"NOTTHISHOST"}"#.to_vec().into(),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), other).await.map_or(true, |r| r.is_err()),
        "a shutdown for another host must not be answered"
    );
    let reply = nc
        .request(
            format!("wasmbus.rpc.default.{provider}.default.shutdown"),
            serde_json::to_vec(&json!({"host_id": host.public_key()})).unwrap().into(),
        )
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"shutting down");
    assert!(proc.wait_exit().await.success());
}
