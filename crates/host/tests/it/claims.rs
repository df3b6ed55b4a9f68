//! Module claims at actor start: signed modules load, unsigned and tampered ones do not.

use lattice_host::actor::{ActorRuntime, LoadError, RuntimeConfig};
use lattice_host::claims::{self, ModuleClaimsError, SignOptions};

use crate::support::*;

#[test]
fn signed_demo_actors_load_with_their_claims() {
    for name in ["echo", "counter", "caller"] {
        let signed = sign(&compile(&actor_wat(name)), name, &["wasmcloud:httpserver"]);
        let module = runtime().load_at(&signed.wasm, NOW).unwrap();
        assert_eq!(module.key().as_str(), signed.module_key.public_key());
        assert_eq!(module.claims().issuer().as_str(), signed.account.public_key());
        assert_eq!(module.claims().name(), Some(name));
        assert_eq!(module.claims().caps(), ["wasmcloud:httpserver".to_owned()]);
    }
}

#[test]
fn unsigned_module_is_refused() {
    let err = runtime().load_at(&compile(&actor_wat("echo")), NOW).unwrap_err();
    assert_eq!(err, LoadError::Claims(ModuleClaimsError::Unsigned));
    assert!(lattice_host::error::chain(&err).contains("unsigned module"), "{err}");
}

#[test]
fn tampered_module_is_refused() {
    let signed = sign(&compile(&actor_wat("echo")), "echo", &[]);
    // Change one byte of the code (inside the module, before the claims section): the
    // `i32.const 1` that __guest_call returns, near the end of the code section.
    let claims_at = find(&signed.wasm, b"wasmcloud_jwt").expect("claims section");
    let code_end = claims_at - 3;
    for offset in [8, code_end / 2, code_end - 1] {
        let mut tampered = signed.wasm.clone();
        tampered[offset] ^= 0x01;
        // Depending on the byte, the module no longer parses or no longer hashes the same.
        match runtime().load_at(&tampered, NOW) {
            Err(LoadError::Claims(_)) => {}
            other => panic!("byte {offset} changed: expected a refusal, got {other:?}"),
        }
    }
    // A change that keeps the module well-formed is a hash mismatch, named as such.
    let mut tampered = signed.wasm.clone();
    let data = find(&tampered, b"statusCode").unwrap();
    tampered[data] = b'S';
    let err = runtime().load_at(&tampered, NOW).unwrap_err();
    assert!(matches!(err, LoadError::Claims(ModuleClaimsError::HashMismatch { .. })), "{err:?}");
    assert!(lattice_host::error::chain(&err).contains("modified after signing"), "{err}");
}

#[test]
fn tampered_claims_are_refused() {
    let signed = sign(&compile(&actor_wat("echo")), "echo", &[]);
    let token = claims::extract(&signed.wasm).unwrap().unwrap();
    // Grant an extra capability by editing the JWT's claims segment, keeping the signature.
    let mut c = token.claims.clone();
    c.wascap.as_mut().unwrap().caps = Some(vec!["wasmcloud:keyvalue".into()]);
    let json = serde_json::to_string(&c).unwrap();
    let parts: Vec<&str> = token.jwt.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], data_encoding::BASE64URL_NOPAD.encode(json.as_bytes()), parts[2]);
    let mut wasm = claims::strip_claims(&signed.wasm).unwrap();
    wasm.push(0);
    let len = 1 + claims::SECTION_NAME.len() + forged.len();
    let mut leb = len;
    loop {
        let b = (leb & 0x7f) as u8;
        leb >>= 7;
        if leb == 0 {
            wasm.push(b);
            break;
        }
        wasm.push(b | 0x80);
    }
    wasm.push(claims::SECTION_NAME.len() as u8);
    wasm.extend_from_slice(claims::SECTION_NAME.as_bytes());
    wasm.extend_from_slice(forged.as_bytes());
    let err = runtime().load_at(&wasm, NOW).unwrap_err();
    assert!(matches!(err, LoadError::Claims(ModuleClaimsError::BadSignature { .. })), "{err:?}");
}

#[test]
fn expired_and_not_yet_valid_modules_are_refused() {
    let wasm = compile(&actor_wat("echo"));
    let expired = sign_with(&wasm, &SignOptions { name: "e".into(), expires: Some(NOW - 60), ..Default::default() });
    assert!(matches!(runtime().load_at(&expired.wasm, NOW), Err(LoadError::Claims(ModuleClaimsError::Expired { .. }))));
    let early = sign_with(&wasm, &SignOptions { name: "e".into(), not_before: Some(NOW + 60), ..Default::default() });
    assert!(matches!(
        runtime().load_at(&early.wasm, NOW),
        Err(LoadError::Claims(ModuleClaimsError::NotYetValid { .. }))
    ));
    // Valid once the time has come.
    runtime().load_at(&early.wasm, NOW + 61).unwrap();
}

#[test]
fn the_same_module_is_compiled_once() {
    let wasm = compile(&actor_wat("counter"));
    let a = sign(&wasm, "one", &[]);
    let b = sign(&wasm, "two", &[]);
    let rt = ActorRuntime::new(RuntimeConfig { max_instances_total: 4, ..RuntimeConfig::default() }).unwrap();
    let ma = rt.load_at(&a.wasm, NOW).unwrap();
    let mb = rt.load_at(&b.wasm, NOW).unwrap();
    // Two identities, one compilation (the hash covers the code, not the claims).
    assert_ne!(ma.key(), mb.key());
    assert_eq!(ma.claims().metadata().hash, mb.claims().metadata().hash);
    assert_eq!(rt.cached_modules(), 1);
    // The cache does not keep modules alive.
    drop((ma, mb));
    assert_eq!(rt.cached_modules(), 0);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Seeds the vectors in `tests/vectors/*.wascap012.wasm` were signed with, by the real
/// wascap 0.12.0 `embed_claims` (name "echo", caps [wasmcloud:httpserver], tags [], rev 1,
/// ver "0.1.0", call alias "Echo Actor", jti `JTIFIXEDFORTESTS000001`, iat 1700000000).
/// `padded` is wascap's own test module: padded LEB128 section sizes and a `dylink`
/// custom section, so it pins the re-encoding the hash is computed over.
const VECTOR_ACCOUNT_SEED: &str = "SAAPZOAUCGQ5OJ4R2F5T5Z6HVUUTT74LJBSH7TCCA4VUBQMHGAMCT3RBHQ";
const VECTOR_MODULE_SEED: &str = "SMABCGQGVXC3FTHADPGTSLXCX6E4FGXFYKQ5ZQOPSZU266IGWJNE5C6HUY";

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn modules_signed_by_wascap_0_12_verify_and_re_sign_byte_identically() {
    let account = nkeys::KeyPair::from_seed(VECTOR_ACCOUNT_SEED).unwrap();
    let module = nkeys::KeyPair::from_seed(VECTOR_MODULE_SEED).unwrap();
    for file in ["echo.wascap012.wasm", "padded.wascap012.wasm"] {
        let wasm = vector(file);
        let v = claims::verify(&wasm, NOW).unwrap();
        assert_eq!(v.actor().as_str(), module.public_key());
        assert_eq!(v.issuer().as_str(), account.public_key());
        assert_eq!(v.name(), Some("echo"));
        assert_eq!(v.call_alias(), Some("echo_actor"));
        assert_eq!(v.caps(), ["wasmcloud:httpserver".to_owned()]);

        // Our claims for the same inputs are wascap's, field for field...
        let opts = SignOptions {
            name: "echo".into(),
            caps: vec!["wasmcloud:httpserver".into()],
            rev: Some(1),
            ver: Some("0.1.0".into()),
            call_alias: Some("Echo Actor".into()),
            ..Default::default()
        };
        let mut ours = claims::actor_claims(&opts, &account.public_key(), &module.public_key(), 1_700_000_000);
        ours.jti = "JTIFIXEDFORTESTS000001".into();
        let token = claims::extract(&wasm).unwrap().unwrap();
        ours.wascap.as_mut().unwrap().hash = token.claims.wascap.as_ref().unwrap().hash.clone();
        assert_eq!(ours, token.claims, "{file}");
        // ...and embedding them reproduces wascap's module byte for byte (same stripped
        // module, same hash, same JSON, deterministic Ed25519).
        let again = claims::embed(&wasm, &ours, &account).unwrap();
        assert_eq!(again, wasm, "{file}");
    }
    // The echo vector also runs.
    let module = runtime().load_at(&vector("echo.wascap012.wasm"), NOW).unwrap();
    assert_eq!(module.claims().call_alias(), Some("echo_actor"));
}
