//! Checks [`NatsCluster`] against the real nats-server: the three nodes form one cluster that
//! routes messages and runs replicated JetStream, and a killed node rejoins on restart.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lattice_test_support::{Msg, NatsCluster, RawClient};

const WAIT: Duration = Duration::from_secs(5);

/// Subscribes on `to`, flushes, then publishes on `from` until the message arrives: interest
/// reaches the other nodes asynchronously, so early publishes may find no route to `to`.
fn route_a_message(from: u16, to: u16, subject: &str) -> Msg {
    let mut subscriber = RawClient::connect(to).expect("connect subscriber");
    let sid = subscriber.subscribe(subject).expect("sub");
    subscriber.flush().expect("flush");
    let mut publisher = RawClient::connect(from).expect("connect publisher");

    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        publisher.publish(subject, "routed").expect("pub");
        publisher.flush().expect("flush");
        if let Some(msg) = subscriber.next_msg(Duration::from_millis(50)).expect("read") {
            assert_eq!((msg.sid, msg.payload.as_slice()), (sid, &b"routed"[..]));
            return msg;
        }
    }
    panic!("no message from port {from} reached a subscriber on port {to} within {WAIT:?}");
}

#[test]
fn three_nodes_route_messages_and_replicate_jetstream() {
    let cluster = NatsCluster::start();
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert_eq!(urls[2], cluster.node(2).url());

    let msg = route_a_message(cluster.node(0).port(), cluster.node(2).port(), "lattice.hop");
    assert_eq!(msg.subject, "lattice.hop");

    // A stream with three replicas needs the JetStream meta group of all three nodes.
    let mut client = RawClient::connect(cluster.node(1).port()).expect("connect");
    let reply = client
        .request(
            "$JS.API.STREAM.CREATE.R3",
            r#"{"name":"R3","subjects":["r3.>"],"storage":"file","num_replicas":3}"#,
            WAIT,
        )
        .expect("stream create reply");
    let reply = String::from_utf8_lossy(&reply.payload).into_owned();
    assert!(!reply.contains("\"error\""), "R3 stream create failed: {reply}");
    assert!(reply.contains("\"num_replicas\":3"), "{reply}");
}

#[test]
fn a_killed_node_rejoins_on_restart() {
    let mut cluster = NatsCluster::start();
    // Killing the JetStream meta leader would make the restart wait out a Raft election
    // (seconds); that is nats-server's business, not this harness's, so spare the leader.
    let leader = cluster.meta_leader().expect("a JetStream cluster has a meta leader");
    let victim = (0..3).find(|&i| i != leader).expect("two followers");
    let others: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let port = cluster.node(victim).port();

    cluster.kill_node(victim);
    let refused = TcpStream::connect(cluster.node(victim).addr()).expect_err("killed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    route_a_message(cluster.node(others[0]).port(), cluster.node(others[1]).port(), "two.left");

    cluster.restart_node(victim);
    assert_eq!(cluster.node(victim).port(), port);
    assert_eq!(cluster.meta_leader(), Some(leader));
    route_a_message(cluster.node(victim).port(), cluster.node(others[0]).port(), "back.again");
    route_a_message(cluster.node(others[1]).port(), cluster.node(victim).port(), "and.back");
}

#[test]
fn a_core_nats_cluster_needs_no_jetstream() {
    let cluster = NatsCluster::builder().jetstream(false).start();
    assert_eq!(cluster.meta_leader(), None);
    let info = RawClient::connect(cluster.node(1).port()).expect("connect");
    assert!(!info.info().contains("\"jetstream\":true"), "{}", info.info());
    route_a_message(cluster.node(2).port(), cluster.node(0).port(), "core.only");
}
