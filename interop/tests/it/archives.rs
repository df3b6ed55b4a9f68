//! Issue 11 item 4: provider archives both ways, offline.
//!
//! - `lattice par create` writes what the REAL `provider-archive` 0.8.0 loads (`try_load`,
//!   which checks every executable against the claims' hashes), with the same claims, and
//!   a JWT the real wascap validates;
//! - archives written by the real crate read back in `lattice par inspect` with the same
//!   claims, and are valid;
//! - tampered archives: a changed executable is refused by both; claims changed without
//!   re-signing are loaded by provider-archive 0.8.0 (it decodes the JWT without checking
//!   its signature, a 0.82 laxity Lattice does not copy) and refused by Lattice.
//!
//! Starting archives on a host (their claims taken from the archive, tampered ones refused
//! with `provider_start_failed`) is in control_client.rs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{self, lattice_async};

/// A small stand-in executable: what is packed does not matter here, and the real provider
/// binaries (tens of MB) would make the unoptimised gzip of a debug `lattice` the slow part.
/// Archives of the real providers are started by a host in control_client.rs and
/// provider_sdk.rs.
fn small_executable(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = format!("#!/bin/sh\n# {name}\nexit 0\n").into_bytes();
    bytes.extend((0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn inspect_json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("lattice par inspect --json printed {out:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_par_create_loads_in_provider_archive_0_8() {
    let dir = tempfile::tempdir().unwrap();
    let binary = small_executable(dir.path(), "echo-provider");
    let issuer = nkeys::KeyPair::new_account();
    let subject = nkeys::KeyPair::new_service();
    let out = dir.path().join("echo.par.gz");
    let extra = dir.path().join("other.bin");
    std::fs::write(&extra, b"\x7fELF not really, another target's executable").unwrap();
    let (code, stdout, stderr) = lattice_async(
        [
            "par",
            "create",
            &binary.to_string_lossy(),
            "--contract",
            "example:echo",
            "--name",
            "interop-echo",
            "--vendor",
            "interop",
            "--rev",
            "9",
            "--ver",
            "1.2.3",
            "--issuer-seed",
            &issuer.seed().unwrap(),
            "--subject-seed",
            &subject.seed().unwrap(),
            "--add",
            &format!("aarch64-macos={}", extra.display()),
            "-o",
            &out.to_string_lossy(),
            "--json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let created: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(created["public_key"], subject.public_key());

    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..2], b"\x1f\x8b", "a .par.gz is gzipped");
    let par = provider_archive::ProviderArchive::try_load(&bytes)
        .await
        .expect("provider-archive 0.8.0 loads `lattice par create` output");
    let claims = par.claims().unwrap();
    assert_eq!(claims.subject, subject.public_key());
    assert_eq!(claims.issuer, issuer.public_key());
    let meta = claims.metadata.clone().unwrap();
    assert_eq!(meta.capid, "example:echo");
    assert_eq!(meta.name.as_deref(), Some("interop-echo"));
    assert_eq!(meta.vendor, "interop");
    assert_eq!(meta.rev, Some(9));
    assert_eq!(meta.ver.as_deref(), Some("1.2.3"));
    let mut targets = par.targets();
    targets.sort();
    let mut want = vec![support::target(), "aarch64-macos".to_owned()];
    want.sort();
    assert_eq!(targets, want);
    assert_eq!(par.target_bytes(&support::target()).unwrap(), std::fs::read(&binary).unwrap());
    assert_eq!(par.target_bytes("aarch64-macos").unwrap(), std::fs::read(&extra).unwrap());
    // The plain-tar form too, and the claims JWT passes the real wascap's validation.
    let tar = support::gunzip(&bytes);
    assert!(provider_archive::ProviderArchive::try_load(&tar).await.is_ok());
    let jwt = String::from_utf8(tar[support::tar_entry(&tar, "claims.jwt")].to_vec()).unwrap();
    let v = wascap::jwt::validate_token::<wascap::jwt::CapabilityProvider>(&jwt).unwrap();
    assert!(v.signature_valid && !v.expired && !v.cannot_use_yet, "{v:?}");
    let decoded = wascap::jwt::Claims::<wascap::jwt::CapabilityProvider>::decode(&jwt).unwrap();
    assert_eq!(decoded.metadata.unwrap().target_hashes.len(), 2);

    // And `lattice par inspect` reads it back as valid.
    let (code, stdout, stderr) =
        lattice_async(["par", "inspect", &out.to_string_lossy(), "--json"].map(String::from).to_vec()).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(inspect_json(&stdout)["valid"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_archive_0_8_output_reads_in_lattice_par_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let binary = small_executable(dir.path(), "httpserver");
    let par = support::pack_par(dir.path(), &binary, "lattice-httpserver", "wasmcloud:httpserver", 4).await;
    let (code, stdout, stderr) =
        lattice_async(["par", "inspect", &par.path.to_string_lossy(), "--json"].map(String::from).to_vec()).await;
    assert_eq!(code, 0, "{stderr}");
    let got = inspect_json(&stdout);
    assert_eq!(got["valid"], true, "{got}");
    assert_eq!(got["public_key"], par.public_key());
    assert_eq!(got["issuer"], par.issuer.public_key());
    assert_eq!(got["contract"], "wasmcloud:httpserver");
    assert_eq!(got["name"], "lattice-httpserver");
    assert_eq!(got["vendor"], "interop");
    assert_eq!(got["rev"], 4);
    assert_eq!(got["ver"], "0.2.0");
    let t = &got["targets"][support::target()];
    assert_eq!(t["matches"], true, "{got}");
    assert_eq!(t["size"], std::fs::metadata(support::stripped(&binary)).unwrap().len());

    // A changed executable: both refuse it.
    let binary = support::tamper_binary(&par.path);
    let real = provider_archive::ProviderArchive::try_load(&std::fs::read(&binary).unwrap()).await;
    let real_err = real.err().expect("provider-archive 0.8.0 refuses a changed executable").to_string();
    assert!(real_err.contains("hash"), "{real_err}");
    let (code, stdout, stderr) =
        lattice_async(["par", "inspect", &binary.to_string_lossy(), "--json"].map(String::from).to_vec()).await;
    assert_eq!(code, 1, "a tampered archive is a 'no' (exit 1): {stderr}");
    let got = inspect_json(&stdout);
    assert_eq!(got["valid"], false);
    assert!(got["error"].as_str().unwrap().contains("does not match its claims"), "{got}");
    assert!(stderr.starts_with("error:"), "{stderr}");

    // Claims edited without re-signing: provider-archive 0.8.0 does not check the JWT's
    // signature and loads it (the 0.82 laxity); Lattice refuses it.
    let claims = support::tamper_claims(&par.path);
    let real = provider_archive::ProviderArchive::try_load(&std::fs::read(&claims).unwrap()).await;
    let loaded = real.expect("provider-archive 0.8.0 loads forged claims (it never checks the signature)");
    assert_ne!(
        loaded.claims().unwrap().metadata.unwrap().capid,
        "wasmcloud:httpserver",
        "the forged contract is what 0.8.0 reports"
    );
    let (code, stdout, _) =
        lattice_async(["par", "inspect", &claims.to_string_lossy(), "--json"].map(String::from).to_vec()).await;
    assert_eq!(code, 1);
    let got = inspect_json(&stdout);
    assert_eq!(got["valid"], false);
    assert!(got["error"].as_str().unwrap().contains("bad signature"), "{got}");
}
