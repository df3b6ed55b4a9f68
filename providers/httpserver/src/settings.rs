//! Per-link settings, read from link values as the 0.82 httpserver provider reads them
//! (HOST.md §5; wasmCloud `crates/providers/http-server/src/settings.rs`).
//!
//! Keys are case-insensitive (two keys equal but for case are an error). Applied in this
//! order, later wins: `config_file` (a `.json` file), `config_b64` (base64 of the JSON;
//! 0.82 requires it unpadded, Lattice also takes padded), `config_json` (the JSON itself),
//! `address` (`IP:PORT`), `port` (binds `127.0.0.1:{port}`), `cache_control`,
//! `readonly_mode` (`true`, anything else is false).
//!
//! Where Lattice differs on purpose: `timeout_ms` and `max_content_len` from the JSON (and,
//! as Lattice extensions, from link values of the same name) take effect — 0.82 dropped
//! them while merging; a request body above `max_content_len` (default 10 MiB, at most
//! 1 GiB) is answered 413. Lattice extensions bounding the public listener:
//! `max_connections` (default 10 000), `max_in_flight` (default 1 024; more get 503) and
//! `header_read_timeout_ms` (default 30 000). TLS settings and TOML files are refused with a clear error
//! rather than silently served as plain HTTP; CORS and `log` settings are accepted and
//! ignored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use data_encoding::{BASE64, BASE64_NOPAD};
use lattice_proto::WitMap;
use serde::Deserialize;

/// The address a link without address settings listens on (0.82's `DEFAULT_ADDR`).
pub(crate) const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);

/// The default request body limit: 10 MiB (the bound issue 16 sets, "as 0.82's httpserver";
/// an earlier Lattice default was 100 MiB).
pub(crate) const DEFAULT_MAX_CONTENT_LEN: u64 = 10 * 1024 * 1024;

/// The default cap on open connections per listener.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The default cap on requests being handled at once per listener (more get 503).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The default time a client has to send a request's headers.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest configurable body limit (0.82's `CONTENT_LEN_LIMIT`, 1 GiB).
pub(crate) const CONTENT_LEN_LIMIT: u64 = 1024 * 1024 * 1024;

/// Why a link's values were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SettingsError {
    /// Two keys differ only in case.
    #[error("key collision: httpserver settings (from link values) have keys that are not unique ignoring case: {0}")]
    KeyCollision(String),
    /// `address` is not `IP:PORT`.
    #[error("invalid address: {0}")]
    Address(String),
    /// `port` is not a u16.
    #[error("invalid port: {0}")]
    Port(String),
    /// `config_b64` is not base64.
    #[error("invalid base64 encoding in config_b64: {0}")]
    Base64(String),
    /// The settings JSON (from `config_json`, `config_b64` or `config_file`) is invalid.
    #[error("invalid settings JSON in {source_key}: {reason}")]
    Json {
        /// Which value held it.
        source_key: &'static str,
        /// The parser's explanation.
        reason: String,
    },
    /// `config_file` could not be used.
    #[error("config_file '{path}': {reason}")]
    File {
        /// The path given.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// `max_content_len` is not a size, or out of range.
    #[error(
        "invalid max_content_len '{0}': a number of bytes, optionally followed by K, M or G, greater than 0 and at most 1G"
    )]
    MaxContentLen(String),
    /// A count or duration bound (`max_connections`, `max_in_flight`,
    /// `header_read_timeout_ms`) is not a positive integer.
    #[error("invalid {key} '{value}': a positive integer")]
    Bound {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// `timeout_ms` is not a positive integer.
    #[error("invalid timeout_ms '{0}': a positive number of milliseconds")]
    Timeout(String),
    /// `cache_control` is not a valid header value.
    #[error("invalid cache_control header value: '{0}'")]
    CacheControl(String),
    /// TLS was asked for.
    #[error(
        "TLS (tls.cert_file / tls.priv_key_file) is not supported by lattice-httpserver; terminate TLS in front of it"
    )]
    TlsUnsupported,
}

/// The settings of one actor's listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Where to listen.
    pub(crate) address: SocketAddr,
    /// The actor-call timeout (the SDK's default, HostData's `default_rpc_timeout_ms`, when unset).
    pub(crate) timeout: Option<Duration>,
    /// Request bodies above this many bytes get 413.
    pub(crate) max_content_len: u64,
    /// A `Cache-Control` header added to every response (the actor's headers win).
    pub(crate) cache_control: Option<String>,
    /// Only GET and HEAD are served; other methods get 405.
    pub(crate) readonly_mode: bool,
    /// Open connections at most; more are closed at once (link value `max_connections`).
    pub(crate) max_connections: usize,
    /// Requests handled at once at most; more get 503 (link value `max_in_flight`).
    pub(crate) max_in_flight: usize,
    /// A connection that does not send a request's headers within this time is closed
    /// (link value `header_read_timeout_ms`; slowloris).
    pub(crate) header_read_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDR,
            timeout: None,
            max_content_len: DEFAULT_MAX_CONTENT_LEN,
            cache_control: None,
            readonly_mode: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// The JSON settings document (0.82's `ServiceSettings`); unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct ServiceSettings {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    tls: Option<Tls>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    cache_control: Option<String>,
    #[serde(default)]
    readonly_mode: Option<bool>,
    #[serde(default)]
    max_content_len: Option<SizeValue>,
}

#[derive(Debug, Default, Deserialize)]
struct Tls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    priv_key_file: Option<String>,
}

/// `max_content_len` as a JSON string (`"10M"`) or number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Number(u64),
    Text(String),
}

impl Settings {
    /// Read the settings of a link from its values.
    pub(crate) fn from_values(values: &WitMap) -> Result<Self, SettingsError> {
        let mut ci: HashMap<String, &str> = HashMap::with_capacity(values.len());
        for (k, v) in values.iter() {
            if ci.insert(k.to_ascii_lowercase(), v).is_some() {
                return Err(SettingsError::KeyCollision(k.to_ascii_lowercase()));
            }
        }
        let mut s = Settings::default();
        if let Some(path) = ci.get("config_file") {
            s.merge(load_file(path)?)?;
        }
        if let Some(b64) = ci.get("config_b64") {
            let trimmed = b64.trim();
            let bytes = BASE64_NOPAD
                .decode(trimmed.as_bytes())
                .or_else(|_| BASE64.decode(trimmed.as_bytes()))
                .map_err(|e| SettingsError::Base64(e.to_string()))?;
            s.merge(parse_json(&bytes, "config_b64")?)?;
        }
        if let Some(json) = ci.get("config_json") {
            s.merge(parse_json(json.as_bytes(), "config_json")?)?;
        }
        if let Some(addr) = ci.get("address") {
            s.address = addr.trim().parse().map_err(|_| SettingsError::Address((*addr).to_owned()))?;
        }
        if let Some(port) = ci.get("port") {
            let port: u16 = port.trim().parse().map_err(|_| SettingsError::Port((*port).to_owned()))?;
            s.address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        }
        if let Some(cc) = ci.get("cache_control") {
            s.cache_control = Some(check_cache_control(cc)?);
        }
        if let Some(ro) = ci.get("readonly_mode") {
            s.readonly_mode = ro.trim().parse().unwrap_or(false);
        }
        if let Some(len) = ci.get("max_content_len") {
            s.max_content_len = parse_size(len)?;
        }
        if let Some(ms) = ci.get("timeout_ms") {
            s.timeout = Some(parse_timeout(ms)?);
        }
        if let Some(v) = ci.get("max_connections") {
            s.max_connections = parse_bound("max_connections", v)?;
        }
        if let Some(v) = ci.get("max_in_flight") {
            s.max_in_flight = parse_bound("max_in_flight", v)?;
        }
        if let Some(v) = ci.get("header_read_timeout_ms") {
            s.header_read_timeout = Duration::from_millis(parse_bound("header_read_timeout_ms", v)? as u64);
        }
        Ok(s)
    }

    /// Merge one JSON document: fields it sets win.
    fn merge(&mut self, other: ServiceSettings) -> Result<(), SettingsError> {
        if let Some(tls) = other.tls
            && (tls.cert_file.is_some() || tls.priv_key_file.is_some())
        {
            return Err(SettingsError::TlsUnsupported);
        }
        if let Some(addr) = other.address {
            self.address = addr.trim().parse().map_err(|_| SettingsError::Address(addr))?;
        }
        if let Some(ms) = other.timeout_ms {
            self.timeout = Some(parse_timeout(&ms.to_string())?);
        }
        if let Some(cc) = other.cache_control {
            self.cache_control = Some(check_cache_control(&cc)?);
        }
        if let Some(ro) = other.readonly_mode {
            self.readonly_mode = ro;
        }
        match other.max_content_len {
            Some(SizeValue::Number(n)) => self.max_content_len = parse_size(&n.to_string())?,
            Some(SizeValue::Text(t)) => self.max_content_len = parse_size(&t)?,
            None => {}
        }
        Ok(())
    }
}

fn parse_json(bytes: &[u8], source_key: &'static str) -> Result<ServiceSettings, SettingsError> {
    serde_json::from_slice(bytes).map_err(|e| SettingsError::Json { source_key, reason: e.to_string() })
}

fn load_file(path: &str) -> Result<ServiceSettings, SettingsError> {
    let err = |reason: String| SettingsError::File { path: path.to_owned(), reason };
    match std::path::Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("json") => {}
        Some("toml") => return Err(err("TOML settings files are not supported; use a .json file".into())),
        _ => return Err(err("unrecognized file type (expected .json)".into())),
    }
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    parse_json(&bytes, "config_file")
}

fn check_cache_control(value: &str) -> Result<String, SettingsError> {
    match hyper::header::HeaderValue::from_str(value) {
        Ok(_) => Ok(value.to_owned()),
        Err(_) => Err(SettingsError::CacheControl(value.to_owned())),
    }
}

/// A positive integer bound (at most `u32::MAX`, so it fits a semaphore and a duration).
fn parse_bound(key: &'static str, value: &str) -> Result<usize, SettingsError> {
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n as usize),
        _ => Err(SettingsError::Bound { key, value: value.to_owned() }),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, SettingsError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(SettingsError::Timeout(value.to_owned())),
    }
}

/// `[0-9]+ (K|M|G)?` (case-insensitive, multiples of 1024), in (0, 1 GiB].
pub(crate) fn parse_size(value: &str) -> Result<u64, SettingsError> {
    let bad = || SettingsError::MaxContentLen(value.to_owned());
    let v = value.trim();
    let (digits, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (v[..i].trim(), Some(c.to_ascii_lowercase())),
        _ => (v, None),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult = match unit {
        None => 1,
        Some('k') => 1024,
        Some('m') => 1024 * 1024,
        Some('g') => 1024 * 1024 * 1024,
        Some(_) => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(size) if size > 0 && size <= CONTENT_LEN_LIMIT => Ok(size),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn values(kv: &[(&str, &str)]) -> WitMap {
        kv.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn defaults_and_precedence() {
        assert_eq!(Settings::from_values(&values(&[])).unwrap(), Settings::default());
        assert_eq!(Settings::default().address.to_string(), "127.0.0.1:8000");
        // config_json < address < port.
        let s = Settings::from_values(&values(&[
            ("config_json", r#"{"address":"0.0.0.0:1000"}"#),
            ("ADDRESS", "127.0.0.1:2000"),
        ]))
        .unwrap();
        assert_eq!(s.address.to_string(), "127.0.0.1:2000");
        let s = Settings::from_values(&values(&[("address", "0.0.0.0:2000"), ("Port", "3000")])).unwrap();
        assert_eq!(s.address.to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn config_b64_padded_or_not() {
        let json = br#"{"address":"127.0.0.1:9001","readonly_mode":true,"max_content_len":"2k","timeout_ms":150}"#;
        for enc in [BASE64_NOPAD.encode(json), BASE64.encode(json)] {
            let s = Settings::from_values(&values(&[("config_b64", &enc)])).unwrap();
            assert_eq!(s.address.to_string(), "127.0.0.1:9001");
            assert!(s.readonly_mode);
            assert_eq!(s.max_content_len, 2048);
            assert_eq!(s.timeout, Some(Duration::from_millis(150)));
        }
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let e = Settings::from_values(&values(&[("address", "localhost:x")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid address: localhost:x");
        let e = Settings::from_values(&values(&[("port", "70000")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid port: 70000");
        let e = Settings::from_values(&values(&[("port", "1"), ("PORT", "2")])).unwrap_err();
        assert!(matches!(e, SettingsError::KeyCollision(_)), "{e}");
        let e = Settings::from_values(&values(&[("config_json", "{nope")])).unwrap_err();
        assert!(e.to_string().starts_with("invalid settings JSON in config_json"), "{e}");
        let e = Settings::from_values(&values(&[("config_json", r#"{"tls":{"cert_file":"/x"}}"#)])).unwrap_err();
        assert_eq!(e, SettingsError::TlsUnsupported);
        assert!(Settings::from_values(&values(&[("max_content_len", "0")])).is_err());
        assert!(Settings::from_values(&values(&[("max_content_len", "2g")])).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4").unwrap(), 4);
        assert_eq!(parse_size(" 5 k ").unwrap(), 5 * 1024);
        assert_eq!(parse_size("10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("1g").unwrap(), CONTENT_LEN_LIMIT);
        assert!(parse_size("k").is_err());
        assert!(parse_size("1mb").is_err());
    }
}
