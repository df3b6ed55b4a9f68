//! Fail fast while disconnected (issue 17), against a real nats-server that is killed and
//! restarted: a call waiting for its answer when the connection drops, and a call made
//! while it is down, fail at once with [`RpcError::Disconnected`] instead of waiting out
//! their (long) timeout; once the broker is back, calls succeed again. Bounds are generous:
//! the timing targets live in scripts/chaos.sh and docs/OPERATIONS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_rpc::{
    CallOptions, HandlerError, NatsOptions, Request, RpcClient, RpcError, RpcServer, Served, handler_fn,
};
use tokio::sync::{Notify, Semaphore};

use crate::support::*;

/// Far longer than any bound below: a call that waited it out would fail the test.
const LONG_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_at_once_while_disconnected_and_work_again_after() {
    let mut env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let started_handling = Arc::new(Notify::new());
    let seen = started_handling.clone();
    // The slow call's handler holds on until the end of the test.
    let release = Arc::new(Semaphore::new(0));
    let gate = release.clone();
    let server_conn = NatsOptions::new(&env.server.url()).connect().await.unwrap();
    let server = RpcServer::builder(server_conn.client.clone(), lattice(), env.issuers(), Served::Actor(b.clone()))
        .start(handler_fn(move |req: Request| {
            let (seen, gate) = (seen.clone(), gate.clone());
            async move {
                if req.operation == "Slow.Op" {
                    seen.notify_one();
                    let _permit = gate.acquire().await.map_err(HandlerError::new)?;
                }
                Ok::<_, HandlerError>(req.msg)
            }
        }))
        .await
        .unwrap();
    let conn = NatsOptions::new(&env.server.url()).connect().await.unwrap();
    let client = RpcClient::builder(conn.client.clone(), lattice(), env.seed.clone(), env.host.clone())
        .timeout(LONG_TIMEOUT)
        .connection_state(conn.state.clone())
        .build();
    assert_eq!(client.call(actor(&a), actor(&b), "Echo.Op", b"hi".to_vec()).await.unwrap(), b"hi");

    // In flight when the broker dies.
    let in_flight = {
        let (client, a, b) = (client.clone(), a.clone(), b.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            (client.call(actor(&a), actor(&b), "Slow.Op", vec![]).await, t.elapsed())
        })
    };
    tokio::time::timeout(Duration::from_secs(10), started_handling.notified()).await.expect("the handler ran");
    env.server.kill();
    let (result, took) = tokio::time::timeout(Duration::from_secs(20), in_flight).await.expect("fails fast").unwrap();
    assert!(matches!(&result, Err(RpcError::Disconnected { sent: true, .. })), "{result:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(result.as_ref().unwrap_err().is_transient());

    // Made while down: not sent at all.
    let t = Instant::now();
    let down = client
        .call_with(actor(&a), actor(&b), "Echo.Op", vec![], CallOptions::timeout(LONG_TIMEOUT))
        .await
        .unwrap_err();
    assert!(matches!(&down, RpcError::Disconnected { sent: false, .. }), "{down:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // Back: the client and the server reconnect by themselves and calls succeed again.
    env.server.restart();
    let t = Instant::now();
    let back = loop {
        match client
            .call_with(actor(&a), actor(&b), "Echo.Op", b"again".to_vec(), CallOptions::timeout(Duration::from_secs(2)))
            .await
        {
            Ok(reply) => break reply,
            Err(e) if t.elapsed() < Duration::from_secs(30) => {
                assert!(e.is_transient(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("no success within 30 s of the restart: {e:?}"),
        }
    };
    assert_eq!(back, b"again");
    release.add_permits(1);
    server.shutdown().await;
}
