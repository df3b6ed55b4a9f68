//! `Invocation` and `InvocationResponse`: the request and the reply of every call.
//!
//! Encoding is exactly `rmp_serde::to_vec_named` of the wasmcloud-core 0.2.0 structs:
//! a 9-entry map for invocations, 4 or 5 entries for responses (PROTOCOL.md §2.2–2.3).
//! Decoding is lenient where honest 0.82-era senders differ: wasmbus-rpc 0.15's 8-entry
//! shapes (no `traceContext`), a missing `content_length` (read as `msg.len()`),
//! struct-as-array, any key order (PROTOCOL.md §11.3).

use serde::{Deserialize, Serialize};

use crate::claims::{self, ClaimsError, InvocationClaims};
use crate::entity::WasmCloudEntity;
use crate::error::DecodeError;
use crate::hash::CallDigest;
use crate::keys::{ClusterSeed, HostKey};
use crate::witmap::WitMap;

/// A call from `origin` to `target`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "InvocationIn")]
pub struct Invocation {
    /// The caller.
    pub origin: WasmCloudEntity,
    /// The callee.
    pub target: WasmCloudEntity,
    /// The operation, e.g. `HttpServer.HandleRequest`.
    pub operation: String,
    /// The payload; empty when the body travels through the object store.
    #[serde(with = "serde_bytes")]
    pub msg: Vec<u8>,
    /// The invocation id (a UUID string; opaque). Equal to the claims' `sub`.
    pub id: String,
    /// The invocation claims: a JWT signed by a cluster key.
    pub encoded_claims: String,
    /// The sending host's public key (`N…`).
    pub host_id: String,
    /// The length of the full body, also when `msg` is empty because of chunking.
    pub content_length: u64,
    /// W3C trace context (`traceparent`, `tracestate`), empty when no trace is active.
    #[serde(rename = "traceContext")]
    pub trace_context: WitMap,
}

/// The lenient decoding shape of [`Invocation`].
#[derive(Deserialize)]
struct InvocationIn {
    origin: WasmCloudEntity,
    target: WasmCloudEntity,
    #[serde(default)]
    operation: String,
    #[serde(default, with = "serde_bytes")]
    msg: Vec<u8>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    encoded_claims: String,
    #[serde(default)]
    host_id: String,
    #[serde(default)]
    content_length: Option<u64>,
    #[serde(default, rename = "traceContext")]
    trace_context: WitMap,
}

impl From<InvocationIn> for Invocation {
    fn from(i: InvocationIn) -> Self {
        let content_length = i.content_length.unwrap_or(i.msg.len() as u64);
        Self {
            origin: i.origin,
            target: i.target,
            operation: i.operation,
            msg: i.msg,
            id: i.id,
            encoded_claims: i.encoded_claims,
            host_id: i.host_id,
            content_length,
            trace_context: i.trace_context,
        }
    }
}

/// The parts of a call that are signed: who, to whom, what, with which body.
#[derive(Clone, Debug)]
pub struct CallSpec<'a> {
    /// The caller.
    pub origin: WasmCloudEntity,
    /// The callee.
    pub target: WasmCloudEntity,
    /// The operation as it goes on the wire.
    pub operation: String,
    /// The full body.
    pub msg: Vec<u8>,
    /// The sending host.
    pub host_id: &'a HostKey,
}

/// Per-call values a signer supplies: this crate has no clock and no randomness.
#[derive(Clone, Debug)]
pub struct SignContext<'a> {
    /// The invocation id (also the claims' `sub`); fresh per call.
    pub id: String,
    /// The claims' `jti`; fresh per call (0.82 uses a 22-char NUID).
    pub jti: &'a str,
    /// Seconds since the Unix epoch: the claims' `iat`.
    pub now: u64,
    /// Optional expiry (`exp`, seconds since the epoch); 0.82 senders set none.
    pub expires: Option<u64>,
}

impl Invocation {
    /// Build and sign an invocation, as a 0.82 host or provider-sdk does.
    pub fn new_signed(call: CallSpec<'_>, seed: &ClusterSeed, ctx: SignContext<'_>) -> Self {
        let digest = CallDigest::compute(&call.origin, &call.target, &call.operation, &call.msg);
        let encoded_claims = claims::encode(seed, &ctx, digest);
        Self {
            origin: call.origin,
            target: call.target,
            operation: call.operation,
            content_length: call.msg.len() as u64,
            msg: call.msg,
            id: ctx.id,
            encoded_claims,
            host_id: call.host_id.as_str().to_owned(),
            trace_context: WitMap::new(),
        }
    }

    /// Re-sign this invocation in place (new claims over its current content and id).
    pub fn sign(&mut self, seed: &ClusterSeed, jti: &str, now: u64) {
        let digest = CallDigest::compute(&self.origin, &self.target, &self.operation, &self.msg);
        let ctx = SignContext { id: self.id.clone(), jti, now, expires: None };
        self.encoded_claims = claims::encode(seed, &ctx, digest);
    }

    /// Decode from msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Msgpack { what: "Invocation", reason: e.to_string() })
    }

    /// Encode to msgpack (the 9-entry map form).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.msg.len() + self.encoded_claims.len() + 512);
        self.encode_into(&mut buf);
        buf
    }

    /// Encode to msgpack, appending to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        // Writing into a Vec cannot fail and every field is serialisable.
        let _ = self.serialize(&mut rmp_serde::Serializer::new(buf).with_struct_map());
    }

    /// The origin URL, target URL and hash of this invocation's current content.
    pub fn digest(&self) -> CallDigest {
        CallDigest::compute(&self.origin, &self.target, &self.operation, &self.msg)
    }

    /// Read the claims without verifying anything (for display and diagnostics).
    pub fn claims_unverified(&self) -> Result<InvocationClaims, ClaimsError> {
        claims::decode_unverified(&self.encoded_claims)
    }
}

/// The reply to an [`Invocation`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ResponseIn")]
pub struct InvocationResponse {
    /// The result; empty on error or when the body travels through the object store.
    #[serde(with = "serde_bytes")]
    pub msg: Vec<u8>,
    /// The id of the invocation this answers (`UNKNOWN` when the request was undecodable).
    pub invocation_id: String,
    /// Set when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The length of the full result.
    pub content_length: u64,
    /// W3C trace context.
    #[serde(rename = "traceContext")]
    pub trace_context: WitMap,
}

#[derive(Deserialize)]
struct ResponseIn {
    #[serde(default, with = "serde_bytes")]
    msg: Vec<u8>,
    #[serde(default)]
    invocation_id: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    content_length: Option<u64>,
    #[serde(default, rename = "traceContext")]
    trace_context: WitMap,
}

impl From<ResponseIn> for InvocationResponse {
    fn from(r: ResponseIn) -> Self {
        let content_length = r.content_length.unwrap_or(r.msg.len() as u64);
        Self {
            msg: r.msg,
            invocation_id: r.invocation_id,
            error: r.error,
            content_length,
            trace_context: r.trace_context,
        }
    }
}

impl InvocationResponse {
    /// The id 0.82 hosts answer with when they could not decode the request.
    pub const UNKNOWN_ID: &'static str = "UNKNOWN";

    /// A successful reply carrying `msg`.
    pub fn success(invocation_id: impl Into<String>, msg: Vec<u8>) -> Self {
        Self {
            content_length: msg.len() as u64,
            msg,
            invocation_id: invocation_id.into(),
            error: None,
            trace_context: WitMap::new(),
        }
    }

    /// A failure reply: empty `msg`, `content_length` 0, the reason in `error`.
    pub fn failure(invocation_id: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            msg: Vec::new(),
            invocation_id: invocation_id.into(),
            error: Some(error.into()),
            content_length: 0,
            trace_context: WitMap::new(),
        }
    }

    /// Decode from msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        rmp_serde::from_slice(bytes)
            .map_err(|e| DecodeError::Msgpack { what: "InvocationResponse", reason: e.to_string() })
    }

    /// Encode to msgpack (4 entries, or 5 with `error`).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.msg.len() + 128);
        // Writing into a Vec cannot fail and every field is serialisable.
        let _ = self.serialize(&mut rmp_serde::Serializer::new(&mut buf).with_struct_map());
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmbus_rpc_shape_without_trace_context_and_length_decodes() {
        // An 8-entry map without traceContext, and without content_length either.
        #[derive(Serialize)]
        struct Old<'a> {
            origin: WasmCloudEntity,
            target: WasmCloudEntity,
            operation: &'a str,
            #[serde(with = "serde_bytes")]
            msg: &'a [u8],
            id: &'a str,
            encoded_claims: &'a str,
            host_id: &'a str,
        }
        let old = Old {
            origin: WasmCloudEntity::default(),
            target: WasmCloudEntity::default(),
            operation: "Op.X",
            msg: b"hello",
            id: "i",
            encoded_claims: "",
            host_id: "",
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let inv = Invocation::decode(&bytes).unwrap();
        assert_eq!(inv.content_length, 5);
        assert!(inv.trace_context.is_empty());
        // Re-encoding gives the full 9-entry form.
        assert_eq!(inv.encode()[0], 0x89);
    }

    #[test]
    fn struct_as_array_decodes() {
        let inv = Invocation { operation: "A.B".into(), msg: vec![1, 2], content_length: 2, ..Default::default() };
        let arr = rmp_serde::to_vec(&inv).unwrap();
        assert_eq!(Invocation::decode(&arr).unwrap(), inv);
    }

    #[test]
    fn response_shapes() {
        let ok = InvocationResponse::success("id", b"x".to_vec());
        assert_eq!(ok.encode()[0], 0x84);
        let err = InvocationResponse::failure("id", "boom");
        assert_eq!(err.encode()[0], 0x85);
        assert_eq!(InvocationResponse::decode(&err.encode()).unwrap(), err);
    }

    #[test]
    fn missing_target_is_an_error_not_a_panic() {
        let e = Invocation::decode(&[0x80]).unwrap_err();
        assert!(matches!(e, DecodeError::Msgpack { what: "Invocation", .. }), "{e}");
    }
}
