//! `lattice inspect` over the golden vectors: valid ones print `valid`, forged ones
//! exit 1 with a clear `error:`, malformed bytes exit 2.

use std::path::PathBuf;

use serde_json::Value;

use crate::lattice;

const ISSUER: &str = "CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI";

fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(hex: &Value) -> Vec<u8> {
    data_encoding::HEXLOWER_PERMISSIVE.decode(hex.as_str().unwrap().as_bytes()).unwrap()
}

#[test]
fn good_vectors_are_valid() {
    for case in ["actor_to_provider", "provider_to_actor", "actor_to_actor", "empty_msg"] {
        let v = vector(&format!("invocation_{case}.json"));
        let out = lattice(&["inspect", "--issuer", ISSUER], &bytes(&v["invocation_msgpack_hex"]));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.lines().last(), Some("valid"), "{case}");
        // The pretty JSON before `valid` names the operation.
        assert!(stdout.contains(v["input"]["operation"].as_str().unwrap()));
    }
}

#[test]
fn negative_vectors_fail_with_the_reason() {
    let neg = vector("negative.json");
    for case in neg["validation_vectors"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(hex) = case.get("invocation_msgpack_hex") else { continue };
        let out = lattice(&["inspect", "--issuer", ISSUER], &bytes(hex));
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{name}: one error line: {stderr}");
        let expected = match name {
            "tampered_msg" => "hash mismatch",
            "untrusted_issuer" => "unknown issuer",
            "bad_signature" => "bad signature",
            "target_url_mismatch" => "target mismatch",
            other => panic!("unexpected vector {other}"),
        };
        assert!(stderr.starts_with(&format!("error: {expected}")), "{name}: {stderr}");
    }
}

#[test]
fn json_output_is_one_object() {
    let v = vector("invocation_actor_to_actor.json");
    let out = lattice(&["inspect", "--json", "--issuer", ISSUER], &bytes(&v["invocation_msgpack_hex"]));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let j: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["kind"], "invocation");
    assert_eq!(j["valid"], true);
    assert_eq!(j["message"]["msg"]["preview"], "hello");

    let neg = vector("negative.json");
    let bad = &neg["validation_vectors"][2]["invocation_msgpack_hex"];
    let out = lattice(&["inspect", "--json", "--issuer", ISSUER], &bytes(bad));
    assert_eq!(out.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["valid"], false);
    assert!(j["error"].as_str().unwrap().contains("signature"));
}

#[test]
fn stale_is_opt_in_and_clock_is_settable() {
    let v = vector("invocation_actor_to_provider.json");
    let b = bytes(&v["invocation_msgpack_hex"]);
    // Real clock, no --max-age: a 2024 token without exp is still valid.
    assert!(lattice(&["inspect", "--issuer", ISSUER], &b).status.success());
    // With an age limit it is stale...
    let out = lattice(&["inspect", "--issuer", ISSUER, "--max-age", "300"], &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: stale"));
    // ...unless the clock is set to the vector's own time.
    assert!(lattice(&["inspect", "--issuer", ISSUER, "--max-age", "300", "--now", "1707858010"], &b).status.success());
}

#[test]
fn malformed_input_exits_2() {
    let neg = vector("negative.json");
    for case in neg["malformed_msgpack_vectors"].as_array().unwrap() {
        let out = lattice(&["inspect", "--issuer", ISSUER], &bytes(&case["payload_hex"]));
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("error: malformed msgpack Invocation"), "{stderr}");
    }
    let out = lattice(&["inspect", "--issuer", "Cnotakey"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn other_kinds_decode() {
    let ld = vector("linkdefs.json");
    let out = lattice(&["inspect", "--kind", "linkdef"], &bytes(&ld["vectors"][0]["msgpack_hex"]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("redis://127.0.0.1:6379/"));
    let h = vector("health.json");
    let out = lattice(&["inspect", "--kind", "health", "--json"], &bytes(&h["responses"][1]["msgpack_hex"]));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["message"]["message"], "redis unreachable");
    let hd = vector("host_data.json");
    let out = lattice(&["inspect", "--kind", "hostdata", "--json"], hd["base64"].as_str().unwrap().as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["valid"], true);
    assert_eq!(j["message"]["invocation_seed"], "<redacted>");
    let r = vector("invocation_actor_to_provider.json");
    let out = lattice(&["inspect", "--kind", "response", "--json"], &bytes(&r["response_error"]["msgpack_hex"]));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["message"]["error"], "failed to handle invocation");
}
