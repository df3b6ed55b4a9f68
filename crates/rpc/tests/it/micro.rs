//! NATS micro discovery and stats (`$SRV.PING|INFO|STATS`): what `nats micro ls|info|stats`
//! see of a running server, parsed both with our types and with async-nats' `service`
//! types (the same wire format as the Go `micro` package and the `nats` CLI).

use std::collections::HashSet;
use std::time::Duration;

use async_nats::service::{Info as NatsInfo, PingResponse as NatsPing, Stats as NatsStats};
use futures::StreamExt;
use lattice_rpc::micro::{
    self, INFO_RESPONSE_TYPE, InfoResponse, PING_RESPONSE_TYPE, PingResponse, REJECTED_ENDPOINT, STATS_RESPONSE_TYPE,
    StatsResponse, Verb,
};
use lattice_rpc::{HandlerError, MicroConfig, Request, RpcError, RpcServer, Served, handler_fn};

use crate::support::*;

const GOOD: usize = 20;
const BAD: usize = 5;
const FAILURE: &str = "no such widget: 42";

/// Send one request on `subject` and collect exactly `want` answers (each within 5 s).
async fn collect(nats: &async_nats::Client, subject: String, want: usize) -> Vec<Vec<u8>> {
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply(subject.clone(), inbox, "".into()).await.unwrap();
    nats.flush().await.unwrap();
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let msg = tokio::time::timeout(Duration::from_secs(5), replies.next())
            .await
            .unwrap_or_else(|_| panic!("{want} answers on {subject} within 5 s, got {}", out.len()))
            .expect("reply subscription open");
        out.push(msg.payload.to_vec());
    }
    out
}

/// Like [`collect`], and no further answer arrives within a short while.
async fn collect_exactly(nats: &async_nats::Client, subject: String, want: usize) -> Vec<Vec<u8>> {
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply(subject.clone(), inbox, "".into()).await.unwrap();
    nats.flush().await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), replies.next()).await {
        out.push(msg.payload.to_vec());
    }
    assert_eq!(out.len(), want, "answers on {subject}");
    out
}

/// The pattern `nats` validates service and endpoint names against (jsm.go's
/// `schemas/micro/v1/*.json`): `^[a-zA-Z0-9_-]+$`.
fn schema_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn stats_show_request_and_error_counts_per_operation() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let server = env
        .serve(
            Served::Actor(b.clone()),
            handler_fn(|req: Request| async move {
                tokio::task::yield_now().await;
                if req.operation == "Widget.Get" { Err(HandlerError::new(FAILURE)) } else { Ok(req.msg) }
            }),
        )
        .await;
    let client = env.client().await;
    for i in 0..GOOD {
        let body = format!("hello {i}").into_bytes();
        assert_eq!(client.call(actor(&a), actor(&b), "Echo.Say", body.clone()).await.unwrap(), body);
    }
    for _ in 0..BAD {
        let err = client.call(actor(&a), actor(&b), "Widget.Get", vec![]).await.unwrap_err();
        assert!(matches!(&err, RpcError::Remote(e) if e == FAILURE), "{err:?}");
    }
    // One forged message (not an invocation at all): refused before dispatch.
    let nats = env.connect().await;
    let refused = raw_request(&nats, server.subject().to_owned(), b"not msgpack".to_vec()).await;
    let refusal = refused.error.unwrap_or_default();
    assert!(refusal.starts_with("invocation rejected [malformed]"), "{refusal}");

    let service = server.micro().expect("micro is on by default").clone();
    let name = micro::service_name(&lattice(), &Served::Actor(b.clone()));
    assert_eq!(service.name(), name);
    assert_eq!(service.subject(Verb::Stats), format!("$SRV.STATS.{name}.{}", service.id()));

    // STATS of this instance.
    let reply = collect(&nats, service.subject(Verb::Stats), 1).await;
    let stats: StatsResponse = json(&reply[0]);
    assert_eq!(stats.kind, STATS_RESPONSE_TYPE);
    assert_eq!((stats.name.as_str(), stats.id.as_str()), (name.as_str(), service.id()));
    assert_eq!(stats.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(stats.metadata["public_key"], b.as_str());
    assert_eq!(stats.metadata["kind"], "actor");
    assert_eq!(stats.metadata["lattice"], lattice().as_str());
    time::OffsetDateTime::parse(&stats.started, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("started {:?} is not RFC 3339: {e}", stats.started));

    let names: Vec<&str> = stats.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert!(schema_name(&stats.name) && names.iter().all(|n| schema_name(n)), "{names:?}");
    assert_eq!(names, ["Echo-Say", "Widget-Get", REJECTED_ENDPOINT]);
    for e in &stats.endpoints {
        assert_eq!(e.subject, server.subject());
        assert_eq!(e.queue_group, server.subject(), "an actor's queue group is its subject");
    }
    let (echo, widget, rejected) = (&stats.endpoints[0], &stats.endpoints[1], &stats.endpoints[2]);
    assert_eq!((echo.num_requests, echo.num_errors, echo.last_error.as_str()), (GOOD as u64, 0, ""));
    assert_eq!((widget.num_requests, widget.num_errors, widget.last_error.as_str()), (BAD as u64, BAD as u64, FAILURE));
    assert_eq!(echo.data, Some(serde_json::json!({"operation": "Echo.Say"})));
    assert_eq!(widget.data, Some(serde_json::json!({"operation": "Widget.Get"})));
    for e in [echo, widget] {
        assert!(e.average_processing_time > 0, "{e:?}");
        assert!(e.processing_time >= e.average_processing_time * e.num_requests, "{e:?}");
    }
    let handled: Vec<_> = stats.endpoints.iter().filter(|e| e.name != REJECTED_ENDPOINT).collect();
    assert_eq!(handled.iter().map(|e| e.num_requests).sum::<u64>(), (GOOD + BAD) as u64);
    assert_eq!(handled.iter().map(|e| e.num_errors).sum::<u64>(), BAD as u64);
    assert_eq!((rejected.num_requests, rejected.num_errors), (1, 1));
    assert_eq!(rejected.last_error, "invocation rejected [malformed]");
    assert_eq!(rejected.data, Some(serde_json::json!({"malformed": 1})));
    // The numbers are the server's own.
    let own = server.stats();
    assert_eq!(own.operations["Widget.Get"].errors, BAD as u64);
    assert_eq!(own.handler_errors, BAD as u64);

    // The same bytes, read as async-nats' `service` types (what Rust tooling uses).
    let theirs: NatsStats = json(&reply[0]);
    assert_eq!((theirs.kind.as_str(), theirs.id.as_str()), (STATS_RESPONSE_TYPE, service.id()));
    let widget = theirs.endpoints.iter().find(|e| e.name == "Widget-Get").expect("Widget-Get endpoint");
    assert_eq!((widget.requests, widget.errors), (BAD, BAD));
    assert_eq!(widget.last_error.as_ref().map(|e| e.status.as_str()), Some(FAILURE));
    assert!(widget.average_processing_time > Duration::ZERO);
    assert_eq!(widget.queue_group, server.subject());

    // INFO by name: one instance, so one answer.
    let reply = collect_exactly(&nats, format!("$SRV.INFO.{name}"), 1).await;
    let info: InfoResponse = json(&reply[0]);
    assert_eq!(info.kind, INFO_RESPONSE_TYPE);
    assert_eq!(info.id, service.id());
    assert_eq!(info.description, format!("Lattice actor {} in lattice {}", b.as_str(), lattice()));
    let endpoints: Vec<(&str, &str)> = info
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.metadata.get("operation").map_or("", String::as_str)))
        .collect();
    assert_eq!(endpoints, [("Echo-Say", "Echo.Say"), ("Widget-Get", "Widget.Get"), (REJECTED_ENDPOINT, "")]);
    assert!(info.endpoints.iter().all(|e| e.subject == server.subject() && e.queue_group == server.subject()));
    let theirs: NatsInfo = json(&reply[0]);
    assert_eq!((theirs.name.as_str(), theirs.endpoints.len()), (name.as_str(), 3));
    assert_eq!(theirs.metadata["public_key"], b.as_str());

    // Stats keep counting after a STATS request.
    client.call(actor(&a), actor(&b), "Echo.Say", vec![]).await.unwrap();
    let stats: StatsResponse = json(&collect(&nats, service.subject(Verb::Stats), 1).await[0]);
    assert_eq!(stats.endpoints[0].num_requests, GOOD as u64 + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn every_instance_answers_ping_with_its_own_id() {
    let env = Env::start();
    let b = actor_key();
    let p = provider_key();
    let first = env.serve(Served::Actor(b.clone()), echo(&Counter::default())).await;
    let second = env.serve(Served::Actor(b.clone()), echo(&Counter::default())).await;
    let provider = env.serve(served_provider(&p), echo(&Counter::default())).await;
    let nats = env.connect().await;

    // `$SRV.PING`: every service on the bus.
    let all: Vec<PingResponse> = collect_exactly(&nats, "$SRV.PING".into(), 3).await.iter().map(|b| json(b)).collect();
    assert!(all.iter().all(|p| p.kind == PING_RESPONSE_TYPE));
    let ids: HashSet<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "distinct instance ids: {all:?}");

    // `$SRV.PING.{name}`: both instances of the actor, same name, distinct ids.
    let actor_name = first.micro().unwrap().name().to_owned();
    assert_eq!(second.micro().unwrap().name(), actor_name);
    let pongs = collect_exactly(&nats, format!("$SRV.PING.{actor_name}"), 2).await;
    let mut ids: Vec<String> = pongs.iter().map(|b| json::<NatsPing>(b).id).collect();
    ids.sort();
    let mut expected = vec![first.micro().unwrap().id().to_owned(), second.micro().unwrap().id().to_owned()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_ne!(ids[0], ids[1]);

    // `$SRV.PING.{name}.{id}`: that instance only.
    let one = collect_exactly(&nats, second.micro().unwrap().subject(Verb::Ping), 1).await;
    assert_eq!(json::<PingResponse>(&one[0]).id, second.micro().unwrap().id());

    // The provider: its own name (key and link), with link and contract in the metadata.
    let provider_name = provider.micro().unwrap().name().to_owned();
    assert_eq!(provider_name, format!("lattice-{}-provider-{}-default", lattice(), p.as_str()));
    let pong: PingResponse = json(&collect_exactly(&nats, format!("$SRV.PING.{provider_name}"), 1).await[0]);
    assert_eq!(pong.metadata["kind"], "provider");
    assert_eq!(pong.metadata["link_name"], "default");
    assert_eq!(pong.metadata["contract_id"], CONTRACT);
    assert_eq!(pong.metadata["queue_group"], "rpc");

    // A stopped server stops answering.
    let gone = first.micro().unwrap().subject(Verb::Ping);
    first.shutdown().await;
    let err = nats.request(gone, "".into()).await.unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders, "{err:?}");
    collect_exactly(&nats, format!("$SRV.PING.{actor_name}"), 1).await;
    second.shutdown().await;
    provider.shutdown().await;
}

#[tokio::test]
async fn micro_can_be_configured_or_turned_off() {
    let env = Env::start();
    let (b, c) = (actor_key(), actor_key());
    let off = RpcServer::builder(env.connect().await, lattice(), env.issuers(), Served::Actor(b))
        .micro(MicroConfig::disabled())
        .start(echo(&Counter::default()))
        .await
        .unwrap();
    assert!(off.micro().is_none());
    let nats = env.connect().await;
    let err = nats.request("$SRV.PING", "".into()).await.unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders, "{err:?}");

    let config = MicroConfig::default()
        .name("kv cache")
        .version("2.1.0-rc.1")
        .description("the cache")
        .metadata("host_id", env.host.as_str())
        .metadata("kind", "not this one");
    let on = RpcServer::builder(env.connect().await, lattice(), env.issuers(), Served::Actor(c))
        .micro(config)
        .start(echo(&Counter::default()))
        .await
        .unwrap();
    assert_eq!(on.micro().unwrap().name(), "kv-cache");
    let info: InfoResponse = json(&collect_exactly(&nats, "$SRV.INFO.kv-cache".into(), 1).await[0]);
    assert_eq!((info.version.as_str(), info.description.as_str()), ("2.1.0-rc.1", "the cache"));
    assert_eq!(info.metadata["host_id"], env.host.as_str());
    assert_eq!(info.metadata["kind"], "actor", "built-in metadata wins");
    // Not semver: the crate's version instead.
    let (d, nats2) = (actor_key(), env.connect().await);
    let bad = RpcServer::builder(nats2, lattice(), env.issuers(), Served::Actor(d))
        .micro(MicroConfig::default().name("bad-version").version("v1"))
        .start(echo(&Counter::default()))
        .await
        .unwrap();
    assert_eq!(bad.micro().unwrap().version(), env!("CARGO_PKG_VERSION"));
    off.shutdown().await;
    on.shutdown().await;
    bad.shutdown().await;
}
