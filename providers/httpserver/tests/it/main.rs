//! End-to-end tests of `lattice-httpserver`: the real binary, launched as a host launches
//! it (HostData on stdin), against a real nats-server; the linked "actor" is an in-process
//! `RpcServer` serving an actor key; requests arrive over real HTTP/1.1.

#![allow(clippy::unwrap_used, reason = "tests")]

mod bounds;
mod http;
mod support;

use lattice_provider::testing::TestLattice;

use crate::support::{Env, WAIT, listening_address};

#[tokio::test(flavor = "multi_thread")]
async fn requests_reach_the_actor_and_responses_come_back() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(vec![env.link(&actor, &[("ADDRESS", "127.0.0.1:0")])]).await;
    let addr = listening_address(&p, &actor).await;

    let r = http::request(
        addr,
        "get",
        "/hello/world?x=1&y=two",
        &[("X-Multi", "a"), ("x-multi", "b"), ("Accept", "text/plain")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let seen: support::SeenRequest = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/hello/world");
    assert_eq!(seen.query_string, "x=1&y=two");
    assert_eq!(seen.header.get("x-multi").unwrap(), &["a", "b"], "header names are lower-case, values kept");
    assert_eq!(seen.header.get("accept").unwrap(), &["text/plain"]);
    assert!(seen.body.is_empty());
    assert_eq!(r.header("x-echo"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("application/json"));

    let body = vec![7u8; 3000];
    let r = http::request(addr, "POST", "/created", &[], &body).await;
    assert_eq!(r.status, 201);
    let seen: support::SeenRequest = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.query_string, "");
    assert_eq!(seen.body, body, "the body arrives as msgpack bin, intact");
}

#[tokio::test(flavor = "multi_thread")]
async fn actor_timeout_is_503_actor_errors_are_500() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let values = [("address", "127.0.0.1:0"), ("config_json", r#"{"timeout_ms": 300}"#)];
    let p = env.start(vec![env.link(&actor, &values)]).await;
    let addr = listening_address(&p, &actor).await;

    let r = http::request(addr, "GET", "/slow", &[], b"").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"the actor did not answer in time");
    let r = http::request(addr, "GET", "/fail", &[], b"").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, b"the actor failed to handle the request");
    let r = http::request(addr, "GET", "/bad-status", &[], b"").await;
    assert_eq!(r.status, 500);
    let r = http::request(addr, "GET", "/garbage", &[], b"").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, b"the actor sent an invalid response");
    // The server is still fine afterwards.
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_actor_that_is_not_running_is_503() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0")])]).await;
    let addr = listening_address(&p, &actor).await;
    let r = http::request(addr, "GET", "/", &[], b"").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"the actor is not available");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_bodies_get_413_and_readonly_mode_405() {
    let env = Env::new().await;
    let (a, b) = (TestLattice::new_actor_key(), TestLattice::new_actor_key());
    let _actors = (env.serve_actor(&a).await, env.serve_actor(&b).await);
    let p = env
        .start(vec![
            env.link(&a, &[("address", "127.0.0.1:0"), ("max_content_len", "1K")]),
            env.link(&b, &[("address", "127.0.0.1:0"), ("readonly_mode", "true")]),
        ])
        .await;
    let (addr_a, addr_b) = (listening_address(&p, &a).await, listening_address(&p, &b).await);

    assert_eq!(http::request(addr_a, "POST", "/", &[], &[1u8; 1024]).await.status, 201);
    let r = http::request(addr_a, "POST", "/", &[], &[1u8; 4096]).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body, b"payload too large");
    // Chunked (no Content-Length): refused once the limit is crossed.
    let r = http::request_chunked(addr_a, "/", &[&[1u8; 800][..], &[2u8; 800][..]]).await;
    assert_eq!(r.status, 413);

    assert_eq!(http::request(addr_b, "GET", "/", &[], b"").await.status, 200);
    assert_eq!(http::request(addr_b, "POST", "/", &[], b"x").await.status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn link_put_opens_and_link_delete_closes_the_listener() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(Vec::new()).await;

    let link = env.link(&actor, &[("address", "127.0.0.1:0")]);
    env.lattice.put_link(&env.nats, &link).await;
    let addr = listening_address(&p, &actor).await;
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200);

    env.lattice.del_link(&env.nats, &link).await;
    p.wait_for_line(&["http listener stopped", &addr.to_string()], WAIT).await;
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the listener must be closed after the link is deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_link_values_refuse_the_link_with_a_clear_log() {
    let env = Env::new().await;
    let (a, b, c) = (TestLattice::new_actor_key(), TestLattice::new_actor_key(), TestLattice::new_actor_key());
    let p = env
        .start(vec![
            env.link(&a, &[("address", "not-an-address")]),
            env.link(&b, &[("port", "99999")]),
            env.link(&c, &[("config_b64", "%%%")]),
        ])
        .await;
    p.wait_for_line(&["link refused", "invalid address: not-an-address", a.as_str()], WAIT).await;
    p.wait_for_line(&["link refused", "invalid port: 99999", b.as_str()], WAIT).await;
    p.wait_for_line(&["link refused", "invalid base64 encoding in config_b64", c.as_str()], WAIT).await;
    assert!(env.lattice.health(&env.nats, &env.provider, support::LINK, WAIT).await.unwrap().healthy);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_already_in_use_refuses_the_second_link() {
    let env = Env::new().await;
    let (a, b) = (TestLattice::new_actor_key(), TestLattice::new_actor_key());
    let _actor = env.serve_actor(&a).await;
    let p = env.start(vec![env.link(&a, &[("address", "127.0.0.1:0")])]).await;
    let addr = listening_address(&p, &a).await;
    env.lattice.put_link(&env.nats, &env.link(&b, &[("address", &addr.to_string())])).await;
    p.wait_for_line(&["link refused", &format!("cannot listen on {addr}"), b.as_str()], WAIT).await;
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200, "the first listener keeps serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let mut p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0")])]).await;
    let addr = listening_address(&p, &actor).await;

    // `/slow` takes the actor 700 ms (within the 2 s call timeout and the 2 s grace).
    let in_flight = tokio::spawn(async move { http::request(addr, "GET", "/slow", &[], b"").await });
    support::wait_actor_busy(&env).await;
    p.sigterm();
    let r = tokio::time::timeout(WAIT, in_flight).await.unwrap().unwrap();
    assert_eq!(r.status, 200, "the in-flight request completes during shutdown");
    let status = p.wait_exit(WAIT).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", p.stderr());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_travel_through_the_object_store() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0")])]).await;
    let addr = listening_address(&p, &actor).await;
    // Above the 921600-byte chunking threshold, both ways.
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = http::request(addr, "PUT", "/big", &[], &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body[..r.body.len().min(200)]));
    let seen: support::SeenRequest = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen.body, body);
}

/// Attack (docs/SECURITY.md list (a)): a `.linkdefs.put` that no host stored — naming an
/// actor and a listen address — must not open a listener or reach the actor; the provider
/// says why. The same link stored by a host (bucket write, then put) works.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_link_put_opens_no_listener_and_a_stored_one_does() {
    let env = Env::new().await;
    let (victim, bad_key) = (TestLattice::new_actor_key(), TestLattice::new_actor_key());
    let _actor = env.serve_actor(&victim).await;
    let p = env.start(Vec::new()).await;

    // Pick a free port, then forge a put that asks the provider to listen there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let forged = env.link(&victim, &[("address", &format!("127.0.0.1:{port}"))]);
    env.lattice.publish_link_put(&env.nats, &forged).await;
    p.wait_for_line(&["refusing a link put that no host stored", victim.as_str()], WAIT).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "a forged link must not open a listener"
    );
    // An actor id that is not an `M…` key is refused before any lookup.
    let mut bad = env.link(&bad_key, &[("address", "127.0.0.1:0")]);
    bad.actor_id = "MNOTAKEY".into();
    env.lattice.publish_link_put(&env.nats, &bad).await;
    p.wait_for_line(&["refusing a link put with an invalid actor_id"], WAIT).await;
    // A forged delete of a real link does not close its listener.
    let real = env.link(&victim, &[("address", "127.0.0.1:0")]);
    env.lattice.put_link(&env.nats, &real).await;
    let addr = listening_address(&p, &victim).await;
    env.lattice.publish_link_del(&env.nats, &real).await;
    p.wait_for_line(&["refusing a link delete for a link the lattice data bucket still holds", victim.as_str()], WAIT)
        .await;
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200, "the stored link keeps serving");
    assert!(env.lattice.health(&env.nats, &env.provider, support::LINK, WAIT).await.unwrap().healthy);
}
