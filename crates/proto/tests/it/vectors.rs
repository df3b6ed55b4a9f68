//! Every golden vector decodes, re-encodes to the same bytes, and gets the same verdict.

use lattice_proto::claims::ClaimsError;
use lattice_proto::hash::invocation_hash;
use lattice_proto::health::{HealthCheckRequest, HealthCheckResponse};
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::shutdown::{SHUTDOWN_REPLY, ShutdownRequest};
use lattice_proto::{
    ClusterKey, ClusterSeed, HostData, HostKey, Invocation, InvocationResponse, LatticeName, LinkDefinition,
    TrustedIssuers, VerifyOptions, WasmCloudEntity, subject,
};
use serde_json::Value;

use crate::support::{CASES, hex, s, vector};

fn entity(v: &Value) -> WasmCloudEntity {
    WasmCloudEntity {
        public_key: s(&v["public_key"]).into(),
        link_name: s(&v["link_name"]).into(),
        contract_id: s(&v["contract_id"]).into(),
    }
}

fn trusted() -> TrustedIssuers {
    let keys: Vec<ClusterKey> = vector("keys.json")["valid_cluster_issuers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| ClusterKey::parse(s(k)).unwrap())
        .collect();
    TrustedIssuers::new(keys.iter())
}

const IAT: u64 = 1_707_858_000;

#[test]
fn invocations_decode_and_reencode_byte_identically() {
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        let bytes = hex(&v["invocation_msgpack_hex"]);
        let inv = Invocation::decode(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        let input = &v["input"];
        assert_eq!(inv.origin, entity(&input["origin"]), "{case}");
        assert_eq!(inv.target, entity(&input["target"]), "{case}");
        assert_eq!(inv.operation, s(&input["operation"]), "{case}");
        assert_eq!(inv.msg, hex(&input["msg_hex"]), "{case}");
        assert_eq!(inv.id, s(&input["id"]), "{case}");
        assert_eq!(inv.host_id, s(&input["host_id"]), "{case}");
        assert_eq!(inv.encoded_claims, s(&v["jwt"]), "{case}");
        assert_eq!(inv.content_length, input["msg_len"].as_u64().unwrap(), "{case}");
        let tc: Vec<(String, String)> = input["trace_context"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (s(&p[0]).to_owned(), s(&p[1]).to_owned()))
            .collect();
        assert_eq!(inv.trace_context.0, tc, "{case}");
        assert_eq!(inv.encode(), bytes, "{case}: re-encoding differs");
    }
}

#[test]
fn urls_and_hash_match() {
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        let inv = Invocation::decode(&hex(&v["invocation_msgpack_hex"])).unwrap();
        let d = inv.digest();
        assert_eq!(d.origin_url, s(&v["origin_url"]), "{case}");
        assert_eq!(d.target_url, s(&v["target_url"]), "{case}");
        assert_eq!(d.hash, s(&v["invocation_hash"]), "{case}");
        // The hashed bytes are exactly origin_url ‖ target_url ‖ operation ‖ msg.
        let mut input = Vec::new();
        input.extend_from_slice(d.origin_url.as_bytes());
        input.extend_from_slice(d.target_url.as_bytes());
        input.extend_from_slice(inv.operation.as_bytes());
        input.extend_from_slice(&inv.msg);
        assert_eq!(input, hex(&v["hash_input_hex"]), "{case}");
        assert_eq!(invocation_hash(&d.origin_url, &d.target_url, &inv.operation, &inv.msg), d.hash);
    }
}

#[test]
fn signing_reproduces_the_vector_jwt_and_invocation_bytes() {
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        let input = &v["input"];
        let seed = ClusterSeed::parse(s(&input["cluster_seed"])).unwrap();
        assert_eq!(seed.public_key().as_str(), s(&input["cluster_public_key"]));
        let host = HostKey::parse(s(&input["host_id"])).unwrap();
        let call = CallSpec {
            origin: entity(&input["origin"]),
            target: entity(&input["target"]),
            operation: s(&input["operation"]).into(),
            msg: hex(&input["msg_hex"]),
            host_id: &host,
        };
        let ctx = SignContext {
            id: s(&input["id"]).into(),
            jti: s(&input["jwt_jti"]),
            now: input["jwt_iat"].as_u64().unwrap(),
            expires: None,
        };
        let mut inv = Invocation::new_signed(call, &seed, ctx);
        assert_eq!(inv.encoded_claims, s(&v["jwt"]), "{case}: JWT differs");
        for (k, val) in input["trace_context"].as_array().unwrap().iter().map(|p| (s(&p[0]), s(&p[1]))) {
            inv.trace_context.insert(k, val);
        }
        assert_eq!(inv.encode(), hex(&v["invocation_msgpack_hex"]), "{case}: invocation bytes differ");
        let claims = inv.claims_unverified().unwrap();
        let expected: Value = serde_json::from_str(s(&v["jwt_parts"]["claims_json"])).unwrap();
        assert_eq!(serde_json::to_value(&claims).unwrap(), expected, "{case}");
    }
}

#[test]
fn valid_vectors_verify() {
    let issuers = trusted();
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        assert_eq!(v["validate_antiforgery_with_valid_issuers"]["ok"], Value::Bool(true));
        let inv = Invocation::decode(&hex(&v["invocation_msgpack_hex"])).unwrap();
        let claims = issuers.verify(&inv, &VerifyOptions::at(IAT)).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(claims.sub, inv.id);
        // A generous age window around the vector's own time also passes.
        let opts = VerifyOptions { now: IAT + 10, max_age: Some(300) };
        issuers.verify(&inv, &opts).unwrap();
        // ...but the vectors are years old by a real clock.
        let opts = VerifyOptions { now: IAT + 1000, max_age: Some(300) };
        assert!(matches!(issuers.verify(&inv, &opts), Err(ClaimsError::Stale { .. })));
    }
}

#[test]
fn responses_decode_and_reencode_byte_identically() {
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        for which in ["response_success", "response_error"] {
            let bytes = hex(&v[which]["msgpack_hex"]);
            let r = InvocationResponse::decode(&bytes).unwrap();
            let val = &v[which]["value"];
            assert_eq!(r.invocation_id, s(&val["invocation_id"]));
            assert_eq!(r.content_length, val["content_length"].as_u64().unwrap());
            assert_eq!(r.msg, hex(&val["msg_hex"]));
            assert_eq!(r.error.as_deref(), val["error"].as_str());
            assert_eq!(r.encode(), bytes, "{case} {which}");
        }
    }
}

#[test]
fn subjects_match_the_vectors() {
    let lattice = LatticeName::new("default").unwrap();
    for case in CASES {
        let v = vector(&format!("invocation_{case}.json"));
        let inv = Invocation::decode(&hex(&v["invocation_msgpack_hex"])).unwrap();
        assert_eq!(subject::for_target(&lattice, &inv.target).unwrap().as_str(), s(&v["nats_subject"]), "{case}");
    }
}

#[test]
fn negative_vectors_get_the_right_verdict() {
    let issuers = trusted();
    let neg = vector("negative.json");
    let opts = VerifyOptions::at(IAT);
    let mut seen = 0;
    for case in neg["validation_vectors"].as_array().unwrap() {
        let name = s(&case["name"]);
        let mut inv = match case.get("invocation_msgpack_hex") {
            Some(h) => {
                let bytes = hex(h);
                let inv = Invocation::decode(&bytes).unwrap();
                assert_eq!(inv.encode(), bytes, "{name}: re-encoding differs");
                inv
            }
            None => Invocation::decode(&hex(&vector("invocation_actor_to_provider.json")["invocation_msgpack_hex"]))
                .unwrap(),
        };
        if name == "malformed_jwt" {
            // "encoded_claims is not three dot-separated segments"
            inv.encoded_claims = "not-a-jwt".into();
        }
        let err = issuers.verify(&inv, &opts).expect_err(name);
        let expected = match name {
            "tampered_msg" => "hash_mismatch",
            "untrusted_issuer" => "unknown_issuer",
            "bad_signature" => "bad_signature",
            "target_url_mismatch" => "target_mismatch",
            "malformed_jwt" => "malformed",
            other => panic!("new negative vector {other}: add its expected verdict"),
        };
        assert_eq!(err.kind(), expected, "{name}: {err}");
        if let ClaimsError::HashMismatch { computed, .. } = &err {
            assert_eq!(computed, s(&case["recomputed_hash"]));
        }
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn malformed_msgpack_is_an_error_and_the_0_82_reply_round_trips() {
    let neg = vector("negative.json");
    for case in neg["malformed_msgpack_vectors"].as_array().unwrap() {
        let err = Invocation::decode(&hex(&case["payload_hex"])).unwrap_err();
        assert!(err.to_string().contains("Invocation"), "{err}");
        let reply = hex(&case["host_v0_82_reply_msgpack_hex"]);
        let r = InvocationResponse::decode(&reply).unwrap();
        assert_eq!(r.invocation_id, InvocationResponse::UNKNOWN_ID);
        assert!(r.error.is_some());
        assert_eq!(r.encode(), reply);
    }
}

#[test]
fn linkdefs_round_trip() {
    let v = vector("linkdefs.json");
    for ld in v["vectors"].as_array().unwrap() {
        let bytes = hex(&ld["msgpack_hex"]);
        let d = LinkDefinition::decode(&bytes).unwrap();
        assert_eq!(d.actor_id, s(&ld["value"]["actor_id"]));
        assert_eq!(d.link_name, s(&ld["value"]["link_name"]));
        assert_eq!(d.values.len(), ld["value"]["values"].as_object().unwrap().len());
        assert_eq!(d.encode(), bytes);
    }
    let lattice = LatticeName::default();
    let p = lattice_proto::ProviderKey::parse("VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV").unwrap();
    let link = lattice_proto::LinkName::default();
    assert_eq!(subject::linkdefs_put(&lattice, &p, &link).as_str(), s(&v["subjects"]["put"]));
    assert_eq!(subject::linkdefs_del(&lattice, &p, &link).as_str(), s(&v["subjects"]["del"]));
}

#[test]
fn health_round_trips() {
    let v = vector("health.json");
    assert_eq!(
        rmp_serde::to_vec_named(&HealthCheckRequest::default()).unwrap(),
        hex(&v["health_check_request_msgpack_hex"])
    );
    assert!(!HealthCheckResponse::decode(&[0x80]).unwrap().healthy);
    for r in v["responses"].as_array().unwrap() {
        let bytes = hex(&r["msgpack_hex"]);
        let h = HealthCheckResponse::decode(&bytes).unwrap();
        assert_eq!(h.healthy, r["value"]["healthy"].as_bool().unwrap());
        assert_eq!(h.message.as_deref(), r["value"]["message"].as_str());
        assert_eq!(h.encode(), bytes);
    }
    let p = lattice_proto::ProviderKey::parse("VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV").unwrap();
    assert_eq!(
        subject::health(&LatticeName::default(), &p, &lattice_proto::LinkName::default()).as_str(),
        s(&v["subject"])
    );
}

#[test]
fn host_data_round_trips() {
    let v = vector("host_data.json");
    let json = s(&v["json"]).as_bytes();
    let h = HostData::from_json(json).unwrap();
    assert_eq!(h.to_json(), json);
    assert_eq!(h.to_base64(), s(&v["base64"]));
    // The stdin form: base64 then CRLF.
    let stdin = hex(&v["stdin_bytes_hex"]);
    assert_eq!(HostData::from_base64(&stdin).unwrap(), h);
    assert_eq!(HostData::decode_any(json).unwrap(), h);
    let valid = h.validate().unwrap();
    assert_eq!(valid.provider_key.as_str(), h.provider_key);
    assert_eq!(h.link_definitions.len(), 1);
    assert!(HostData::from_json(s(&v["minimal_json_accepted"]["json"]).as_bytes()).is_ok());
    let e = HostData::from_json(s(&v["missing_required_fields"]["json"]).as_bytes()).unwrap_err();
    assert!(e.to_string().contains(s(&v["missing_required_fields"]["error"])), "{e}");

    // What a real 0.82 host wrote on a provider's stdin.
    let real = vector("host082/host_data_stdin.json");
    let h = HostData::from_base64(s(&real["base64"]).as_bytes()).unwrap();
    assert_eq!(h.to_base64(), s(&real["base64"]));
    h.validate().unwrap();
}

#[test]
fn shutdown_round_trips() {
    let v = vector("shutdown.json");
    let req = ShutdownRequest::decode(&hex(&v["request_hex"]));
    assert_eq!(req.encode(), hex(&v["request_hex"]));
    assert!(req.is_for("NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX"));
    assert!(!req.is_for("NOTHER"));
    assert_eq!(SHUTDOWN_REPLY, hex(&v["reply_hex"]).as_slice());
    assert_eq!(ShutdownRequest::decode(b"{bad").host_id, "");
}
