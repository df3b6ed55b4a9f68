//! OCI artifacts between the real 0.82-era tooling and Lattice, through a real registry
//! (Debian's `docker-registry`):
//! - an actor signed by real wascap 0.12 and a provider archive packed by provider-archive
//!   0.8.0, pushed **exactly as wash 0.82 pushes them** (wash-lib's `push_oci_artifact`:
//!   oci-distribution 0.9.4, `OciImageManifest::build`, an empty `{}` config with 0.82's
//!   config media types), start on a Lattice host from their image references sent by the
//!   real 0.33 control client (`scale_actor`, `start_provider`) and serve HTTP;
//! - what `lattice push` made pulls with oci-distribution 0.9 (what a 0.82 host pulls with),
//!   with 0.82's layer and config media types and the exact bytes.

use oci_distribution::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_distribution::manifest::OciImageManifest;
use oci_distribution::secrets::RegistryAuth;
use oci_distribution::{Client, Reference};

use lattice_test_support::{NatsServer, Registry};

use crate::support::{self, ctl_client, map, Events, Up};

const WASM_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
const WASM_CONFIG: &str = "application/vnd.wasmcloud.actor.archive.config";
const PAR_LAYER: &str = "application/vnd.wasmcloud.provider.archive.layer.v1+par";
const PAR_CONFIG: &str = "application/vnd.wasmcloud.provider.archive.config";

/// wash-lib 0.82's `push_oci_artifact` for an insecure registry, step by step.
async fn wash_push(reference: &str, artifact: Vec<u8>, layer_type: &str, config_type: &str) {
    let image: Reference = reference.to_lowercase().parse().unwrap();
    let config = Config { data: b"{}".to_vec(), media_type: config_type.to_string(), annotations: None };
    let layer = vec![ImageLayer { data: artifact, media_type: layer_type.to_string(), annotations: None }];
    let mut client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    let manifest = OciImageManifest::build(&layer, &config, None);
    client.push(&image, &layer, config, &RegistryAuth::Anonymous, Some(manifest)).await.unwrap();
}

/// What a 0.82 host does to pull (oci-distribution 0.9 `Client::pull`).
async fn pull_082(reference: &str, accepted: &str) -> oci_distribution::client::ImageData {
    let image: Reference = reference.parse().unwrap();
    let mut client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    client.pull(&image, &RegistryAuth::Anonymous, vec![accepted]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wash_pushed_artifacts_start_from_image_refs_sent_by_the_real_control_client() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start();
    let registry = Registry::start();
    let reg = registry.authority();
    let echo = support::sign_actor(
        dir.path(),
        &support::actors_dir().join("echo.wat"),
        "oci-echo",
        &["wasmcloud:httpserver"],
        2,
    );
    let http = support::pack_par(
        dir.path(),
        &support::product_bin("lattice-httpserver"),
        "lattice-httpserver",
        "wasmcloud:httpserver",
        3,
    )
    .await;
    let actor_ref = format!("{reg}/wasmcloud/echo:0.1.0");
    let provider_ref = format!("{reg}/wasmcloud/httpserver:0.2.0");
    wash_push(&actor_ref, echo.wasm.clone(), WASM_LAYER, WASM_CONFIG).await;
    wash_push(&provider_ref, std::fs::read(&http.path).unwrap(), PAR_LAYER, PAR_CONFIG).await;

    let nc = support::connect(&nats.url()).await;
    let client = ctl_client(nc.clone());
    let kinds = ["actors_started", "actors_start_failed", "provider_started", "provider_start_failed", "linkdef_set"];
    let mut events =
        Events::new(client.events_receiver(kinds.iter().map(|k| (*k).to_owned()).collect()).await.unwrap());
    let up = Up::start(&nats.url(), &["--allowed-insecure", &reg]).await;
    let host = up.host_id.as_str();

    let ack = client.scale_actor(host, &actor_ref, 1, None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    let (_, started) = events.wait("actors_started", |d| d["image_ref"] == actor_ref.as_str()).await;
    assert_eq!(started["public_key"], echo.public_key());
    let ack = client.start_provider(host, &provider_ref, None, None, None).await.unwrap();
    assert!(ack.accepted, "{ack:?}");
    let (_, started) = events
        .wait("provider_started", |d| {
            d["provider_ref"] == provider_ref.as_str() || d["image_ref"] == provider_ref.as_str()
        })
        .await;
    assert_eq!(started["public_key"], http.public_key());
    assert_eq!(started["contract_id"], "wasmcloud:httpserver");

    let mark = up.proc.mark();
    let ack = client
        .advertise_link(
            &echo.public_key(),
            &http.public_key(),
            "wasmcloud:httpserver",
            "default",
            map(&[("address", "127.0.0.1:0")]),
        )
        .await
        .unwrap();
    assert!(ack.accepted, "{ack:?}");
    let line = up.proc.wait_for_since(mark, &["http listener started", &echo.public_key()]).await;
    let port: u16 = line
        .rsplit("127.0.0.1:")
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    let (status, body) =
        tokio::task::spawn_blocking(move || crate::control_client::http_get(port, "/oci?via=registry")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("via=registry"), "the echo actor answers with the request: {body}");
    let inv = client.get_host_inventory(host).await.unwrap();
    assert_eq!(inv.actors[0].image_ref.as_deref(), Some(actor_ref.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_lattice_push_made_pulls_with_oci_distribution_0_9() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let reg = registry.authority();
    let echo = support::sign_actor(
        dir.path(),
        &support::actors_dir().join("echo.wat"),
        "oci-echo",
        &["wasmcloud:httpserver"],
        2,
    );
    let http =
        support::pack_par(dir.path(), &support::product_bin("lattice-kv"), "lattice-kv", "wasmcloud:keyvalue", 1).await;
    let state = dir.path().join("state");
    let state_arg = state.to_string_lossy().into_owned();
    for (reference, file) in [
        (format!("{reg}/lattice/echo:0.3.0"), echo.path.clone()),
        (format!("{reg}/lattice/kv:0.3.0"), http.path.clone()),
    ] {
        let (code, out, err) = support::lattice_async(
            ["push", "--insecure", "--state-dir", &state_arg, &reference, &file.to_string_lossy(), "--json"]
                .map(str::to_owned)
                .to_vec(),
        )
        .await;
        assert_eq!(code, 0, "lattice push {reference}: {err}");
        assert!(out.contains("\"digest\":\"sha256:"), "{out}");
    }

    let actor = pull_082(&format!("{reg}/lattice/echo:0.3.0"), WASM_LAYER).await;
    assert_eq!(actor.layers.len(), 1);
    assert_eq!(actor.layers[0].media_type, WASM_LAYER);
    assert_eq!(actor.layers[0].data, echo.wasm, "the exact module");
    assert_eq!(actor.config.media_type, WASM_CONFIG);
    assert!(actor.digest.as_deref().is_some_and(|d| d.starts_with("sha256:")));
    assert!(wascap::wasm::extract_claims(&actor.layers[0].data).unwrap().is_some(), "real wascap reads its claims");

    let par = pull_082(&format!("{reg}/lattice/kv:0.3.0"), PAR_LAYER).await;
    assert_eq!(par.layers[0].media_type, PAR_LAYER);
    assert_eq!(par.layers[0].data, std::fs::read(&http.path).unwrap(), "the exact archive");
    assert_eq!(par.config.media_type, PAR_CONFIG);
    let loaded = provider_archive::ProviderArchive::try_load(&par.layers[0].data).await.unwrap();
    assert_eq!(loaded.claims().unwrap().subject, http.public_key());
}
