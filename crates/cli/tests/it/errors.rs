//! The one `error:` line (issue 18 item 4): a nested failure, run through the real binary,
//! prints each cause exactly once. `lattice up` with a manifest naming a signed module that
//! was modified after signing fails in three layers — the host (`cannot start actor from
//! …`), the actor runtime (`actor refused`) and the module claims (`module hash mismatch
//! …`) — and the whole of stderr (seeds given, so nothing in it is random) is pinned: the
//! host's two progress lines, then one `error:` line naming each cause once.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use lattice_host::claims::{self, SignOptions};
use lattice_proto::ClusterSeed;
use lattice_test_support::NatsServer;
use nkeys::KeyPair;

#[test]
fn a_tampered_module_prints_each_cause_once() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let wat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../actors/echo.wat")).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let opts = SignOptions { name: "echo".into(), ..SignOptions::default() };
    let signed =
        claims::sign(&wat::parse_str(&wat).unwrap(), &opts, &KeyPair::new_module(), &KeyPair::new_account(), now)
            .unwrap();
    // Tamper: append a custom section (id 0, 5 bytes: name "test", no payload) after signing.
    // Still a valid module, but no longer the one the claims' hash names.
    let mut tampered = signed.clone();
    tampered.extend_from_slice(&[0, 5, 4, b't', b'e', b's', b't']);
    let module = dir.path().join("echo.wasm");
    std::fs::write(&module, &tampered).unwrap();
    let manifest = dir.path().join("lattice.toml");
    std::fs::write(&manifest, format!("[[actors]]\nname = \"echo\"\npath = \"{}\"\n", module.display())).unwrap();

    let host = KeyPair::new_server();
    let (url, host_seed, cluster_seed) = (server.url(), host.seed().unwrap(), ClusterSeed::generate().seed());
    let out = Command::new(env!("CARGO_BIN_EXE_lattice"))
        .args(["up", "--manifest", manifest.to_str().unwrap(), "--nats-url", &url])
        .args(["--host-seed", &host_seed, "--cluster-seed", &cluster_seed])
        .env("LATTICE_STATE_DIR", dir.path().join("state"))
        .env("RUST_LOG", "off")
        .env_remove("LATTICE_CLUSTER_SEED")
        .env_remove("WASMCLOUD_CLUSTER_SEED")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");

    let claimed = claims::module_hash(&signed).unwrap();
    let computed = claims::module_hash(&tampered).unwrap();
    assert_ne!(claimed, computed);
    let expected = format!(
        "lattice: host {host} started in lattice default (NATS {url})\n\
         lattice: starting actor echo (1 instances)…\n\
         error: cannot start actor from '{module}': actor refused: module hash mismatch: claims say {claimed}, \
         module hashes to {computed} (the module was modified after signing)\n",
        host = host.public_key(),
        module = module.display(),
    );
    assert_eq!(stderr, expected);
    // Each cause once.
    for part in ["cannot start actor from", "actor refused", "module hash mismatch", &claimed, &computed] {
        assert_eq!(stderr.matches(part).count(), 1, "{part:?} in {stderr}");
    }
}
