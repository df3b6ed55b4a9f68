//! The three call modes of PROTOCOL.md §7 round-trip through a real server.

use std::time::Duration;

use lattice_rpc::{HandlerError, Request, handler_fn};

use crate::support::*;

#[tokio::test]
async fn actor_to_actor() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let calls = Counter::default();
    let server = env.serve(lattice_rpc::Served::Actor(b.clone()), echo(&calls)).await;
    let client = env.client().await;
    let out = client.call(actor(&a), actor(&b), "Echo.Say", b"hello".to_vec()).await.unwrap();
    assert_eq!(out, b"hello");
    assert_eq!(calls.get(), 1);
    assert_eq!(server.subject(), format!("wasmbus.rpc.default.{b}"));
    let stats = server.stats();
    assert_eq!((stats.received, stats.dispatched, stats.rejected_total()), (1, 1, 0));
    assert_eq!(stats.operations["Echo.Say"].requests, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn actor_to_provider_sees_origin_operation_and_deadline() {
    let env = Env::start();
    let (a, p) = (actor_key(), provider_key());
    let handler = handler_fn(|req: Request| async move {
        let remaining = req.remaining().ok_or("no deadline")?;
        if remaining > Duration::from_millis(2000) || remaining.is_zero() {
            return Err(HandlerError::new(format!("odd remaining time {remaining:?}")));
        }
        Ok(format!("{} {} {} {}", req.origin.public_key, req.target.link_name, req.operation, req.msg.len())
            .into_bytes())
    });
    let server = env.serve(served_provider(&p), handler).await;
    assert_eq!(server.subject(), format!("wasmbus.rpc.default.{p}.default"));
    let client = env.client().await;
    let out = client.call(actor(&a), provider(&p), "KeyValue.Get", vec![1, 2, 3]).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("{a} default KeyValue.Get 3"));
    server.shutdown().await;
}

#[tokio::test]
async fn provider_to_actor_and_send_waits_for_the_ack() {
    let env = Env::start();
    let (a, p) = (actor_key(), provider_key());
    let calls = Counter::default();
    let server = env.serve(lattice_rpc::Served::Actor(a.clone()), echo(&calls)).await;
    let client = env.client().await;
    let out = client.call(provider(&p), actor(&a), "HttpServer.HandleRequest", b"req".to_vec()).await.unwrap();
    assert_eq!(out, b"req");
    client.send(provider(&p), actor(&a), "Notify.Event", b"ev".to_vec()).await.unwrap();
    assert_eq!(calls.get(), 2, "send returned only after the handler ran and answered");
    server.shutdown().await;
}

#[tokio::test]
async fn handler_errors_come_back_as_remote_errors() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let server = env
        .serve(
            lattice_rpc::Served::Actor(b.clone()),
            handler_fn(|_req: Request| async { Err::<Vec<u8>, _>(HandlerError::from("no such key")) }),
        )
        .await;
    let client = env.client().await;
    let err = client.call(actor(&a), actor(&b), "KeyValue.Get", vec![]).await.unwrap_err();
    assert!(matches!(&err, lattice_rpc::RpcError::Remote(e) if e == "no such key"), "{err:?}");
    let stats = server.stats();
    assert_eq!(stats.handler_errors, 1);
    assert_eq!(stats.operations["KeyValue.Get"].last_error.as_deref(), Some("no such key"));
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_target_is_refused_locally() {
    let env = Env::start();
    let client = env.client().await;
    let bad = lattice_proto::WasmCloudEntity { public_key: "M.>".into(), ..Default::default() };
    let err = client.call(actor(&actor_key()), bad, "X.Y", vec![]).await.unwrap_err();
    assert!(matches!(err, lattice_rpc::RpcError::InvalidTarget(_)), "{err:?}");
}
