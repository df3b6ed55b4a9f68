//! Real provider processes under a host: the `lattice-kv` binary linked to the counter
//! actor, killed with SIGKILL, restarted by the host with its links; stopped on shutdown;
//! started from a provider archive; a binary that exits at once is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_host::provider::archive::{self, ProviderClaims, ProviderMetadata};
use lattice_host::{NativeClaims, ProviderSpec};
use lattice_proto::{LinkDefinition, LinkName};
use nkeys::KeyPair;

use crate::lattice::*;

fn kv_spec() -> ProviderSpec {
    let mut spec =
        ProviderSpec::new(workspace_binary("lattice-kv").to_string_lossy(), LinkName::new("default").unwrap());
    spec.claims = Some(NativeClaims {
        contract_id: "wasmcloud:keyvalue".into(),
        name: Some("kv".into()),
        vendor: Some("lattice".into()),
        seed: None,
    });
    spec
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_provider_is_restarted_and_gets_its_links_back() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;
    let client = lattice.client().await;
    let (path, actor) = lattice.signed_actor("counter", &["wasmcloud:httpserver", "wasmcloud:keyvalue"], None);
    host.scale_actor(&path, 1, BTreeMap::new()).await.unwrap();
    let kv = host.start_provider(kv_spec()).await.unwrap();
    host.put_link(LinkDefinition {
        actor_id: actor.as_str().into(),
        provider_id: kv.as_str().into(),
        link_name: "default".into(),
        contract_id: "wasmcloud:keyvalue".into(),
        values: Default::default(),
    })
    .await
    .unwrap();

    let first = eventually("the counter to answer", Duration::from_secs(10), || async {
        http_call(&client, &actor, b"").await.ok()
    })
    .await;
    assert_eq!(counter_value(&first), 1);

    // The same binary gets the same key in the same state directory.
    let pid = host.provider_pid(kv.as_str(), "default").await.unwrap();
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success());

    eventually("the provider to be restarted", Duration::from_secs(10), || async {
        (host.provider_restarts(kv.as_str(), "default").await >= Some(1)).then_some(())
    })
    .await;
    let new_pid = host.provider_pid(kv.as_str(), "default").await.unwrap();
    assert_ne!(new_pid, pid);
    // The restarted provider knows the link (from HostData and the re-publish): the data
    // lives in JetStream, so the count goes on.
    let second = eventually("the counter to answer again", Duration::from_secs(10), || async {
        http_call(&client, &actor, b"").await.ok()
    })
    .await;
    assert_eq!(counter_value(&second), 2);

    host.stop().await;
    assert!(!pid_alive(new_pid), "the provider survived the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_start_from_archives_and_bad_binaries_are_reported() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;

    let provider = KeyPair::new_service();
    let claims = ProviderClaims {
        jti: "t".into(),
        iat: now(),
        sub: provider.public_key(),
        wascap: ProviderMetadata {
            name: Some("kv".into()),
            capid: "wasmcloud:keyvalue".into(),
            vendor: "lattice".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let binary = std::fs::read(workspace_binary("lattice-kv")).unwrap();
    // A plain tar (.par): gzip in a debug build takes long for a debug-sized binary.
    let par = archive::pack(&binary, &archive::current_target(), claims, &KeyPair::new_account(), false).unwrap();
    let par = lattice.write("kv.par", &par);
    let spec = ProviderSpec::new(format!("file://{}", par.display()), LinkName::new("archived").unwrap());
    let key = host.start_provider(spec).await.unwrap();
    assert_eq!(key.as_str(), provider.public_key());
    assert!(host.links().claims().iter().any(|c| c.subject() == key.as_str()));

    // An executable that exits at once is reported as a start failure, not a hang.
    let script = lattice.write("exits.sh", b"#!/bin/sh\necho 'error: nope' >&2\nexit 3\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut spec = ProviderSpec::new(script.to_string_lossy(), LinkName::new("default").unwrap());
    spec.claims = Some(NativeClaims { contract_id: "x:y".into(), ..Default::default() });
    let err = lattice_host::error::chain(&host.start_provider(spec).await.unwrap_err());
    assert!(err.contains("exited before it became ready"), "{err}");

    // A native executable without claims is refused with a clear error.
    let spec = ProviderSpec::new(script.to_string_lossy(), LinkName::new("default").unwrap());
    let err = host.start_provider(spec).await.unwrap_err().to_string();
    assert!(err.contains("needs its claims"), "{err}");

    host.stop_provider(key.as_str(), "archived").await.unwrap();
    host.stop().await;
}
