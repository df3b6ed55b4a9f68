//! Several instances of one entity share its subject through the queue group.

use futures::StreamExt;
use lattice_rpc::Served;

use crate::support::*;

async fn share(served: Served, target: lattice_proto::WasmCloudEntity) {
    let env = Env::start();
    let counters: Vec<Counter> = (0..3).map(|_| Counter::default()).collect();
    let mut servers = Vec::new();
    for (i, c) in counters.iter().enumerate() {
        // One instance runs each call on its own task, the others a batch per task.
        let builder = lattice_rpc::RpcServer::builder(env.connect().await, lattice(), env.issuers(), served.clone())
            .task_per_call(i == 2);
        servers.push(builder.start(echo(c)).await.unwrap());
    }
    let client = env.client().await;
    let origin = actor(&actor_key());
    let results: Vec<_> = futures::stream::iter(0..300u32)
        .map(|i| {
            let (client, origin, target) = (client.clone(), origin.clone(), target.clone());
            async move { (i, client.call(origin, target, "Echo.Say", i.to_be_bytes().to_vec()).await) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (i, r) in &results {
        assert_eq!(r.as_ref().unwrap(), &i.to_be_bytes().to_vec(), "call {i} got its own answer");
    }
    let counts: Vec<usize> = counters.iter().map(Counter::get).collect();
    assert!(counts.iter().all(|&c| c > 0), "every instance got some calls: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 300, "none lost, none run twice: {counts:?}");
    let dispatched: u64 = servers.iter().map(|s| s.stats().dispatched).sum();
    assert_eq!(dispatched, 300);
    for s in servers {
        s.shutdown().await;
    }
    client.nats().flush().await.unwrap();
    assert_eq!(client.late_replies(), 0, "no call was answered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_actor_instances_share_300_calls() {
    let a = actor_key();
    share(Served::Actor(a.clone()), actor(&a)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_provider_instances_share_300_calls() {
    let p = provider_key();
    share(served_provider(&p), provider(&p)).await;
}
