//! The public listener's bounds, attacked over real sockets against the real binary
//! (docs/SECURITY.md list (a)): a slowloris header drip is cut off, requests beyond the
//! in-flight cap get 503, connections beyond the cap are closed, a body beyond the default
//! 10 MiB gets 413 — and normal requests keep working throughout.

use std::time::{Duration, Instant};

use lattice_provider::testing::TestLattice;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http;
use crate::support::{Env, WAIT, listening_address, wait_actor_busy};

/// Read until the server closes the connection (or `limit` passes); returns what was read
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slowloris_header_drip_is_closed_and_normal_requests_work() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0"), ("header_read_timeout_ms", "500")])]).await;
    let addr = listening_address(&p, &actor).await;

    let started = Instant::now();
    let mut drip = TcpStream::connect(addr).await.unwrap();
    drip.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // Keep dripping one header line every 100 ms; the server must close within its 500 ms
    // header timeout, long before the drip would end (100 lines = 10 s).
    let mut closed = false;
    for i in 0..100 {
        if drip.write_all(format!("X-Drip-{i}: y\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let (_, eof) = read_until_closed(&mut drip, Duration::from_millis(100)).await;
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "the dripping connection was never closed");
    assert!(started.elapsed() < Duration::from_secs(5), "closed only after {:?}", started.elapsed());
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_over_the_in_flight_cap_get_503_and_big_bodies_413() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0"), ("max_in_flight", "1")])]).await;
    let addr = listening_address(&p, &actor).await;

    let slow = tokio::spawn(async move { http::request(addr, "GET", "/slow", &[], b"").await });
    wait_actor_busy(&env).await;
    let over = http::request(addr, "GET", "/", &[], b"").await;
    assert_eq!(over.status, 503, "{:?}", String::from_utf8_lossy(&over.body));
    assert_eq!(tokio::time::timeout(WAIT, slow).await.unwrap().unwrap().status, 200);
    assert_eq!(http::request(addr, "GET", "/", &[], b"").await.status, 200);

    // The default body limit is 10 MiB: a declared 11 MiB body is refused before reading it.
    let mut big = TcpStream::connect(addr).await.unwrap();
    big.write_all(format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 11 << 20).as_bytes())
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut big, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 413"), "{:?}", String::from_utf8_lossy(&reply));
    let ok = http::request(addr, "POST", "/", &[], &vec![7u8; 1 << 20]).await;
    assert_eq!(ok.status, 201, "a 1 MiB body is fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_are_closed() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _actor = env.serve_actor(&actor).await;
    let p = env.start(vec![env.link(&actor, &[("address", "127.0.0.1:0"), ("max_connections", "2")])]).await;
    let addr = listening_address(&p, &actor).await;

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // A complete request proves the connection was accepted and is being served.
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (reply, closed) = read_until_closed(&mut third, WAIT).await;
    assert!(closed && reply.is_empty(), "the third connection was served: {:?}", String::from_utf8_lossy(&reply));
    p.wait_for_line(&["too many open connections"], WAIT).await;

    // Free one: new connections are served again.
    held.pop();
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        let (reply, _) = read_until_closed(&mut s, Duration::from_secs(2)).await;
        if reply.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no connection was served after one was freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
