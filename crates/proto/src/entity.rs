//! `WasmCloudEntity`: who is calling and who is called, and the URLs the claims sign.
//!
//! The URL rules are the 0.82 code's, not the docs': no percent-encoding, only
//! `:`→`/`, space→`_` and lower-casing of the provider's contract and link name
//! (PROTOCOL.md §4.1).

use serde::{Deserialize, Serialize};

use crate::keys::{ActorKey, ProviderKey};
use crate::names::LinkName;

/// One end of a call: an actor (`M…`, empty link name and contract) or a provider
/// (`V…` with its link name and contract id).
///
/// Wire form: a msgpack map `public_key`, `link_name`, `contract_id` in this order.
/// The fields are plain strings because a receiver must be able to decode — and then
/// reject with a precise reason — whatever a peer sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WasmCloudEntity {
    /// `M…` for actors, `V…` for providers.
    #[serde(default)]
    pub public_key: String,
    /// The provider's link name; empty for actors.
    #[serde(default)]
    pub link_name: String,
    /// The provider's contract id (e.g. `wasmcloud:keyvalue`); empty for actors.
    #[serde(default)]
    pub contract_id: String,
}

impl WasmCloudEntity {
    /// An actor entity.
    pub fn actor(key: &ActorKey) -> Self {
        Self { public_key: key.as_str().to_owned(), ..Self::default() }
    }

    /// A provider entity.
    pub fn provider(key: &ProviderKey, link_name: &LinkName, contract_id: impl Into<String>) -> Self {
        Self {
            public_key: key.as_str().to_owned(),
            link_name: link_name.as_str().to_owned(),
            contract_id: contract_id.into(),
        }
    }

    /// 0.82's `is_actor()`: true when the link name or the contract id is empty.
    pub fn is_actor(&self) -> bool {
        self.link_name.is_empty() || self.contract_id.is_empty()
    }

    /// Whether the key's first character is an `M` (case-insensitive), the rule the URL
    /// format uses to tell actors from providers.
    fn url_says_actor(&self) -> bool {
        self.public_key.chars().next().and_then(|c| c.to_uppercase().next()) == Some('M')
    }

    /// The entity's URL, appended to `out` (see [`WasmCloudEntity::url`]).
    pub fn write_url(&self, out: &mut String) {
        out.push_str("wasmbus://");
        if !self.url_says_actor() {
            for c in self.contract_id.chars() {
                match c {
                    ':' => out.push('/'),
                    ' ' => out.push('_'),
                    c => out.extend(c.to_lowercase()),
                }
            }
            out.push('/');
            for c in self.link_name.chars() {
                match c {
                    ' ' => out.push('_'),
                    c => out.extend(c.to_lowercase()),
                }
            }
            out.push('/');
        }
        out.push_str(&self.public_key);
    }

    /// The entity URL: `wasmbus://{pk}` for actors,
    /// `wasmbus://{contract}/{link}/{pk}` for providers.
    pub fn url(&self) -> String {
        let mut s = String::with_capacity(self.public_key.len() + self.contract_id.len() + self.link_name.len() + 12);
        self.write_url(&mut s);
        s
    }

    /// The URL of this entity as a call target: `url() + "/" + operation`.
    pub fn target_url(&self, operation: &str) -> String {
        let mut s = self.url();
        s.push('/');
        s.push_str(operation);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_url_lowercases_and_replaces() {
        let e = WasmCloudEntity {
            public_key: "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV".into(),
            link_name: "My Backend".into(),
            contract_id: "Wasmcloud:Key Value".into(),
        };
        assert_eq!(
            e.url(),
            "wasmbus://wasmcloud/key_value/my_backend/VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV"
        );
        assert!(!e.is_actor());
    }

    #[test]
    fn actor_url_is_just_the_key() {
        let e = WasmCloudEntity { public_key: "MABC".into(), ..Default::default() };
        assert_eq!(e.url(), "wasmbus://MABC");
        assert_eq!(e.target_url("Echo.Say"), "wasmbus://MABC/Echo.Say");
        // Lower-case `m` also counts as an actor for the URL (0.82 upper-cases first).
        let e = WasmCloudEntity { public_key: "mabc".into(), ..Default::default() };
        assert_eq!(e.url(), "wasmbus://mabc");
    }
}
