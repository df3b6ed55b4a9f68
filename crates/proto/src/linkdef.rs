//! `LinkDefinition`: the configuration that connects an actor to a provider.
//!
//! Published (msgpack, no reply) on a provider's `.linkdefs.put` / `.linkdefs.del`
//! subjects and carried (JSON) in HostData (PROTOCOL.md §2.4).

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::witmap::WitMap;

/// A link between one actor and one provider under a link name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkDefinition {
    /// The actor's public key (`M…`).
    #[serde(default)]
    pub actor_id: String,
    /// The provider's public key (`V…`).
    #[serde(default)]
    pub provider_id: String,
    /// The link name.
    #[serde(default)]
    pub link_name: String,
    /// The contract id, e.g. `wasmcloud:keyvalue`.
    #[serde(default)]
    pub contract_id: String,
    /// Provider-specific settings for this actor (e.g. `address`, `bucket`).
    #[serde(default)]
    pub values: WitMap,
}

impl LinkDefinition {
    /// Decode from msgpack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Msgpack { what: "LinkDefinition", reason: e.to_string() })
    }

    /// Encode to msgpack (a 5-entry map).
    pub fn encode(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail and every field is serialisable.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }
}
