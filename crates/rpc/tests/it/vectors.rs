//! The golden vectors made by the real 0.82 crates, replayed through a live server with
//! a fixed clock (their claims were issued in February 2024).

use std::path::PathBuf;

use lattice_proto::{ClusterKey, InvocationResponse, LinkName, ProviderKey, TrustedIssuers};
use lattice_rpc::{RpcServer, Served};

use crate::support::*;

fn vector(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/vectors").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_082_invocation_is_accepted_with_its_clock_and_stale_without() {
    let v = vector("invocation_actor_to_provider.json");
    let bytes =
        data_encoding::HEXLOWER_PERMISSIVE.decode(v["invocation_msgpack_hex"].as_str().unwrap().as_bytes()).unwrap();
    let inv = lattice_proto::Invocation::decode(&bytes).unwrap();
    let iat = inv.claims_unverified().unwrap().iat;
    let issuers =
        TrustedIssuers::new([&ClusterKey::parse("CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI").unwrap()]);
    let served = Served::Provider {
        key: ProviderKey::parse(&inv.target.public_key).unwrap(),
        link: LinkName::new(inv.target.link_name.clone()).unwrap(),
        contract: Some(inv.target.contract_id.clone()),
    };
    let env = Env::start();
    let calls = Counter::default();
    let fixed = RpcServer::builder(env.connect().await, lattice(), issuers.clone(), served.clone())
        .clock(move || iat + 1)
        .start(echo(&calls))
        .await
        .unwrap();
    assert_eq!(fixed.subject(), v["nats_subject"].as_str().unwrap());
    let raw = env.connect().await;
    let resp = raw_request(&raw, fixed.subject().to_owned(), bytes.clone()).await;
    assert_eq!(resp, InvocationResponse::success(inv.id.clone(), inv.msg.clone()));
    assert_eq!(calls.get(), 1);
    fixed.shutdown().await;

    // With today's clock the 2024 claims are far outside the replay window.
    let live = RpcServer::builder(env.connect().await, lattice(), issuers, served).start(echo(&calls)).await.unwrap();
    let resp = raw_request(&raw, live.subject().to_owned(), bytes).await;
    assert!(resp.error.unwrap().starts_with("invocation rejected [stale]: "));
    assert_eq!(calls.get(), 1);
    live.shutdown().await;
}
