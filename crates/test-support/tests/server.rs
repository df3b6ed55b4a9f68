//! Checks [`NatsServer`] against the real nats-server: readiness, plain protocol round-trips,
//! JetStream, kill/restart on the same port and store, config and log options.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use lattice_test_support::{NatsServer, RawClient};

const WAIT: Duration = Duration::from_secs(5);

/// Reads one `\r\n`-terminated protocol line.
fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a protocol line");
    line
}

#[test]
fn pub_sub_round_trip_over_a_raw_tcp_stream() {
    let server = NatsServer::start();
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert_eq!(server.client_url(), server.url());

    let stream = TcpStream::connect(server.addr()).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    assert!(read_line(&mut reader).starts_with("INFO {"));

    // Subscribe, and PING/PONG so the subscription is registered before publishing.
    writer.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo 1\r\nPING\r\n").expect("write");
    assert_eq!(read_line(&mut reader), "PONG\r\n");

    writer.write_all(b"PUB foo 5\r\nhello\r\n").expect("write");
    assert_eq!(read_line(&mut reader), "MSG foo 1 5\r\n");
    let mut payload = [0u8; 7];
    reader.read_exact(&mut payload).expect("read payload");
    assert_eq!(&payload, b"hello\r\n");
}

#[test]
fn jetstream_is_on_by_default_and_can_be_turned_off() {
    let server = NatsServer::start();
    let client = RawClient::connect(server.port()).expect("connect");
    assert!(client.info().contains("\"jetstream\":true"), "INFO: {}", client.info());
    assert!(server.store_dir().is_dir());

    let plain = NatsServer::builder().jetstream(false).start();
    let client = RawClient::connect(plain.port()).expect("connect");
    assert!(!client.info().contains("\"jetstream\":true"), "INFO: {}", client.info());
}

#[test]
fn drop_kills_the_process_and_removes_the_temp_dir() {
    let server = NatsServer::start();
    let (addr, pid) = (server.addr(), server.pid().expect("running"));
    let store = server.store_dir().to_path_buf();
    drop(server);

    let refused = TcpStream::connect(addr).expect_err("the port must be closed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still exists");
    assert!(!store.exists(), "{} was not removed", store.display());
}

#[test]
fn restart_keeps_the_port_and_the_jetstream_store() {
    let mut server = NatsServer::start();
    let port = server.port();
    let mut client = RawClient::connect(port).expect("connect");
    let created = client
        .request("$JS.API.STREAM.CREATE.EVENTS", r#"{"name":"EVENTS","subjects":["events.>"],"storage":"file"}"#, WAIT)
        .expect("stream create reply");
    let created = String::from_utf8_lossy(&created.payload).into_owned();
    assert!(!created.contains("\"error\""), "create failed: {created}");

    server.kill();
    assert_eq!(server.pid(), None);
    let refused = TcpStream::connect(server.addr()).expect_err("killed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert!(client.flush().is_err(), "the old connection must be dead");

    server.restart();
    assert_eq!(server.port(), port);
    let mut client = RawClient::connect(port).expect("reconnect");
    let info = client.request("$JS.API.STREAM.INFO.EVENTS", "", WAIT).expect("stream info reply");
    let info = String::from_utf8_lossy(&info.payload).into_owned();
    assert!(info.contains("\"name\":\"EVENTS\""), "stream lost: {info}");
    assert!(!info.contains("\"error\""), "stream lost: {info}");

    let sid = client.subscribe("after.restart").expect("sub");
    client.flush().expect("flush");
    client.publish("after.restart", "hi").expect("pub");
    let msg = client.next_msg(WAIT).expect("read").expect("message");
    assert_eq!((msg.sid, msg.payload.as_slice()), (sid, &b"hi"[..]));
}

#[test]
fn config_text_and_log_file_are_applied() {
    let server = NatsServer::builder()
        .config("authorization { user: lattice, password: s3cret }")
        .log_file(true)
        .monitoring(true)
        .start();

    let denied = RawClient::connect(server.port()).expect_err("credentials are required");
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    let mut client = RawClient::connect_with(
        server.port(),
        r#"{"verbose":false,"pedantic":false,"user":"lattice","pass":"s3cret"}"#,
    )
    .expect("connect with credentials");
    client.flush().expect("flush");

    let log_path = server.log_path().expect("log file on");
    let log = std::fs::read_to_string(&log_path).expect("read log");
    assert!(log.contains("Server is ready"), "log: {log}");
    assert!(server.monitor_port().is_some());
}
