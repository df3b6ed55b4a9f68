//! Provider health checks (PROTOCOL.md §2.5).
//!
//! The 0.82 host sends an **empty** payload on `.health`; a provider answers with a
//! msgpack `HealthCheckResponse`.

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;

/// The (empty) health check request. The wire payload 0.82 actually sends is zero bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckRequest {}

impl HealthCheckRequest {
    /// Decode a request; any payload (including empty) is accepted, as providers ignore it.
    pub fn decode(_bytes: &[u8]) -> Self {
        Self {}
    }
}

/// A provider's answer to a health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckResponse {
    /// Whether the provider is healthy.
    #[serde(default)]
    pub healthy: bool,
    /// Why not, or any status text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl HealthCheckResponse {
    /// `{healthy: true}`.
    pub fn healthy() -> Self {
        Self { healthy: true, message: None }
    }

    /// `{healthy: false, message}`.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self { healthy: false, message: Some(message.into()) }
    }

    /// Decode from msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        rmp_serde::from_slice(bytes)
            .map_err(|e| DecodeError::Msgpack { what: "HealthCheckResponse", reason: e.to_string() })
    }

    /// Encode to msgpack.
    pub fn encode(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail and every field is serialisable.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }
}
