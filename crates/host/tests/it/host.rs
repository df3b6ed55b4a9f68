//! A whole host over a real nats-server: actors served on the lattice, refused modules,
//! scaling, actor-to-actor calls, the capability check, links in the KV bucket across
//! hosts and host restarts.

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_host::HostError;
use lattice_proto::{LinkDefinition, ProviderKey};
use lattice_rpc::RpcError;
use nkeys::KeyPair;

use crate::lattice::*;

fn link(actor: &str, provider: &str, contract: &str) -> LinkDefinition {
    LinkDefinition {
        actor_id: actor.to_owned(),
        provider_id: provider.to_owned(),
        link_name: "default".into(),
        contract_id: contract.to_owned(),
        values: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_tampered_modules_are_refused() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;

    let unsigned = lattice.write("unsigned.wasm", &crate::support::compile(&crate::support::actor_wat("echo")));
    let err = host.scale_actor(unsigned.to_str().unwrap(), 1, BTreeMap::new()).await.unwrap_err();
    assert!(matches!(err, HostError::ActorRefused { .. }), "{err:?}");
    let text = lattice_host::error::chain(&err);
    assert!(text.contains("unsigned module"), "{text}");

    let (path, _) = lattice.signed_actor("echo", &[], None);
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a byte of the code (well before the claims section at the end).
    let at = bytes.len() / 4;
    bytes[at] ^= 0x01;
    let tampered = lattice.write("tampered.wasm", &bytes);
    let err = host.scale_actor(tampered.to_str().unwrap(), 1, BTreeMap::new()).await.unwrap_err();
    assert!(matches!(err, HostError::ActorRefused { .. }), "{err:?}");

    // An OCI reference without a registry host, and one tagged latest: refused before any pull.
    let err = host.scale_actor("oci://registry/echo:1", 1, BTreeMap::new()).await.unwrap_err();
    assert!(matches!(&err, HostError::Oci(e) if e.kind() == "bad_reference"), "{err:?}");
    let err = host.scale_actor("registry.example/echo", 1, BTreeMap::new()).await.unwrap_err();
    assert!(matches!(&err, HostError::Oci(e) if e.kind() == "latest_refused"), "{err:?}");
    assert!(host.actors().await.is_empty());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actor_serves_scales_and_stops() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;
    let client = lattice.client().await;
    let (path, key) = lattice.signed_actor("echo", &["wasmcloud:httpserver"], None);

    assert_eq!(host.scale_actor(&path, 2, BTreeMap::new()).await.unwrap(), key);
    let resp = http_call(&client, &key, b"hello").await.unwrap();
    assert_eq!(resp.status_code, 200);
    assert!(!resp.body.is_empty());

    host.scale_actor(key.as_str(), 5, BTreeMap::new()).await.unwrap();
    let actors = host.actors().await;
    assert_eq!((actors.len(), actors[0].max_instances), (1, 5));
    assert_eq!(actors[0].image_ref, path);
    http_call(&client, &key, b"again").await.unwrap();

    // The claims are in the lattice data bucket.
    let claims = host.links().claims();
    assert!(claims.iter().any(|c| c.subject() == key.as_str()), "{claims:?}");

    host.stop_actor(&path).await.unwrap();
    let err = http_call(&client, &key, b"gone").await.unwrap_err();
    assert!(matches!(err, RpcError::NoResponders { .. }), "{err:?}");
    assert!(matches!(host.stop_actor(key.as_str()).await, Err(HostError::NotRunning(_))));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actor_calls_actor_by_call_alias() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;
    let client = lattice.client().await;
    let (echo, _) = lattice.signed_actor("echo", &[], Some("echo"));
    let (caller, caller_key) = lattice.signed_actor("caller", &[], None);
    host.scale_actor(&echo, 1, BTreeMap::new()).await.unwrap();
    host.scale_actor(&caller, 1, BTreeMap::new()).await.unwrap();
    // The caller forwards the request to "echo"; the answer is echo's.
    let resp = http_call(&client, &caller_key, b"via caller").await.unwrap();
    assert_eq!(resp.status_code, 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_call_needs_the_capability_claim() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;
    let client = lattice.client().await;
    // The counter calls wasmcloud:keyvalue, but is signed without that capability.
    let (path, key) = lattice.signed_actor("counter", &["wasmcloud:httpserver"], None);
    host.scale_actor(&path, 1, BTreeMap::new()).await.unwrap();
    let provider = ProviderKey::parse(&KeyPair::new_service().public_key()).unwrap();
    host.put_link(link(key.as_str(), provider.as_str(), "wasmcloud:keyvalue")).await.unwrap();

    let err = http_call(&client, &key, b"").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("capability not granted"), "{text}");
    assert!(text.contains("wasmcloud:keyvalue"), "{text}");

    // Without a link at all, the error says there is no link.
    host.del_link(key.as_str(), "wasmcloud:keyvalue", "default").await.unwrap();
    let (path, key) = lattice.signed_actor("counter", &["wasmcloud:keyvalue"], None);
    host.scale_actor(&path, 1, BTreeMap::new()).await.unwrap();
    let text = http_call(&client, &key, b"").await.unwrap_err().to_string();
    assert!(text.contains("link not found"), "{text}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_shared_by_hosts_and_survive_restarts() {
    let lattice = TestLattice::new();
    let a = lattice.host().await;
    let b = lattice.host().await;
    let actor = KeyPair::new_module().public_key();
    let provider = KeyPair::new_service().public_key();
    let ld = link(&actor, &provider, "wasmcloud:keyvalue");

    // A subscriber on the provider's subject sees the put (msgpack), once per host.
    let nats = lattice.connect().await;
    let mut puts = nats.subscribe(format!("wasmbus.rpc.default.{provider}.default.linkdefs.put")).await.unwrap();
    nats.flush().await.unwrap();

    a.put_link(ld.clone()).await.unwrap();
    let seen = eventually("host b to see the link", Duration::from_secs(5), || async {
        b.links().find(&actor, "wasmcloud:keyvalue", "default")
    })
    .await;
    assert_eq!(seen, ld);
    let msg = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut puts)).await.unwrap().unwrap();
    assert_eq!(LinkDefinition::decode(&msg.payload).unwrap(), ld);

    // Stop both hosts; a new one finds the link in the bucket.
    a.stop().await;
    b.stop().await;
    let c = lattice.host().await;
    assert_eq!(c.links().find(&actor, "wasmcloud:keyvalue", "default"), Some(ld.clone()));
    assert_eq!(c.links().links(), vec![ld]);

    // Deletes reach other hosts too.
    let d = lattice.host().await;
    c.del_link(&actor, "wasmcloud:keyvalue", "default").await.unwrap();
    eventually("host d to see the delete", Duration::from_secs(5), || async {
        d.links().find(&actor, "wasmcloud:keyvalue", "default").is_none().then_some(())
    })
    .await;

    // Malformed links are refused before they reach the bucket.
    let err = c.put_link(link("MNOTAKEY", &provider, "x:y")).await.unwrap_err();
    assert!(matches!(err, HostError::InvalidLink(_)), "{err:?}");
    c.stop().await;
    d.stop().await;
}
