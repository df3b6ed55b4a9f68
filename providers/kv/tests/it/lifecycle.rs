//! The SDK's process contract, through `lattice-kv`: HostData, links, health, claims,
//! restart, shutdown.

use std::time::Duration;

use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{ClusterSeed, Invocation, InvocationResponse, WasmCloudEntity, subject};
use lattice_provider::testing::{ProviderProcess, TestLattice};
use lattice_rpc::{REJECTED_PREFIX, RpcError};
use serde::{Deserialize, Serialize};

use crate::support::{CONTRACT, Env, LINK, WAIT, assert_not_linked, binary};

#[derive(Serialize)]
struct SetRequest<'a> {
    key: &'a str,
    value: &'a str,
    expires: u32,
}

#[derive(Debug, Deserialize)]
struct GetResponse {
    value: String,
    exists: bool,
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_healthy() {
    let env = Env::new().await;
    let _p = env.start(Vec::new()).await;
    let h = env.lattice.health(&env.nats, &env.provider, LINK, WAIT).await.unwrap();
    assert!(h.healthy);
    assert_eq!(h.message, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn link_put_and_del_change_behaviour() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _p = env.start(Vec::new()).await;

    assert_not_linked(env.call::<_, bool>(&actor, "KeyValue.Contains", "k").await, &actor);
    let link = env.link(&actor, &[]);
    env.lattice.put_link(&env.nats, &link).await;
    env.wait_linked(&actor).await;
    let _: () = env.call(&actor, "KeyValue.Set", &SetRequest { key: "k", value: "v", expires: 0 }).await.unwrap();
    // A duplicate put (0.82 hosts replay links) changes nothing.
    env.lattice.put_link(&env.nats, &link).await;
    assert!(env.call::<_, bool>(&actor, "KeyValue.Contains", "k").await.unwrap());

    env.lattice.del_link(&env.nats, &link).await;
    env.wait_unlinked(&actor).await;
    assert_not_linked(env.call::<_, bool>(&actor, "KeyValue.Contains", "k").await, &actor);

    // Links for another link name or another provider are ignored.
    let other_name = TestLattice::link(&actor, &env.provider, "other", CONTRACT, &[]);
    let other_provider = TestLattice::link(&actor, &TestLattice::new_provider_key(), LINK, CONTRACT, &[]);
    // Published on this provider's subject (a confused host), they must still be ignored.
    for ld in [&other_name, &other_provider] {
        let s =
            subject::linkdefs_put(&env.lattice.lattice, &env.provider, &lattice_proto::LinkName::new(LINK).unwrap());
        env.nats.publish(s.into_string(), ld.encode().into()).await.unwrap();
    }
    env.nats.flush().await.unwrap();
    // Relinking afterwards proves the puts above were processed (puts are applied in order).
    env.lattice.put_link(&env.nats, &link).await;
    env.wait_linked(&actor).await;
    env.lattice.del_link(&env.nats, &link).await;
    env.wait_unlinked(&actor).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlinked_and_foreign_link_origins_are_rejected() {
    let env = Env::new().await;
    let (linked, stranger, other_link) =
        (TestLattice::new_actor_key(), TestLattice::new_actor_key(), TestLattice::new_actor_key());
    // HostData carries a link for another link name: it must not count.
    let foreign = TestLattice::link(&other_link, &env.provider, "other", CONTRACT, &[]);
    let mut p = env.start(vec![env.link(&linked, &[]), foreign]).await;
    assert!(!env.call::<_, bool>(&linked, "KeyValue.Contains", "k").await.unwrap());
    assert_not_linked(env.call::<_, bool>(&stranger, "KeyValue.Contains", "k").await, &stranger);
    assert_not_linked(env.call::<_, bool>(&other_link, "KeyValue.Contains", "k").await, &other_link);
    p.wait_for_line(&["refusing a call from an unlinked actor", stranger.as_str()], WAIT).await;
    p.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_invocations_are_rejected() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _p = env.start(vec![env.link(&actor, &[])]).await;
    let target = TestLattice::provider_entity(&env.provider, LINK, CONTRACT);

    // Signed by a cluster key the provider does not trust.
    let rogue = TestLattice { cluster: ClusterSeed::generate(), ..env.lattice.clone() };
    let r = rogue
        .client(env.nats.clone())
        .call(WasmCloudEntity::actor(&actor), target.clone(), "KeyValue.Contains", rmp_serde::to_vec("k").unwrap())
        .await;
    assert!(matches!(&r, Err(RpcError::Rejected { kind, .. }) if kind == "unknown_issuer"), "{r:?}");

    // Properly signed, then the body swapped: the hash no longer matches.
    let set = rmp_serde::to_vec_named(&SetRequest { key: "k", value: "honest", expires: 0 }).unwrap();
    let mut inv = Invocation::new_signed(
        CallSpec {
            origin: WasmCloudEntity::actor(&actor),
            target: target.clone(),
            operation: "KeyValue.Set".into(),
            msg: set,
            host_id: &env.lattice.host,
        },
        &env.lattice.cluster,
        SignContext { id: "forged-1".into(), jti: "JTI0000000000000000001", now: unix_now(), expires: None },
    );
    inv.msg = rmp_serde::to_vec_named(&SetRequest { key: "k", value: "forged", expires: 0 }).unwrap();
    inv.content_length = inv.msg.len() as u64;
    let s = subject::provider_rpc(&env.lattice.lattice, &env.provider, &lattice_proto::LinkName::new(LINK).unwrap());
    let reply = env.nats.request(s.into_string(), inv.encode().into()).await.unwrap();
    let response = InvocationResponse::decode(&reply.payload).unwrap();
    let error = response.error.unwrap();
    assert!(error.starts_with(&format!("{REJECTED_PREFIX}hash_mismatch]")), "{error}");
    let got: GetResponse = env.call(&actor, "KeyValue.Get", "k").await.unwrap();
    assert!(!got.exists, "the forged Set must not have run: {got:?}");

    // Addressed to another link name of the same provider.
    let wrong_target = TestLattice::provider_entity(&env.provider, "other", CONTRACT);
    let inv = Invocation::new_signed(
        CallSpec {
            origin: WasmCloudEntity::actor(&actor),
            target: wrong_target,
            operation: "KeyValue.Contains".into(),
            msg: rmp_serde::to_vec("k").unwrap(),
            host_id: &env.lattice.host,
        },
        &env.lattice.cluster,
        SignContext { id: "forged-2".into(), jti: "JTI0000000000000000002", now: unix_now(), expires: None },
    );
    let s = subject::provider_rpc(&env.lattice.lattice, &env.provider, &lattice_proto::LinkName::new(LINK).unwrap());
    let reply = env.nats.request(s.into_string(), inv.encode().into()).await.unwrap();
    let error = InvocationResponse::decode(&reply.payload).unwrap().error.unwrap();
    assert!(error.starts_with(&format!("{REJECTED_PREFIX}target_mismatch]")), "{error}");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_provider_restart() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let link = env.link(&actor, &[]);
    let mut first = env.start(vec![link.clone()]).await;
    let _: () =
        env.call(&actor, "KeyValue.Set", &SetRequest { key: "persist", value: "yes", expires: 0 }).await.unwrap();
    let _: u32 = env.call(&actor, "KeyValue.SetAdd", &serde_json::json!({"setName": "s", "value": "m"})).await.unwrap();
    first.sigterm();
    assert!(first.wait_exit(WAIT).await.success());

    let _second = env.start(vec![link]).await;
    let got: GetResponse = env.call(&actor, "KeyValue.Get", "persist").await.unwrap();
    assert!(got.exists);
    assert_eq!(got.value, "yes");
    let members: Vec<String> = env.call(&actor, "KeyValue.SetQuery", "s").await.unwrap();
    assert_eq!(members, ["m"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_message_is_answered_only_for_its_host() {
    let env = Env::new().await;
    let mut p = env.start(Vec::new()).await;
    let short = Duration::from_millis(500);
    let other_host = TestLattice::new(env.server.url()).host;
    let ignored = env.lattice.shutdown(&env.nats, &env.provider, LINK, other_host.as_str(), short).await;
    assert_eq!(ignored, None, "a shutdown for another host is ignored (no reply)");
    assert!(env.lattice.health(&env.nats, &env.provider, LINK, WAIT).await.unwrap().healthy);

    let reply = env.lattice.shutdown(&env.nats, &env.provider, LINK, env.lattice.host.as_str(), WAIT).await;
    assert_eq!(reply.as_deref(), Some(&b"shutting down"[..]));
    let status = p.wait_exit(WAIT).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", p.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_link_values_refuse_the_link_with_a_clear_log() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let p = env.start(vec![env.link(&actor, &[("bucket", "no.dots")])]).await;
    p.wait_for_line(&["link refused", "invalid bucket name 'no.dots'", actor.as_str()], WAIT).await;
    assert_not_linked(env.call::<_, bool>(&actor, "KeyValue.Contains", "k").await, &actor);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_host_data_exits_2_with_a_clear_message() {
    for (input, expect) in [
        ("not base64 at all!", "error: bad HostData: malformed base64"),
        ("e30=", "error: bad HostData: malformed JSON HostData"),
        ("", "error: no HostData: stdin was empty"),
    ] {
        let mut p = ProviderProcess::spawn(binary(), input, &[]);
        let status = p.wait_exit(WAIT).await;
        assert_eq!(status.code(), Some(2), "{input:?}: stderr:\n{}", p.stderr());
        p.wait_for_line(&[expect], WAIT).await;
    }
    // Valid JSON, but the provider key is not a provider key.
    let server_url = "nats://127.0.0.1:1";
    let lattice = TestLattice::new(server_url);
    let mut hd = lattice.host_data(&TestLattice::new_provider_key(), LINK, Vec::new());
    hd.provider_key = TestLattice::new_actor_key().to_string();
    let mut p = ProviderProcess::spawn(binary(), &hd.to_base64(), &[]);
    assert_eq!(p.wait_exit(WAIT).await.code(), Some(2));
    p.wait_for_line(&["error: bad HostData: invalid provider_key"], WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn structured_logging_and_log_level_come_from_host_data() {
    let env = Env::new().await;
    let mut hd = env.lattice.host_data(&env.provider, LINK, Vec::new());
    hd.structured_logging = true;
    hd.log_level = Some("debug".into());
    // HostData's log_level wins over RUST_LOG.
    let p = ProviderProcess::spawn(binary(), &hd.to_base64(), &[("RUST_LOG", "error")]);
    env.lattice.wait_healthy(&env.nats, &env.provider, LINK, WAIT).await;
    let ready = p.wait_for_line(&["provider ready"], WAIT).await;
    let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["message"], "provider ready");
    assert_eq!(v["fields"]["contract"], CONTRACT);
    let debug = p.wait_for_line(&[r#""level":"DEBUG""#], WAIT).await;
    assert!(serde_json::from_str::<serde_json::Value>(&debug).is_ok(), "{debug}");
}
