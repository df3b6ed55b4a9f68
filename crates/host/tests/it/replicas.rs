//! `--js-replicas` (issue 17) on a real 3-node JetStream cluster: a host configured for three
//! replicas creates the lattice's streams with three, and brings streams an older host
//! created with one (as 0.82 does) up to three at start — the links in them kept.

use std::time::Duration;

use async_nats::jetstream;
use lattice_control::storage;
use lattice_host::HostBuilder;
use lattice_proto::{ClusterSeed, LatticeName};
use lattice_rpc::jetstream::{self as js_storage, Replicas, ReplicasChange};
use lattice_test_support::NatsCluster;

async fn connect(cluster: &NatsCluster) -> async_nats::Client {
    lattice_rpc::NatsOptions::new(&cluster.urls().join(",")).connect().await.unwrap().client
}

async fn start_host(cluster: &NatsCluster, lattice: &LatticeName, dir: &std::path::Path) -> lattice_host::Host {
    let (rpc, ctl) = (connect(cluster).await, connect(cluster).await);
    HostBuilder::new()
        .lattice(lattice.clone())
        .cluster_seed(ClusterSeed::generate().seed())
        .rpc_nats(rpc)
        .ctl_nats(ctl)
        .rpc_url(cluster.urls().join(","))
        .state_dir(dir.join("state"))
        .heartbeat_interval(Duration::ZERO)
        .js_replicas(Replicas::new(3).unwrap())
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_brings_one_replica_streams_to_three_and_creates_new_ones_with_three() {
    let cluster = NatsCluster::start();
    let client = connect(&cluster).await;
    let js = jetstream::new(client.clone());
    let dir = tempfile::tempdir().unwrap();

    // What a 0.82 host leaves behind: LATTICEDATA (one link in it), CONFIGDATA and the
    // chunking object store, all with one replica.
    let lattice = LatticeName::new("replicas").unwrap();
    let data = storage::bucket_name(&lattice);
    let kv = js_storage::open_kv(&js, &data, Replicas::ONE).await.unwrap();
    kv.put("LINKDEF_x", "kept".into()).await.unwrap();
    js_storage::open_kv(&js, &storage::config_bucket_name(&lattice), Replicas::ONE).await.unwrap();
    js_storage::open_object_store(&js, lattice.as_str(), Replicas::ONE).await.unwrap();
    for stream in [format!("KV_{data}"), format!("OBJ_{lattice}")] {
        assert_eq!(js_storage::stream_replicas(&js, &stream).await.unwrap(), 1, "{stream}");
    }

    let host = start_host(&cluster, &lattice, dir.path()).await;
    for stream in
        [format!("KV_{data}"), format!("KV_{}", storage::config_bucket_name(&lattice)), format!("OBJ_{lattice}")]
    {
        assert_eq!(js_storage::stream_replicas(&js, &stream).await.unwrap(), 3, "{stream}");
    }
    let kept = kv.get("LINKDEF_x").await.unwrap().unwrap();
    assert_eq!(&kept[..], b"kept");
    host.stop().await;

    // A fresh lattice: created with three replicas straight away.
    let fresh = LatticeName::new("replicas_fresh").unwrap();
    let host = start_host(&cluster, &fresh, dir.path()).await;
    let fresh_data = format!("KV_{}", storage::bucket_name(&fresh));
    assert_eq!(js_storage::stream_replicas(&js, &fresh_data).await.unwrap(), 3);
    assert_eq!(js_storage::stream_replicas(&js, &format!("OBJ_{fresh}")).await.unwrap(), 3);
    host.stop().await;

    // Asking again changes nothing; asking for one scales back down.
    assert_eq!(
        js_storage::ensure_replicas(&js, &fresh_data, Replicas::new(3).unwrap()).await.unwrap(),
        ReplicasChange::Unchanged
    );
    assert_eq!(
        js_storage::ensure_replicas(&js, &fresh_data, Replicas::ONE).await.unwrap(),
        ReplicasChange::Updated { from: 3, to: 1 }
    );
    // A bucket that does not exist is not created by the replica check.
    assert_eq!(js_storage::ensure_kv_replicas(&js, "nope", Replicas::ONE).await.unwrap(), None);
}
