//! The registry starter against the real `docker-registry`: it listens on the port it logs,
//! answers the distribution API, and (with users) refuses requests without credentials.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::io::{Read, Write};
use std::net::TcpStream;

use lattice_test_support::{Registry, closed_port};

fn status_of(port: u16, auth: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = auth.map(|a| format!("Authorization: Basic {a}\r\n")).unwrap_or_default();
    write!(stream, "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_anonymous_registry_answers_the_v2_api() {
    let mut registry = Registry::start();
    assert_eq!(status_of(registry.port(), None), 200, "{}", registry.log());
    assert!(registry.blob_path("sha256:abcdef").ends_with("blobs/sha256/ab/abcdef/data"));
    let port = registry.port();
    registry.stop();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "a stopped registry refuses connections");
    assert!(TcpStream::connect(("127.0.0.1", closed_port())).is_err());
}

#[cfg(feature = "htpasswd")]
#[test]
fn a_registry_with_users_wants_their_bcrypt_checked_password() {
    let registry = Registry::builder().user("alice", "s3cret").start();
    assert!(registry.authenticated());
    assert_eq!(status_of(registry.port(), None), 401);
    // base64("alice:s3cret"), base64("alice:wrong")
    assert_eq!(status_of(registry.port(), Some("YWxpY2U6czNjcmV0")), 200, "{}", registry.log());
    assert_eq!(status_of(registry.port(), Some("YWxpY2U6d3Jvbmc=")), 401);
}
