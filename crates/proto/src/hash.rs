//! The invocation hash: what the claims bind the call's content to.
//!
//! `SHA-256(origin_url ‖ target_url ‖ operation ‖ msg)`, plain concatenation, rendered
//! as 64 upper-case hex characters (PROTOCOL.md §4.2). `msg` is always the full body,
//! also when the body travels through the object store.

use sha2::{Digest, Sha256};

use crate::entity::WasmCloudEntity;

/// Hash the four parts, streaming them into SHA-256 (no concatenated copy of `msg`).
pub fn invocation_hash(origin_url: &str, target_url: &str, operation: &str, msg: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(origin_url.as_bytes());
    h.update(target_url.as_bytes());
    h.update(operation.as_bytes());
    h.update(msg);
    data_encoding::HEXUPPER.encode(&h.finalize())
}

/// The origin URL, target URL and hash of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallDigest {
    /// `origin.url()`.
    pub origin_url: String,
    /// `target.url() + "/" + operation`.
    pub target_url: String,
    /// The hex-upper SHA-256 of the four parts.
    pub hash: String,
}

impl CallDigest {
    /// Compute the URLs and the hash for a call.
    pub fn compute(origin: &WasmCloudEntity, target: &WasmCloudEntity, operation: &str, msg: &[u8]) -> Self {
        let origin_url = origin.url();
        let target_url = target.target_url(operation);
        let hash = invocation_hash(&origin_url, &target_url, operation, msg);
        Self { origin_url, target_url, hash }
    }
}
