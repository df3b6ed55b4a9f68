//! The monitor against a real nats-server: what the unit tests of `classify` cannot show.

#![allow(clippy::unwrap_used, reason = "tests unwrap: a panic is the failure report")]

mod same_verdict;

use std::time::Duration;

use lattice_monitor::{Monitor, Report, nats};
use lattice_proto::{ClusterSeed, LatticeName};
use lattice_test_support::NatsServer;

/// A monitor that cannot keep up says so: NATS drops messages for it, and it reports a
/// slow consumer (the CLI prints it loudly) and counts it. Forced here with a tiny
/// subscription buffer and a flood of undecodable messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_reported_and_counted() {
    let server = NatsServer::start();
    let lattice_rpc::Nats { client, events, .. } =
        lattice_rpc::NatsOptions::new(&server.url()).subscription_capacity(8).connect().await.unwrap();
    let seed = ClusterSeed::generate();
    let mut monitor = Monitor::builder(client, LatticeName::default(), std::slice::from_ref(seed.public_key()))
        .nats_events(events)
        .alert_subject(None)
        .workers(1)
        .start()
        .await
        .unwrap();

    let flooder = async_nats::connect(server.url()).await.unwrap();
    let subject = format!("wasmbus.rpc.default.{}", nkeys::KeyPair::new_module().public_key());
    let slow = tokio::time::timeout(Duration::from_secs(30), async {
        let mut sent = 0u32;
        loop {
            // Publish in bursts, reading reports in between, until NATS reports us slow.
            for _ in 0..2000 {
                flooder.publish(subject.clone(), vec![0xc1; 64].into()).await.unwrap();
                sent += 1;
            }
            flooder.flush().await.unwrap();
            while let Ok(Some(report)) = tokio::time::timeout(Duration::from_millis(1), monitor.next_report()).await {
                if let Report::SlowConsumer { total, .. } = report {
                    return (total, sent);
                }
            }
        }
    })
    .await
    .expect("a slow-consumer report");
    assert!(slow.0 >= 1);
    assert!(monitor.metrics().slow_consumer_total() >= 1);
    assert!(monitor.metrics().encode().contains("lattice_monitor_slow_consumer_events_total"));
    monitor.stop().await;
}

/// Stopping returns promptly even when nobody read the reports.
#[tokio::test]
async fn stop_does_not_hang_on_unread_alerts() {
    let server = NatsServer::start();
    let (client, events) = nats::connect(&server.url(), None, "test").await.unwrap();
    let seed = ClusterSeed::generate();
    let monitor = Monitor::builder(client, LatticeName::default(), std::slice::from_ref(seed.public_key()))
        .nats_events(events)
        .start()
        .await
        .unwrap();
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let subject = format!("wasmbus.rpc.default.{}", nkeys::KeyPair::new_module().public_key());
    for _ in 0..20_000 {
        publisher.publish(subject.clone(), b"garbage".to_vec().into()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), monitor.stop()).await.expect("stop returns");
}
