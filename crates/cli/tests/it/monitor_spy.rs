//! `lattice spy` end to end: a real nats-server, an echo server for actor B, calls from
//! actor A to B and from B to A; the spy on B shows B's incoming calls and the calls it
//! makes, each with its response, plus a forged call marked with its verdict.

use std::time::Duration;

use lattice_monitor::forge::{Forge, Forgery};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, TrustedIssuers, WasmCloudEntity};
use lattice_rpc::{RpcClient, RpcServer, Served, handler_fn};
use lattice_test_support::NatsServer;
use serde_json::Value;

use crate::monitor::{Watcher, unix_now};

fn key() -> ActorKey {
    ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()
}

#[test]
fn spy_shows_calls_to_and_from_an_actor_with_their_responses() {
    let nats = NatsServer::start();
    let url = nats.url();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let (a, b) = (key(), key());
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();

    let mut spy =
        Watcher::spawn(&["spy", b.as_str(), "--json", "--nats-url", &url, "--issuer", seed.public_key().as_str()]);
    spy.wait_stderr("watching", Duration::from_secs(20));

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        let issuers = TrustedIssuers::new([seed.public_key()]);
        let mut servers = Vec::new();
        for k in [&a, &b] {
            servers.push(
                RpcServer::builder(client.clone(), lattice.clone(), issuers.clone(), Served::Actor(k.clone()))
                    .start(handler_fn(|req: lattice_rpc::Request| async move {
                        if req.operation == "Echo.Fail" { Err("no such thing".into()) } else { Ok(req.msg) }
                    }))
                    .await
                    .unwrap(),
            );
        }
        let rpc = RpcClient::builder(client.clone(), lattice.clone(), seed.clone(), host.clone()).build();
        let (ea, eb) = (WasmCloudEntity::actor(&a), WasmCloudEntity::actor(&b));
        rpc.call(ea.clone(), eb.clone(), "Echo.Say", b"hello b".to_vec()).await.unwrap();
        rpc.call(eb.clone(), ea.clone(), "Echo.Say", vec![0x81, 0xa1, 0x61, 0x01]).await.unwrap();
        assert!(rpc.call(ea.clone(), eb.clone(), "Echo.Fail", Vec::new()).await.is_err());
        // A call between others is not B's business.
        rpc.call(ea.clone(), ea.clone(), "Echo.Say", b"a to a".to_vec()).await.unwrap();
        // A forged call to B.
        let forge = Forge { seed: seed.clone(), host, origin: ea, target: eb, operation: "Echo.Say".into() };
        let payload = forge.forge(Forgery::BadSignature, "forged-1", unix_now(), 300);
        client.request(format!("wasmbus.rpc.{lattice}.{b}"), payload.into()).await.unwrap();
        for s in servers {
            s.shutdown().await;
        }
    });

    let events: Vec<Value> =
        spy.stdout_lines(8, Duration::from_secs(20)).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("event"), s("direction"), if s("event") == "invocation" { s("verdict") } else { s("outcome") })
        })
        .collect();
    let want = |e: &str, d: &str, o: &str| (e.to_owned(), d.to_owned(), o.to_owned());
    // Invocations and responses arrive on different subscriptions, so only the order
    // within each stream is defined, not how the two interleave.
    let of = |kind: &str| -> Vec<&(String, String, String)> { summary.iter().filter(|s| s.0 == kind).collect() };
    let (inv, resp): (Vec<&Value>, Vec<&Value>) = events.iter().partition(|e| e["event"] == "invocation");
    assert_eq!(
        of("invocation"),
        [
            &want("invocation", "in", "valid"),
            &want("invocation", "out", "valid"),
            &want("invocation", "in", "valid"),
            &want("invocation", "in", "bad_signature"),
        ],
        "{events:#?}"
    );
    assert_eq!(
        of("response"),
        [
            &want("response", "in", "ok"),
            &want("response", "out", "ok"),
            &want("response", "in", "error"),
            &want("response", "in", "error"),
        ],
        "{events:#?}"
    );
    assert_eq!(inv[0]["preview"], "hello b");
    assert_eq!(inv[0]["origin"], a.as_str());
    assert_eq!(resp[0]["preview"], "hello b");
    assert!(resp[0]["latency_us"].as_u64().is_some());
    assert_eq!(inv[1]["target"], a.as_str());
    assert_eq!(inv[1]["preview"], "hex:81a16101");
    assert_eq!(resp[2]["error"], "no such thing");
    assert!(inv[3]["reason"].as_str().unwrap().contains("signature"));
    // Nothing else: the A→A call was not shown.
    assert!(spy.stdout_now().is_empty());
}

#[test]
fn spy_refuses_a_key_that_is_not_an_entity() {
    let seed = ClusterSeed::generate();
    let out = crate::lattice(&["spy", seed.public_key().as_str()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: invalid configuration"));
}
