//! Issue 11 item 5: module claims both ways, against the REAL wascap 0.12.
//!
//! - A module signed by `lattice claims sign` passes `wascap::wasm::extract_claims` (which
//!   recomputes the module hash and fails on a mismatch) with the same subject, issuer,
//!   capabilities, tags, revision, version, normalised call alias and module hash, and its
//!   JWT passes `wascap::jwt::validate_token` (signature, dates).
//! - A module signed by real wascap reads back in `lattice claims inspect` with the same
//!   claims and hash, and is valid; both sides compute the same hash for the same module
//!   (custom sections other than the claims are hashed, the claims section is not).
//! - A module changed after signing is refused by both.
//!
//! Real-wascap modules *running* on a Lattice host: control_client.rs (echo) and
//! provider_sdk.rs (relay).

use serde_json::Value;

use crate::support::{self, lattice_async};

async fn lattice_json(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = lattice_async(args.iter().map(|s| (*s).to_owned()).collect()).await;
    let value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, value, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_signed_modules_pass_real_wascap() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, support::compile(&support::actors_dir().join("echo.wat"))).unwrap();
    let signed = dir.path().join("echo_s.wasm");
    let issuer = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let (code, out, err) = lattice_json(&[
        "claims",
        "sign",
        &wasm.to_string_lossy(),
        "-o",
        &signed.to_string_lossy(),
        "--name",
        "Echo Actor",
        "--cap",
        "wasmcloud:httpserver",
        "--cap",
        "example:echo",
        "--tag",
        "interop",
        "--tag",
        "echo",
        "--rev",
        "12",
        "--ver",
        "3.4.5",
        "--call-alias",
        "My Echo-Actor.v1",
        "--expires-in-days",
        "30",
        "--issuer-seed",
        &issuer.seed().unwrap(),
        "--subject-seed",
        &module.seed().unwrap(),
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["public_key"], module.public_key());

    let bytes = std::fs::read(&signed).unwrap();
    let token = wascap::wasm::extract_claims(&bytes)
        .expect("real wascap recomputes the module hash and it matches")
        .expect("real wascap finds the claims section");
    let c = &token.claims;
    assert_eq!(c.subject, module.public_key());
    assert_eq!(c.issuer, issuer.public_key());
    let meta = c.metadata.clone().unwrap();
    assert_eq!(meta.name.as_deref(), Some("Echo Actor"));
    assert_eq!(meta.caps, Some(vec!["wasmcloud:httpserver".to_owned(), "example:echo".to_owned()]));
    assert_eq!(meta.tags, Some(vec!["interop".to_owned(), "echo".to_owned()]));
    assert_eq!(meta.rev, Some(12));
    assert_eq!(meta.ver.as_deref(), Some("3.4.5"));
    assert_eq!(meta.call_alias.as_deref(), Some("my_echo_actor_v1"), "the call alias is normalised as wascap does");
    assert!(!meta.provider);
    assert_eq!(meta.module_hash, out["hash"].as_str().unwrap(), "same module hash");
    assert!(c.expires.is_some());
    let v = wascap::jwt::validate_token::<wascap::jwt::Actor>(&token.jwt).unwrap();
    assert!(v.signature_valid && !v.expired && !v.cannot_use_yet, "{v:?}");

    // Real wascap signing the same module (no claims) hashes it the same way.
    let plain = std::fs::read(&wasm).unwrap();
    let claims = wascap::jwt::Claims::<wascap::jwt::Actor>::new(
        "x".into(),
        issuer.public_key(),
        module.public_key(),
        None,
        None,
        false,
        None,
        None,
        None,
    );
    let theirs = wascap::wasm::embed_claims(&plain, &claims, &issuer).unwrap();
    let theirs = wascap::wasm::extract_claims(&theirs).unwrap().unwrap();
    assert_eq!(theirs.claims.metadata.unwrap().module_hash, meta.module_hash);

    // Changed after signing: real wascap refuses it, and so does `lattice claims inspect`.
    let mut tampered = bytes.clone();
    let at = tampered.windows(4).position(|w| w == b"\x83\xaa\x73\x74").unwrap();
    tampered[at + 3] ^= 0x20; // "statusCode" → "StatusCode"
    let path = dir.path().join("tampered.wasm");
    std::fs::write(&path, &tampered).unwrap();
    assert!(wascap::wasm::extract_claims(&tampered).is_err(), "real wascap refuses a changed module");
    let (code, out, _) = lattice_json(&["claims", "inspect", &path.to_string_lossy(), "--json"]).await;
    assert_eq!(code, 1);
    assert_eq!(out["valid"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_wascap_modules_read_in_lattice() {
    let dir = tempfile::tempdir().unwrap();
    // A module with a `name` section and a custom section of its own: both are part of
    // the hashed module; only the claims section is left out.
    let wat = r#"(module $named
        (@custom "interop-meta" "kept in the hash")
        (import "wasmbus" "__guest_response" (func $respond (param i32 i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "ok")
        (func $call (export "__guest_call") (param $op i32) (param $msg i32) (result i32)
          (call $respond (i32.const 0) (i32.const 2))
          (i32.const 1)))"#;
    let wat_path = dir.path().join("named.wat");
    std::fs::write(&wat_path, wat).unwrap();
    let real = support::sign_actor(dir.path(), &wat_path, "named", &["wasmcloud:keyvalue"], 2);
    let (code, out, err) = lattice_json(&["claims", "inspect", &real.path.to_string_lossy(), "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["valid"], true, "{out}");
    assert_eq!(out["public_key"], real.public_key());
    assert_eq!(out["issuer"], real.account.public_key());
    assert_eq!(out["caps"], serde_json::json!(["wasmcloud:keyvalue"]));
    assert_eq!(out["rev"], 2);
    assert_eq!(out["ver"], "0.1.0");
    let token = wascap::wasm::extract_claims(&real.wasm).unwrap().unwrap();
    let hash = token.claims.metadata.unwrap().module_hash;
    assert_eq!(out["hash"], hash);
    assert_eq!(out["computed_hash"], hash, "Lattice computes the hash real wascap embedded");

    // Re-signed by `lattice claims sign`: the claims section is replaced, the hash stays.
    let resigned = dir.path().join("resigned.wasm");
    let (code, out, err) = lattice_json(&[
        "claims",
        "sign",
        &real.path.to_string_lossy(),
        "-o",
        &resigned.to_string_lossy(),
        "--name",
        "named",
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["hash"], hash);
    let token = wascap::wasm::extract_claims(std::fs::read(&resigned).unwrap()).unwrap().unwrap();
    assert_eq!(token.claims.subject, out["public_key"].as_str().unwrap());
}
