//! The control plane's side doors, attacked against a real host over a real nats-server
//! (docs/SECURITY.md list (a)): local files over the control interface without
//! `--allow-file-load`, archives and modules signed by an untrusted account, oversized files,
//! gzip bombs. Each refusal is reported (an `accepted:false` ack or a `*_start_failed`
//! reason); the legitimate path (the flag given, a trusted signer) still starts.

use std::time::Duration;

use futures::StreamExt;
use lattice_control::CtlClient;
use lattice_host::provider::archive::{self, ProviderClaims, ProviderMetadata};
use lattice_host::{HostError, ProviderSpec};
use lattice_proto::{AccountKey, LinkName};
use nkeys::KeyPair;

use crate::lattice::*;

fn kv_archive(lattice: &TestLattice, signer: &KeyPair, name: &str) -> (std::path::PathBuf, String) {
    let provider = KeyPair::new_service();
    let claims = ProviderClaims {
        jti: "t".into(),
        iat: now(),
        sub: provider.public_key(),
        wascap: ProviderMetadata { capid: "wasmcloud:keyvalue".into(), vendor: "lattice".into(), ..Default::default() },
        ..Default::default()
    };
    let binary = std::fs::read(workspace_binary("lattice-kv")).unwrap();
    let par = archive::pack(&binary, &archive::current_target(), claims, signer, false).unwrap();
    (lattice.write(name, &par), provider.public_key())
}

#[tokio::test(flavor = "multi_thread")]
async fn control_interface_file_loads_need_the_flag() {
    let lattice = TestLattice::new();
    let host = lattice.builder().await.allow_file_load(false).start().await.unwrap();
    let ctl = CtlClient::builder(lattice.connect().await).build();
    let (actor_path, _) = lattice.signed_actor("echo", &[], None);
    let (par, key) = kv_archive(&lattice, &KeyPair::new_account(), "kv.par");
    let link = LinkName::new("default").unwrap();

    let e = ctl.scale_actor(host.key(), &actor_path, 1, None).await.unwrap_err().to_string();
    assert!(e.contains("--allow-file-load"), "{e}");
    let e = ctl.start_provider(host.key(), &par.to_string_lossy(), &link, None, None).await.unwrap_err().to_string();
    assert!(e.contains("--allow-file-load"), "{e}");
    assert!(host.provider_pid(&key, "default").await.is_none());
    // The host's own API (manifests, `lattice up` flags) still loads files.
    host.scale_actor(&actor_path, 1, Default::default()).await.unwrap();
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_trusted_issuers_are_loaded_and_sizes_are_bounded() {
    let lattice = TestLattice::new();
    let trusted = KeyPair::new_account();
    let host = lattice
        .builder()
        .await
        .trusted_issuers([AccountKey::parse(&trusted.public_key()).unwrap()])
        .start()
        .await
        .unwrap();
    let ctl = CtlClient::builder(lattice.connect().await).build();
    let mut events = ctl.events().await.unwrap();
    let link = LinkName::new("default").unwrap();

    // An archive signed by some other account: acked (the start runs in the background),
    // then refused and reported in provider_start_failed.
    let (foreign, _) = kv_archive(&lattice, &KeyPair::new_account(), "foreign.par");
    ctl.start_provider(host.key(), &foreign.to_string_lossy(), &link, None, None).await.unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = events.next().await.unwrap().unwrap();
            if e.name() == Some("provider_start_failed") {
                return String::from_utf8_lossy(&e.to_json()).into_owned();
            }
        }
    })
    .await
    .expect("a provider_start_failed event");
    assert!(failed.contains("not a trusted issuer"), "{failed}");

    // The same through the host's API, and an actor module by an untrusted account.
    let e = host.start_provider(ProviderSpec::new(foreign.to_string_lossy(), link.clone())).await.unwrap_err();
    assert!(matches!(&e, HostError::Reference { reason, .. } if reason.contains("not a trusted issuer")), "{e}");
    let (actor_path, _) = lattice.signed_actor("echo", &[], None);
    let e = host.load_actor(&actor_path).await.unwrap_err();
    assert!(e.to_string().contains("not a trusted issuer"), "{e}");

    // A file larger than the limit is refused from its size alone (a sparse file: nothing
    // is read).
    let huge = lattice.write("huge.par", b"");
    std::fs::File::options()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(lattice_host::load_policy::MAX_LOAD_BYTES + 1)
        .unwrap();
    let e = host.start_provider(ProviderSpec::new(huge.to_string_lossy(), link.clone())).await.unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    // A gzip bomb: this machine's executable unpacking past the cap (513 MiB of zeros),
    // refused while streaming, from its tar header, without unpacking it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut header = [0u8; 512];
    let name = format!("{}.bin", archive::current_target());
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[124..135].copy_from_slice(format!("{:011o}", archive::MAX_UNPACKED + (1 << 20)).as_bytes());
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    std::io::Write::write_all(&mut gz, &header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(archive::MAX_UNPACKED >> 20) + 1 {
        std::io::Write::write_all(&mut gz, &zeros).unwrap();
    }
    let bomb = lattice.write("bomb.par.gz", &gz.finish().unwrap());
    let e = host.start_provider(ProviderSpec::new(bomb.to_string_lossy(), link.clone())).await.unwrap_err();
    assert!(e.to_string().contains("unpacks to more than"), "{e}");

    // The legitimate path: signed by the trusted account, it starts.
    let (good, key) = kv_archive(&lattice, &trusted, "good.par");
    let started = host.start_provider(ProviderSpec::new(good.to_string_lossy(), link.clone())).await.unwrap();
    assert_eq!(started.as_str(), key);
    host.stop_provider(&key, "default").await.unwrap();
    host.stop().await;
}
