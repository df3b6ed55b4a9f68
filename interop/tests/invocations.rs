//! Invocations both ways (issue 11 item 6), at the protocol level:
//! - built and signed by the real `wasmcloud_core::Invocation::new` (0.2.0, what the 0.82
//!   host uses), encoded with `rmp_serde::to_vec_named` → decoded and verified by Lattice;
//! - built and signed by Lattice → decoded by the real crate and accepted by its own
//!   `validate_antiforgery`, byte-identical to the real crate's re-encoding;
//! - forgeries the real check lets through (0.82 laxities) are refused by Lattice.
//!
//! The network-level checks (real host/provider processes) live in the other test files.

use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{ClusterKey, ClusterSeed, HostKey, TrustedIssuers, VerifyOptions};
use proptest::prelude::*;
use wasmcloud_core::{Invocation as RealInvocation, WasmCloudEntity as RealEntity};

fn real_entities(to_provider: bool, link: &str) -> (RealEntity, RealEntity) {
    let actor = RealEntity { public_key: nkeys::KeyPair::new_module().public_key(), ..Default::default() };
    let provider = RealEntity {
        public_key: nkeys::KeyPair::new_service().public_key(),
        link_name: link.into(),
        contract_id: "wasmcloud:keyvalue".into(),
    };
    if to_provider {
        (actor, provider)
    } else {
        (provider, actor)
    }
}

fn to_lattice(e: &RealEntity) -> lattice_proto::WasmCloudEntity {
    lattice_proto::WasmCloudEntity {
        public_key: e.public_key.clone(),
        link_name: e.link_name.clone(),
        contract_id: e.contract_id.clone(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn real_host_invocations_verify_in_lattice(
        msg in proptest::collection::vec(any::<u8>(), 0..4096),
        op in "[A-Z][a-z]{1,8}\\.[A-Z][a-z]{1,8}",
        to_provider: bool,
        link in "[a-z][a-z0-9_-]{0,10}",
    ) {
        let cluster = nkeys::KeyPair::new_cluster();
        let host = nkeys::KeyPair::new_server();
        let (origin, target) = real_entities(to_provider, &link);
        // The host is given `package/Method` and keeps the part after the last '/'.
        let inv = RealInvocation::new(&cluster, &host, origin, target, format!("wasmcloud:keyvalue/{op}"), msg.clone(), Default::default()).unwrap();
        let bytes = rmp_serde::to_vec_named(&inv).unwrap();

        let got = lattice_proto::Invocation::decode(&bytes).unwrap();
        prop_assert_eq!(&got.operation, &op);
        prop_assert_eq!(&got.msg, &msg);
        prop_assert_eq!(got.encode(), bytes.clone(), "Lattice re-encodes the real bytes exactly");
        let issuer = ClusterKey::parse(&cluster.public_key()).unwrap();
        let issuers = TrustedIssuers::new([&issuer]);
        let claims = issuers.verify(&got, &VerifyOptions { now: now(), max_age: Some(300) }).unwrap();
        prop_assert_eq!(claims.sub, inv.id);

        // And a forgery of the real bytes (a flipped msg bit) is refused.
        if !msg.is_empty() {
            let mut forged = got.clone();
            forged.msg[0] ^= 1;
            prop_assert_eq!(issuers.verify(&forged, &VerifyOptions::at(now())).unwrap_err().kind(), "hash_mismatch");
        }
    }

    #[test]
    fn lattice_invocations_pass_the_real_validation(
        msg in proptest::collection::vec(any::<u8>(), 0..4096),
        op in "[A-Z][a-z]{1,8}\\.[A-Z][a-z]{1,8}",
        to_provider: bool,
        link in "[a-z][a-z0-9_-]{0,10}",
    ) {
        let seed = ClusterSeed::generate();
        let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
        let (origin, target) = real_entities(to_provider, &link);
        let call = CallSpec { origin: to_lattice(&origin), target: to_lattice(&target), operation: op.clone(), msg, host_id: &host };
        let ctx = SignContext { id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(), jti: "ABCDEFGHIJKLMNOPQRSTUV", now: now(), expires: None };
        let ours = lattice_proto::Invocation::new_signed(call, &seed, ctx);
        let bytes = ours.encode();

        let real: RealInvocation = rmp_serde::from_slice(&bytes).unwrap();
        real.validate_antiforgery(&[seed.public_key().to_string()]).unwrap();
        prop_assert_eq!(rmp_serde::to_vec_named(&real).unwrap(), bytes, "the real crate re-encodes our bytes exactly");
        // With another issuer trusted, the real check refuses it.
        prop_assert!(real.validate_antiforgery(&[nkeys::KeyPair::new_cluster().public_key()]).is_err());
    }
}

#[test]
fn real_wascap_claims_decode_identically() {
    // The claims JSON our signer writes is what wascap 0.12 decodes, field for field.
    let seed = ClusterSeed::generate();
    let host = HostKey::parse(&nkeys::KeyPair::new_server().public_key()).unwrap();
    let (origin, target) = real_entities(true, "default");
    let call = CallSpec {
        origin: to_lattice(&origin),
        target: to_lattice(&target),
        operation: "KeyValue.Get".into(),
        msg: b"k".to_vec(),
        host_id: &host,
    };
    let ctx = SignContext { id: "id-1".into(), jti: "JTI", now: 1_700_000_000, expires: None };
    let ours = lattice_proto::Invocation::new_signed(call, &seed, ctx);
    let claims = wascap::jwt::Claims::<wascap::jwt::Invocation>::decode(&ours.encoded_claims).unwrap();
    assert_eq!(claims.issuer, seed.public_key().as_str());
    assert_eq!(claims.subject, "id-1");
    assert_eq!(claims.issued_at, 1_700_000_000);
    let meta = claims.metadata.unwrap();
    assert_eq!(meta.target_url, target.url() + "/KeyValue.Get");
    assert_eq!(meta.origin_url, origin.url());
    let vr = wascap::jwt::validate_token::<wascap::jwt::Invocation>(&ours.encoded_claims).unwrap();
    assert!(vr.signature_valid && !vr.expired && !vr.cannot_use_yet);
}

/// The 0.82 laxities of `validate_antiforgery` (PROTOCOL §6.1, §11) that Lattice does not
/// copy: each forgery below passes the REAL check and is refused by Lattice's verify. If
/// the real crate's behaviour were other than documented, this test would say so.
#[test]
fn forgeries_the_real_check_lets_through_are_refused_by_lattice() {
    let cluster = nkeys::KeyPair::new_cluster();
    let host = nkeys::KeyPair::new_server();
    let (origin, target) = real_entities(false, "default");
    let issuer = ClusterKey::parse(&cluster.public_key()).unwrap();
    let issuers = TrustedIssuers::new([&issuer]);
    let trusted = [cluster.public_key()];
    let genuine = RealInvocation::new(
        &cluster,
        &host,
        origin,
        target,
        "wasmcloud:httpserver/HttpServer.HandleRequest",
        b"GET /".to_vec(),
        Default::default(),
    )
    .unwrap();
    genuine.validate_antiforgery(&trusted).unwrap();

    // §11.1: the body emptied after signing. 0.82 skips the hash for an empty msg.
    let mut emptied = genuine.clone();
    emptied.msg.clear();
    emptied.content_length = 0;
    emptied.validate_antiforgery(&trusted).expect("0.82 accepts an emptied body (hash skipped when msg is empty)");
    let ours = lattice_proto::Invocation::decode(&rmp_serde::to_vec_named(&emptied).unwrap()).unwrap();
    assert_eq!(issuers.verify(&ours, &VerifyOptions::at(now())).unwrap_err().kind(), "hash_mismatch");

    // §11.9: the id rewritten (to dodge a replay cache keyed on it). 0.82 never compares it with `sub`.
    let mut renamed = genuine.clone();
    renamed.id = "11111111-2222-3333-4444-555555555555".into();
    renamed.validate_antiforgery(&trusted).expect("0.82 accepts an id that differs from the claims' sub");
    let ours = lattice_proto::Invocation::decode(&rmp_serde::to_vec_named(&renamed).unwrap()).unwrap();
    assert_eq!(issuers.verify(&ours, &VerifyOptions::at(now())).unwrap_err().kind(), "id_mismatch");

    // The genuine one passes both.
    let ours = lattice_proto::Invocation::decode(&rmp_serde::to_vec_named(&genuine).unwrap()).unwrap();
    issuers.verify(&ours, &VerifyOptions::at(now())).unwrap();
}
