//! Reading what nats-server reports about itself: the ports file and the HTTP monitoring
//! endpoints (`/varz`, `/routez`, `/jsz`).
//!
//! Both are small JSON documents of a fixed shape, and this crate only needs a handful of
//! scalar fields from them, so they are scraped by hand instead of pulling in serde for a
//! dev-only helper. The HTTP client is a single HTTP/1.0 `GET` over a std `TcpStream`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Connect and read timeout for one monitoring request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// The listening ports a server wrote to its ports file
/// (`{"nats":["nats://127.0.0.1:4222"],"monitoring":[...],"cluster":[...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    /// Client port.
    pub(crate) client: u16,
    /// HTTP monitoring port, when monitoring is on.
    pub(crate) monitoring: Option<u16>,
    /// Cluster (route) port, when the server has a `cluster` block.
    pub(crate) cluster: Option<u16>,
}

impl Ports {
    /// Parses a ports file; `None` while it is incomplete (the server may still be writing it).
    pub(crate) fn parse(text: &str) -> Option<Ports> {
        if !text.trim_end().ends_with('}') {
            return None;
        }
        Some(Ports {
            client: url_port(first_in_array(text, "nats")?)?,
            monitoring: first_in_array(text, "monitoring").and_then(url_port),
            cluster: first_in_array(text, "cluster").and_then(url_port),
        })
    }
}

/// The port of a `scheme://host:port` URL.
fn url_port(url: &str) -> Option<u16> {
    url.rsplit_once(':')?.1.trim_end_matches('/').parse().ok()
}

/// The first string of the array stored under `key`: `"key":["first", ...]`.
fn first_in_array<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let rest = after_key(json, key)?.strip_prefix('[')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// The text following `"key":` (and any whitespace) at the first occurrence of `key`.
fn after_key<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let mut search = json;
    loop {
        let at = search.find(&quoted)?;
        let rest = search[at + quoted.len()..].trim_start();
        // A match that is not followed by a colon was a string value, not a key.
        if let Some(value) = rest.strip_prefix(':') {
            return Some(value.trim_start());
        }
        search = &search[at + quoted.len()..];
    }
}

/// The scalar value of the first `key` in `json`: a string without its quotes, or the raw
/// text of a number / boolean / null. Values containing escaped quotes are not supported
/// (nats-server's names, timestamps and counters never have them).
pub(crate) fn json_scalar<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let value = after_key(json, key)?;
    if let Some(string) = value.strip_prefix('"') {
        return Some(&string[..string.find('"')?]);
    }
    let end = value.find(|c: char| c == ',' || c == '}' || c == ']' || c.is_whitespace()).unwrap_or(value.len());
    Some(&value[..end])
}

/// `GET http://127.0.0.1:{port}{path}` and return the body; any failure (including a non-200
/// status) is an error, so pollers simply retry.
pub(crate) fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    // HTTP/1.0: the server closes the connection after the response.
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("truncated HTTP response from {path}")))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::other(format!("GET {path}: {status}")));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_ports_file() {
        let text = r#"{"nats":["nats://127.0.0.1:40975"],"monitoring":["http://127.0.0.1:34687"],"cluster":["nats://127.0.0.1:36927"]}"#;
        let ports = Ports::parse(text).expect("complete");
        assert_eq!(ports, Ports { client: 40975, monitoring: Some(34687), cluster: Some(36927) });
    }

    #[test]
    fn parses_a_client_only_ports_file_and_rejects_partial_ones() {
        let text = r#"{"nats":["nats://127.0.0.1:4222"]}"#;
        let ports = Ports::parse(text).expect("complete");
        assert_eq!((ports.client, ports.monitoring, ports.cluster), (4222, None, None));
        assert_eq!(Ports::parse(""), None);
        assert_eq!(Ports::parse(r#"{"nats":["nats://127.0.0.1:42"#), None);
    }

    #[test]
    fn scrapes_scalars() {
        let json = r#"{ "server_name": "n1", "num_routes": 2, "meta_cluster": {"leader": "n2",
            "cluster_size": 3}, "ok": true, "name": "leader" }"#;
        assert_eq!(json_scalar(json, "server_name"), Some("n1"));
        assert_eq!(json_scalar(json, "num_routes"), Some("2"));
        assert_eq!(json_scalar(json, "leader"), Some("n2"));
        assert_eq!(json_scalar(json, "cluster_size"), Some("3"));
        assert_eq!(json_scalar(json, "ok"), Some("true"));
        assert_eq!(json_scalar(json, "missing"), None);
    }
}
