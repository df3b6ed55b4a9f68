//! The `wasmcloud:httpserver` payloads: `HttpRequest` (provider → actor) and
//! `HttpResponse` (actor → provider), as the 0.82 provider encodes them (HOST.md §5).
//!
//! msgpack **maps** keyed by camelCase field names (`rmp_serde::to_vec_named`), bodies as
//! msgpack **bin**: `{method, path, queryString, header: {name: [values]}, body}` and
//! `{statusCode, header, body}`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The operation the provider invokes on the linked actor.
pub const HANDLE_REQUEST: &str = "HttpServer.HandleRequest";

/// An HTTP request as the actor sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequest {
    /// The method, upper-case (`GET`).
    pub method: String,
    /// The full path (`/a/b`).
    pub path: String,
    /// The raw query, without `?` ("" when none).
    pub query_string: String,
    /// Header names (lower-case) to their values (ASCII values only, as 0.82).
    pub header: HashMap<String, Vec<String>>,
    /// The body.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// The actor's answer. `header` and `body` may be absent (Lattice is lenient); a missing
/// `statusCode` reads as 0 and becomes a 500, as in 0.82.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// The HTTP status.
    #[serde(default)]
    pub status_code: u16,
    /// Response headers.
    #[serde(default)]
    pub header: HashMap<String, Vec<String>>,
    /// The body.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Encode as the 0.82 provider does (a 5-entry map).
    pub fn encode(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail and every field is serialisable.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }
}

impl HttpResponse {
    /// Decode the actor's answer.
    pub fn decode(bytes: &[u8]) -> Result<Self, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn request_is_a_camel_case_map_with_a_bin_body() {
        let req = HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            query_string: String::new(),
            header: HashMap::new(),
            body: b"x".to_vec(),
        };
        let bytes = req.encode();
        assert_eq!(bytes[0], 0x85, "a 5-entry map");
        let expect_tail: &[u8] = &[0xa4, b'b', b'o', b'd', b'y', 0xc4, 0x01, b'x'];
        assert!(bytes.ends_with(expect_tail), "{bytes:02x?}");
        assert!(bytes.windows(11).any(|w| w == b"queryString"));
    }

    #[test]
    fn response_decodes_leniently() {
        #[derive(Serialize)]
        struct Only {
            #[serde(rename = "statusCode")]
            status_code: u16,
        }
        let r = HttpResponse::decode(&rmp_serde::to_vec_named(&Only { status_code: 201 }).unwrap()).unwrap();
        assert_eq!(r.status_code, 201);
        assert!(r.body.is_empty());
    }
}
