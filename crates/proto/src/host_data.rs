//! `HostData`: what a host tells a provider process at launch (PROTOCOL.md §2.6).
//!
//! JSON (field order below), wrapped in standard padded base64, written to the
//! provider's stdin followed by `\r\n`. Required fields are required exactly where 0.82
//! requires them, so a provider built on Lattice accepts what a 0.82 host writes and
//! refuses what a 0.82 provider would refuse.

use data_encoding::BASE64;
use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::keys::{ClusterKey, ClusterSeed, HostKey, ProviderKey};
use crate::linkdef::LinkDefinition;
use crate::names::{LatticeName, LinkName};
use crate::witmap::WitMap;

/// OpenTelemetry settings handed to a provider (both `null` unless configured).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtelConfig {
    /// The traces exporter, if any.
    #[serde(default)]
    pub traces_exporter: Option<String>,
    /// The OTLP endpoint, if any.
    #[serde(default)]
    pub exporter_otlp_endpoint: Option<String>,
}

/// The provider bootstrap document. `Debug` redacts its secrets (`invocation_seed`,
/// `lattice_rpc_user_seed`, `lattice_rpc_user_jwt`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostData {
    /// The launching host's key (`N…`).
    #[serde(default)]
    pub host_id: String,
    /// The lattice name.
    #[serde(default)]
    pub lattice_rpc_prefix: String,
    /// The provider's link name.
    #[serde(default)]
    pub link_name: String,
    /// NATS user JWT for the RPC connection ("" for none).
    #[serde(default)]
    pub lattice_rpc_user_jwt: String,
    /// NATS user seed for the RPC connection ("" for none).
    #[serde(default)]
    pub lattice_rpc_user_seed: String,
    /// The RPC NATS URL.
    #[serde(default)]
    pub lattice_rpc_url: String,
    /// The provider's own key (`V…`).
    #[serde(default)]
    pub provider_key: String,
    /// The cluster seed (`SC…`) the provider signs its invocations with.
    #[serde(default)]
    pub invocation_seed: String,
    /// Environment values (0.82 always sends `{}`).
    pub env_values: WitMap,
    /// The provider instance id (a UUID).
    #[serde(default)]
    pub instance_id: String,
    /// Links that already exist for this provider.
    pub link_definitions: Vec<LinkDefinition>,
    /// Trusted cluster issuers (`C…`).
    pub cluster_issuers: Vec<String>,
    /// Provider configuration, as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_json: Option<String>,
    /// The host's RPC timeout in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_rpc_timeout_ms: Option<u64>,
    /// Whether to log structured JSON.
    #[serde(default)]
    pub structured_logging: bool,
    /// Log level (`error warn info debug trace critical`); 0.82 sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// OpenTelemetry settings.
    pub otel_config: OtelConfig,
}

impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("HostData")
            .field("host_id", &self.host_id)
            .field("lattice_rpc_prefix", &self.lattice_rpc_prefix)
            .field("link_name", &self.link_name)
            .field("lattice_rpc_user_jwt", &secret(&self.lattice_rpc_user_jwt))
            .field("lattice_rpc_user_seed", &secret(&self.lattice_rpc_user_seed))
            .field("lattice_rpc_url", &self.lattice_rpc_url)
            .field("provider_key", &self.provider_key)
            .field("invocation_seed", &secret(&self.invocation_seed))
            .field("instance_id", &self.instance_id)
            .field("link_definitions", &self.link_definitions)
            .field("cluster_issuers", &self.cluster_issuers)
            .field("default_rpc_timeout_ms", &self.default_rpc_timeout_ms)
            .finish_non_exhaustive()
    }
}

/// The validated, typed view of a [`HostData`] a provider needs to start.
#[derive(Clone, Debug)]
pub struct ValidHostData {
    /// The launching host.
    pub host_id: HostKey,
    /// The lattice.
    pub lattice: LatticeName,
    /// The provider's link name.
    pub link_name: LinkName,
    /// The provider's key.
    pub provider_key: ProviderKey,
    /// The seed for outgoing invocations.
    pub invocation_seed: ClusterSeed,
    /// Trusted issuers.
    pub cluster_issuers: Vec<ClusterKey>,
}

impl HostData {
    /// Decode the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json { what: "HostData", reason: e.to_string() })
    }

    /// Encode the JSON form (compact, field order as 0.82).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising strings, integers and maps to JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decode the stdin form: one line of standard base64 (whitespace trimmed) of the JSON.
    pub fn from_base64(line: &[u8]) -> Result<Self, DecodeError> {
        let trimmed = line.trim_ascii();
        let json = BASE64.decode(trimmed).map_err(|e| DecodeError::Base64(e.to_string()))?;
        Self::from_json(&json)
    }

    /// Encode the stdin form: base64 of the JSON (without the trailing `\r\n`).
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.to_json())
    }

    /// Decode either form: JSON if it starts with `{`, otherwise base64.
    pub fn decode_any(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.trim_ascii_start().first() == Some(&b'{') { Self::from_json(bytes) } else { Self::from_base64(bytes) }
    }

    /// Check every field a provider relies on, and return the typed view.
    pub fn validate(&self) -> Result<ValidHostData, DecodeError> {
        fn invalid(what: &'static str, e: impl std::fmt::Display) -> DecodeError {
            DecodeError::Invalid { what, reason: e.to_string() }
        }
        let host_id = HostKey::parse(&self.host_id).map_err(|e| invalid("host_id", e))?;
        let lattice =
            LatticeName::new(self.lattice_rpc_prefix.clone()).map_err(|e| invalid("lattice_rpc_prefix", e))?;
        let link_name = LinkName::new(self.link_name.clone()).map_err(|e| invalid("link_name", e))?;
        let provider_key = ProviderKey::parse(&self.provider_key).map_err(|e| invalid("provider_key", e))?;
        let invocation_seed = ClusterSeed::parse(&self.invocation_seed).map_err(|e| invalid("invocation_seed", e))?;
        let cluster_issuers = self
            .cluster_issuers
            .iter()
            .map(|k| ClusterKey::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("cluster_issuers", e))?;
        Ok(ValidHostData { host_id, lattice, link_name, provider_key, invocation_seed, cluster_issuers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_document_is_accepted_and_missing_required_is_not() {
        let h =
            HostData::from_json(br#"{"env_values":{},"link_definitions":[],"cluster_issuers":[],"otel_config":{}}"#)
                .unwrap();
        assert!(h.host_id.is_empty());
        let e = HostData::from_json(br#"{"host_id":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `env_values`"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let seed = crate::ClusterSeed::generate();
        let h = HostData {
            invocation_seed: seed.seed(),
            lattice_rpc_user_seed: "SUSECRETUSERSEED".into(),
            lattice_rpc_user_jwt: "eyJ.secret.jwt".into(),
            host_id: "NHOST".into(),
            ..HostData::default()
        };
        let text = format!("{h:?}");
        assert!(!text.contains(&seed.seed()) && !text.contains("SUSECRET") && !text.contains("eyJ"), "{text}");
        assert!(text.contains("NHOST") && text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn validate_names_the_bad_field() {
        let h =
            HostData::from_json(br#"{"env_values":{},"link_definitions":[],"cluster_issuers":[],"otel_config":{}}"#)
                .unwrap();
        let e = h.validate().unwrap_err();
        assert!(matches!(e, DecodeError::Invalid { what: "host_id", .. }), "{e}");
    }
}
