//! What callers see when things go wrong: nobody there, too slow, a panic, a shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_rpc::{CallOptions, HandlerError, Request, RpcError, Served, handler_fn};
use tokio::sync::{Notify, Semaphore};

use crate::support::*;

#[tokio::test]
async fn no_responders_fails_fast() {
    let env = Env::start();
    let client = env.client().await; // 2000 ms default timeout
    let started = Instant::now();
    let err = client.call(actor(&actor_key()), actor(&actor_key()), "Echo.Say", vec![]).await.unwrap_err();
    assert!(matches!(err, RpcError::NoResponders { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("no responders"), "{err}");
}

#[tokio::test]
async fn slow_handler_times_out_and_its_late_reply_is_counted() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let release = Arc::new(Semaphore::new(0));
    let gate = release.clone();
    let server = env
        .serve(
            Served::Actor(b.clone()),
            handler_fn(move |req: Request| {
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await.map_err(HandlerError::new)?;
                    Ok(req.msg)
                }
            }),
        )
        .await;
    let client = env.client().await;
    let started = Instant::now();
    let err = client
        .call_with(actor(&a), actor(&b), "Slow.Op", vec![], CallOptions::timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Timeout { after, .. } if after == Duration::from_millis(200)), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Let the handler answer now: its reply arrives after the caller gave up.
    release.add_permits(1);
    server.shutdown().await; // the answer has been published
    tokio::time::timeout(Duration::from_secs(5), async {
        while client.late_replies() == 0 {
            client.nats().flush().await.unwrap();
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the late reply is counted");
}

#[tokio::test]
async fn a_panicking_handler_becomes_an_error_and_the_server_keeps_going() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let server = env
        .serve(
            Served::Actor(b.clone()),
            handler_fn(|req: Request| async move {
                if req.operation == "Boom.Now" {
                    panic!("kaboom");
                }
                Ok(req.msg)
            }),
        )
        .await;
    let client = env.client().await;
    let err = client.call(actor(&a), actor(&b), "Boom.Now", vec![]).await.unwrap_err();
    assert!(matches!(&err, RpcError::Remote(e) if e.contains("handler panicked: kaboom")), "{err:?}");
    assert_eq!(client.call(actor(&a), actor(&b), "Echo.Say", b"ok".to_vec()).await.unwrap(), b"ok");
    assert_eq!(server.stats().panics, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_an_in_flight_call() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let started = Arc::new(Notify::new());
    let release = Arc::new(Semaphore::new(0));
    let (s, r) = (started.clone(), release.clone());
    let server = env
        .serve(
            Served::Actor(b.clone()),
            handler_fn(move |req: Request| {
                let (s, r) = (s.clone(), r.clone());
                async move {
                    s.notify_one();
                    let _permit = r.acquire().await.map_err(HandlerError::new)?;
                    Ok(req.msg)
                }
            }),
        )
        .await;
    let client = env.client().await;
    let call = tokio::spawn({
        let client = client.clone();
        let (a, b) = (a.clone(), b.clone());
        async move { client.call(actor(&a), actor(&b), "Echo.Say", b"drained".to_vec()).await }
    });
    tokio::time::timeout(Duration::from_secs(5), started.notified()).await.expect("the handler started");
    let shutdown = tokio::spawn(server.shutdown());
    // The server stops taking new calls while it drains...
    tokio::task::yield_now().await;
    release.add_permits(1);
    tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("shutdown finishes").unwrap();
    // ...and the in-flight caller still got its answer.
    assert_eq!(call.await.unwrap().unwrap(), b"drained");
    let err = client.call(actor(&a), actor(&b), "Echo.Say", vec![]).await.unwrap_err();
    assert!(matches!(err, RpcError::NoResponders { .. }), "gone after shutdown: {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_work_past_its_deadline_is_not_run() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let calls = Counter::default();
    let release = Arc::new(Semaphore::new(0));
    let started = Arc::new(Notify::new());
    let (gate, s, counter) = (release.clone(), started.clone(), calls.clone());
    let server =
        lattice_rpc::RpcServer::builder(env.connect().await, lattice(), env.issuers(), Served::Actor(b.clone()))
            .max_in_flight(1)
            .start(handler_fn(move |req: Request| {
                let (gate, s, counter) = (gate.clone(), s.clone(), counter.clone());
                async move {
                    counter.bump();
                    if req.operation == "Block.Op" {
                        s.notify_one();
                        let _p = gate.acquire().await.map_err(HandlerError::new)?;
                    }
                    Ok(req.msg)
                }
            }))
            .await
            .unwrap();
    let metrics = server.metrics();
    let client = env.client().await;
    let blocker = tokio::spawn({
        let client = client.clone();
        let (a, b) = (a.clone(), b.clone());
        async move { client.call(actor(&a), actor(&b), "Block.Op", vec![]).await }
    });
    tokio::time::timeout(Duration::from_secs(5), started.notified()).await.expect("the blocker runs");
    // This one queues behind the blocker (max_in_flight = 1) and its caller gives up.
    let err = client
        .call_with(actor(&a), actor(&b), "Queued.Op", vec![], CallOptions::timeout(Duration::from_millis(100)))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Timeout { .. }), "{err:?}");
    release.add_permits(1);
    blocker.await.unwrap().unwrap();
    server.shutdown().await;
    let stats = metrics.snapshot();
    assert_eq!(calls.get(), 1, "only the blocker ran");
    assert_eq!((stats.received, stats.dispatched, stats.deadline_dropped), (2, 1, 1), "{stats:?}");
}
