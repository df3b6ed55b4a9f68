//! Provider shutdown (PROTOCOL.md §2.7): a JSON request, a raw-text reply.

use serde::{Deserialize, Serialize};

/// The reply a provider sends to a shutdown request: these 13 raw bytes.
pub const SHUTDOWN_REPLY: &[u8] = b"shutting down";

/// The shutdown request: `{"host_id":"N…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// The host asking its provider to stop.
    #[serde(default)]
    pub host_id: String,
}

impl ShutdownRequest {
    /// Decode leniently: unparseable JSON reads as an empty `host_id`, as 0.82 does.
    pub fn decode(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// Encode as compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising one string to JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether a provider started by `own_host` should obey this request: the host id
    /// matches, or is empty (wasmbus-rpc 0.15 behaviour).
    pub fn is_for(&self, own_host: &str) -> bool {
        self.host_id.is_empty() || self.host_id == own_host
    }
}
