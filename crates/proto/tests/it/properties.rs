//! Property tests: sign→verify round-trips; any tampering fails; arbitrary bytes never panic.

use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{
    ActorKey, ClusterSeed, HealthCheckResponse, HostData, HostKey, Invocation, InvocationResponse, LinkDefinition,
    ProviderKey, TrustedIssuers, VerifyOptions, WasmCloudEntity,
};
use proptest::prelude::*;

const SEED: &str = "SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ";
const ACTOR: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
const NOW: u64 = 1_800_000_000;

fn signed(op: &str, msg: Vec<u8>, to_provider: bool) -> (Invocation, TrustedIssuers) {
    let seed = ClusterSeed::parse(SEED).unwrap();
    let issuers = TrustedIssuers::new([seed.public_key()]);
    let host = HostKey::parse(HOST).unwrap();
    let actor = WasmCloudEntity::actor(&ActorKey::parse(ACTOR).unwrap());
    let provider = WasmCloudEntity::provider(
        &ProviderKey::parse(PROVIDER).unwrap(),
        &lattice_proto::LinkName::default(),
        "wasmcloud:keyvalue",
    );
    let (origin, target) = if to_provider { (actor, provider) } else { (provider, actor) };
    let call = CallSpec { origin, target, operation: op.into(), msg, host_id: &host };
    let ctx = SignContext { id: "0123456789abcdef0123456789abcdef".into(), jti: "jti", now: NOW, expires: None };
    (Invocation::new_signed(call, &seed, ctx), issuers)
}

fn opts() -> VerifyOptions {
    VerifyOptions { now: NOW, max_age: Some(300) }
}

/// Flip one bit of the byte at `idx % len` of `bytes` (no-op on empty input).
fn flip(bytes: &mut [u8], idx: usize, bit: u8) {
    if !bytes.is_empty() {
        let i = idx % bytes.len();
        bytes[i] ^= 1 << (bit % 8);
    }
}

/// Flip one character of a string while keeping it valid UTF-8 (replace it by another ASCII char).
fn mutate_str(s: &str, idx: usize) -> String {
    if s.is_empty() {
        return "x".into();
    }
    let mut chars: Vec<char> = s.chars().collect();
    let i = idx % chars.len();
    // A digit: unaffected by the lower-casing of contract ids and link names in URLs.
    chars[i] = if chars[i] == '7' { '8' } else { '7' };
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn sign_verify_round_trips(op in "[A-Za-z]{1,12}\\.[A-Za-z]{1,12}", msg in proptest::collection::vec(any::<u8>(), 0..2048), to_provider: bool) {
        let (inv, issuers) = signed(&op, msg, to_provider);
        let wire = inv.encode();
        let back = Invocation::decode(&wire).unwrap();
        prop_assert_eq!(&back, &inv);
        prop_assert!(issuers.verify(&back, &opts()).is_ok());
    }

    #[test]
    fn any_msg_tamper_fails(msg in proptest::collection::vec(any::<u8>(), 1..512), idx: usize, bit: u8) {
        let (mut inv, issuers) = signed("KeyValue.Get", msg, true);
        flip(&mut inv.msg, idx, bit);
        prop_assert_eq!(issuers.verify(&inv, &opts()).unwrap_err().kind(), "hash_mismatch");
    }

    #[test]
    fn emptying_msg_fails(msg in proptest::collection::vec(any::<u8>(), 1..64)) {
        // The 0.82 host skips the hash for an empty msg; Lattice does not (PROTOCOL §11.1).
        let (mut inv, issuers) = signed("KeyValue.Get", msg, true);
        inv.msg.clear();
        prop_assert_eq!(issuers.verify(&inv, &opts()).unwrap_err().kind(), "hash_mismatch");
    }

    #[test]
    fn any_operation_tamper_fails(idx: usize) {
        let (mut inv, issuers) = signed("KeyValue.Get", b"x".to_vec(), true);
        inv.operation = mutate_str(&inv.operation, idx);
        prop_assert!(issuers.verify(&inv, &opts()).is_err());
    }

    #[test]
    fn any_origin_or_target_tamper_fails(idx: usize, which in 0u8..6) {
        let (mut inv, issuers) = signed("KeyValue.Get", b"x".to_vec(), true);
        match which {
            0 => inv.origin.public_key = mutate_str(&inv.origin.public_key, idx),
            1 => inv.origin.link_name = mutate_str(&inv.origin.link_name, idx),
            2 => inv.origin.contract_id = mutate_str(&inv.origin.contract_id, idx),
            3 => inv.target.public_key = mutate_str(&inv.target.public_key, idx),
            4 => inv.target.link_name = mutate_str(&inv.target.link_name, idx),
            _ => inv.target.contract_id = mutate_str(&inv.target.contract_id, idx),
        }
        // Changing the origin's link name or contract of an actor changes nothing in its
        // URL (actor URLs are the key alone), which is exactly what 0.82 signs. Every
        // other change must be caught.
        let actor_meta_only = matches!(which, 1 | 2);
        if !actor_meta_only {
            prop_assert!(issuers.verify(&inv, &opts()).is_err());
        }
    }

    #[test]
    fn any_claims_byte_tamper_fails(idx: usize, bit in 0u8..7) {
        let (mut inv, issuers) = signed("KeyValue.Get", b"hello".to_vec(), true);
        let mut bytes = inv.encoded_claims.clone().into_bytes();
        flip(&mut bytes, idx, bit);
        // Keep it a string; a non-UTF-8 claims string cannot even be encoded as msgpack str.
        inv.encoded_claims = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(issuers.verify(&inv, &opts()).is_err());
    }

    #[test]
    fn id_rewrite_fails(id in "[a-f0-9]{32}") {
        let (mut inv, issuers) = signed("KeyValue.Get", b"x".to_vec(), true);
        prop_assume!(id != inv.id);
        inv.id = id;
        prop_assert_eq!(issuers.verify(&inv, &opts()).unwrap_err().kind(), "id_mismatch");
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Invocation::decode(&bytes);
        let _ = InvocationResponse::decode(&bytes);
        let _ = LinkDefinition::decode(&bytes);
        let _ = HealthCheckResponse::decode(&bytes);
        let _ = HostData::decode_any(&bytes);
        let _ = lattice_proto::claims::decode_unverified(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn truncated_invocations_are_errors(cut in 0usize..2000) {
        let (inv, issuers) = signed("KeyValue.Get", vec![7u8; 300], true);
        let wire = inv.encode();
        let cut = cut % wire.len();
        // Any strict prefix is either undecodable or fails verification; never a panic.
        match Invocation::decode(&wire[..cut]) {
            Err(_) => {}
            Ok(got) => prop_assert!(issuers.verify(&got, &opts()).is_err()),
        }
    }

    #[test]
    fn mutated_invocation_bytes_never_verify_falsely(idx: usize, bit: u8) {
        let (inv, issuers) = signed("KeyValue.Get", b"payload".to_vec(), true);
        let mut wire = inv.encode();
        flip(&mut wire, idx, bit);
        if let Ok(got) = Invocation::decode(&wire) {
            // If it still decodes to the same invocation, it verifies; otherwise it must not.
            if got != inv {
                let r = issuers.verify(&got, &opts());
                // Flipping a bit inside trace context or content_length changes nothing signed,
                // nor does a change the URLs and hash do not see (0.82 lower-cases contract
                // ids and link names in entity URLs, so `wasmcloud` → `Wasmcloud` is unsigned).
                let unsigned_change = got.trace_context != inv.trace_context
                    || got.content_length != inv.content_length
                    || got.digest() == inv.digest();
                prop_assert!(r.is_err() || unsigned_change, "mutation verified: {:?}", got);
            }
        }
    }
}
