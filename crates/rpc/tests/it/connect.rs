//! The one connect helper against a real nats-server: the state watch follows the
//! connection, and a client comes back by itself after the broker restarts.

use std::time::Duration;

use lattice_rpc::{ConnState, NatsOptions};
use lattice_test_support::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_a_broker_restart_and_subscriptions_come_back() {
    let mut server = NatsServer::start();
    let nats = NatsOptions::new(&server.url()).name("connect-test").connect().await.expect("connect");
    let mut state = nats.state.clone();
    assert!(state.is_connected());
    let mut sub = nats.client.subscribe("connect.test").await.expect("subscribe");
    lattice_rpc::barrier::round_trip(&nats.client).await.expect("barrier");

    server.kill();
    let down = tokio::time::timeout(Duration::from_secs(10), state.changed()).await.expect("disconnect seen");
    assert_eq!(down, Some(ConnState::Disconnected));
    assert!(!nats.state.is_connected());

    server.restart();
    let up = tokio::time::timeout(Duration::from_secs(10), state.changed()).await.expect("reconnect seen");
    assert_eq!(up, Some(ConnState::Connected));
    // The history says what happened: one drop, and an outage about as long as the kill.
    let status = nats.state.status();
    assert_eq!(status.disconnects, 1);
    assert!(status.last_outage.is_some_and(|o| o > Duration::ZERO && o < Duration::from_secs(20)), "{status:?}");

    // The subscription made before the restart is live again (async-nats re-subscribes),
    // and already when the state says `Connected`: the first message published after it
    // arrives (no retry).
    let publisher = async_nats::connect(server.url()).await.expect("publisher");
    publisher.publish("connect.test", "again".into()).await.expect("publish");
    publisher.flush().await.expect("flush");
    let got = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut sub))
        .await
        .expect("the first message after the reconnect arrives")
        .expect("subscription open");
    assert_eq!(&got.payload[..], b"again");
}

#[tokio::test]
async fn several_urls_fall_through_to_one_that_answers() {
    let server = NatsServer::start();
    // A closed loopback port first, then the real server.
    let urls = format!("nats://127.0.0.1:1,{}", server.url());
    let nats = NatsOptions::new(&urls).connect().await.expect("connect through the list");
    assert!(nats.state.is_connected());
    nats.client.flush().await.expect("flush");
}

#[tokio::test]
async fn nobody_listening_fails_with_a_typed_error() {
    let err = NatsOptions::new("nats://127.0.0.1:1").connect().await.expect_err("nothing listens on port 1");
    assert!(matches!(err, lattice_rpc::RpcError::Connect { .. }), "{err:?}");
}
