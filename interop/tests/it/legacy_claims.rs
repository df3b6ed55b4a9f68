//! Issue 15 item 1: a real, legacy-signed wasmCloud actor runs on a Lattice host, and a
//! tampered copy of it is refused.
//!
//! The actor is wascap 0.12.0's own fixture `fixtures/echo_messaging_v0.9.0.wasm` (a
//! compiled wasmbus-rpc `echo-messaging` actor, claims revision 2, module hash from the
//! pre-0.10.1 algorithm), found in the wascap package through `cargo metadata`, never
//! copied into the repository. wascap 0.12 skips its hash check; Lattice checks it with the
//! legacy algorithm (the claims section cut out byte for byte) and runs it:
//!
//! - `lattice claims inspect` says it is valid and that the `legacy` algorithm matched;
//! - started by `lattice up --manifest`, linked to a real `wasmcloud:messaging` provider
//!   process (examples/messaging-provider, on Lattice's provider SDK), it answers a real
//!   `MessageSubscriber.HandleMessage` invocation carrying a reply subject by calling
//!   `Messaging.Publish` on the provider with `"reply: " + body` for the reply subject; the
//!   provider publishes it there and the test receives it;
//! - a copy with one byte flipped inside its data segment is refused as a hash mismatch
//!   (error kind `hash_mismatch`, not a parse error) by `lattice claims inspect` and by
//!   the running host (`lattice start actor`), which keeps serving the original.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use lattice_test_support::NatsServer;
use serde::Serialize;
use serde_json::Value;
use wasmcloud_core::{Invocation, InvocationResponse, WasmCloudEntity};

use crate::support::{self, ctl_client, Events, Up};

/// The fixture inside the wascap 0.12.0 package this workspace locks.
fn wascap_fixture(name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &format!("{}-unknown-linux-gnu", std::env::consts::ARCH)])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wascap" && p["version"] == "0.12.0")
        .expect("wascap 0.12.0 in the interop lock")["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = PathBuf::from(manifest).parent().unwrap().join("fixtures").join(name);
    assert!(path.is_file(), "{} is missing from the wascap package", path.display());
    path
}

/// (start, end) of the body of the first section with `id`.
fn section(wasm: &[u8], id: u8) -> (usize, usize) {
    let mut pos = 8;
    while pos < wasm.len() {
        let this = wasm[pos];
        pos += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = wasm[pos];
            pos += 1;
            size |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if this == id {
            return (pos, pos + size);
        }
        pos += size;
    }
    panic!("no section {id}");
}

/// `wasmcloud_interface_messaging::SubMessage`.
#[derive(Serialize)]
struct SubMessage<'a> {
    subject: &'a str,
    #[serde(rename = "replyTo")]
    reply_to: Option<&'a str>,
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
}

async fn lattice_json(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = support::lattice_async(args.iter().map(|s| (*s).to_owned()).collect()).await;
    (code, serde_json::from_str(out.trim()).unwrap_or(Value::Null), err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_signed_wascap_actor_runs_and_its_tampered_copy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(wascap_fixture("echo_messaging_v0.9.0.wasm")).unwrap();
    let actor = dir.path().join("echo_messaging.wasm");
    std::fs::write(&actor, &original).unwrap();
    // One byte flipped in the middle of the data section (id 11).
    let (data_start, data_end) = section(&original, 11);
    let mut tampered = original.clone();
    tampered[(data_start + data_end) / 2] ^= 0x20;
    let tampered_path = dir.path().join("echo_messaging_tampered.wasm");
    std::fs::write(&tampered_path, &tampered).unwrap();

    // Real wascap 0.12 does not check the hash below revision 3: it accepts both.
    let token = wascap::wasm::extract_claims(&original).unwrap().unwrap();
    assert!(wascap::wasm::extract_claims(&tampered).unwrap().is_some(), "wascap 0.12 skips the hash below revision 3");
    let actor_key = token.claims.subject.clone();

    // Lattice: valid through the legacy algorithm; the copy is a hash mismatch.
    let (code, out, err) = lattice_json(&["claims", "inspect", &actor.to_string_lossy(), "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["valid"], true, "{out}");
    assert_eq!(out["hash_algorithm"], "legacy", "{out}");
    assert_eq!(out["wascap_revision"], 2);
    assert_eq!(out["public_key"], actor_key.as_str());
    let (code, out, _) = lattice_json(&["claims", "inspect", &tampered_path.to_string_lossy(), "--json"]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["error_kind"], "hash_mismatch", "{out}");
    assert_eq!(out["hash_algorithm"], Value::Null, "{out}");
    let (_, human, _) =
        support::lattice_async(vec!["claims".into(), "inspect".into(), actor.to_string_lossy().into()]).await;
    assert!(human.contains("hash algo    legacy"), "{human}");

    // A host running it, linked to a real messaging provider process.
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;
    let client = ctl_client(nc.clone());
    let kinds = ["provider_started", "linkdef_set", "actors_started", "actor_scaled"];
    let mut events =
        Events::new(client.events_receiver(kinds.iter().map(|k| (*k).to_owned()).collect()).await.unwrap());
    let manifest = dir.path().join("lattice.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[[actors]]
name = "echo-messaging"
path = "{}"

[[providers]]
name = "messaging"
path = "{}"
contract = "wasmcloud:messaging"
vendor = "lattice"

[[links]]
actor = "echo-messaging"
provider = "messaging"
"#,
            actor.display(),
            support::product_bin("messaging-provider").display()
        ),
    )
    .unwrap();
    let up = Up::start(&nats.url(), &["--manifest", &manifest.to_string_lossy()]).await;
    let (_, started) = events.wait("provider_started", |d| d["contract_id"] == "wasmcloud:messaging").await;
    let provider_key = started["public_key"].as_str().unwrap().to_owned();
    events.wait("linkdef_set", |d| d["actor_id"] == actor_key.as_str()).await;

    // MessageSubscriber.HandleMessage with a reply subject, as the messaging provider sends
    // it (a real invocation from wasmcloud_core, signed with the cluster key).
    let reply = format!("interop.reply.{}", nkeys::KeyPair::new_user().public_key());
    let mut replies = nc.subscribe(reply.clone()).await.unwrap();
    nc.flush().await.unwrap();
    let body = b"hello from a legacy-signed actor";
    let msg = rmp_serde::to_vec_named(&SubMessage { subject: "interop.in", reply_to: Some(&reply), body }).unwrap();
    let origin = WasmCloudEntity {
        public_key: provider_key.clone(),
        link_name: "default".into(),
        contract_id: "wasmcloud:messaging".into(),
    };
    let target = WasmCloudEntity { public_key: actor_key.clone(), ..Default::default() };
    let inv = Invocation::new(
        &up.cluster(),
        &nkeys::KeyPair::new_server(),
        origin,
        target,
        "wasmcloud:messaging/MessageSubscriber.HandleMessage",
        msg,
        Default::default(),
    )
    .unwrap();
    let subject = format!("wasmbus.rpc.default.{actor_key}");
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        nc.request(subject, rmp_serde::to_vec_named(&inv).unwrap().into()),
    )
    .await
    .expect("the actor answers")
    .unwrap();
    let resp: InvocationResponse = rmp_serde::from_slice(&answer.payload).unwrap();
    assert_eq!(resp.error, None, "{resp:?}\nhost log:\n{}", up.proc.log());

    // The provider received Messaging.Publish and published the body on the reply subject.
    let got = tokio::time::timeout(Duration::from_secs(20), replies.next())
        .await
        .expect("the provider publishes on the reply subject")
        .unwrap();
    // echo-messaging answers "reply: " + the body it got.
    let expected = [&b"reply: "[..], body].concat();
    assert_eq!(String::from_utf8_lossy(&got.payload), String::from_utf8_lossy(&expected));
    up.proc
        .wait_for(&["messaging-provider: publish", &format!("subject={reply}"), &format!("bytes={}", expected.len())])
        .await;

    // The tampered copy, started on the same host, is refused as a hash mismatch.
    let (code, _, err) = support::lattice_async(
        [
            "start",
            "actor",
            &tampered_path.to_string_lossy(),
            "--host",
            &up.host_id,
            "--nats-url",
            &nats.url(),
            "--wait-ms",
            "20000",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_ne!(code, 0, "the tampered actor must not start");
    assert!(err.contains("module hash mismatch"), "{err}");
    // The original still serves.
    let again = Invocation::new(
        &up.cluster(),
        &nkeys::KeyPair::new_server(),
        WasmCloudEntity {
            public_key: provider_key,
            link_name: "default".into(),
            contract_id: "wasmcloud:messaging".into(),
        },
        WasmCloudEntity { public_key: actor_key.clone(), ..Default::default() },
        "wasmcloud:messaging/MessageSubscriber.HandleMessage",
        rmp_serde::to_vec_named(&SubMessage { subject: "interop.in", reply_to: Some(&reply), body: b"again" }).unwrap(),
        Default::default(),
    )
    .unwrap();
    let answer = nc
        .request(format!("wasmbus.rpc.default.{actor_key}"), rmp_serde::to_vec_named(&again).unwrap().into())
        .await
        .unwrap();
    let resp: InvocationResponse = rmp_serde::from_slice(&answer.payload).unwrap();
    assert_eq!(resp.error, None, "{resp:?}");
    let got = tokio::time::timeout(Duration::from_secs(20), replies.next()).await.unwrap().unwrap();
    assert_eq!(&got.payload[..], b"reply: again");
}
