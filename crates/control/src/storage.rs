//! The 0.82 lattice-data KV layout (HOST.md §4), as pure functions and serde types: bucket
//! names, keys, and the JSON records stored under them. No I/O: the host reads and writes
//! the JetStream KV bucket and uses these to name and check what it finds.
//!
//! - Bucket `LATTICEDATA_{lattice}` (config lives in `CONFIGDATA_{lattice}`).
//! - `LINKDEF_{id}`: the raw JSON [`LinkDefinition`] as received on `linkdefs.put`, where
//!   `id` = uppercase hex SHA-256 of `actor_id ‖ contract_id ‖ link_name` (no separators).
//!   Watchers reject an entry whose key does not match its value ("linkdef hash mismatch").
//! - `CLAIMS_{subject}`: [`StoredActorClaims`] or [`StoredProviderClaims`] JSON. Readers
//!   accept `tags`/`capabilities` as an array or a comma-joined string, and the short names
//!   `caps`, `iss`, `rev`, `sub`; the key suffix must equal `subject`.

use data_encoding::HEXUPPER;
use lattice_proto::{LatticeName, LinkDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ControlError, RuleError};
use crate::types::{ClaimsMap, split_list, to_json};

/// The prefix of link keys.
pub const LINKDEF_PREFIX: &str = "LINKDEF_";
/// The prefix of claims keys.
pub const CLAIMS_PREFIX: &str = "CLAIMS_";

/// `LATTICEDATA_{lattice}`: links and claims.
pub fn bucket_name(lattice: &LatticeName) -> String {
    format!("LATTICEDATA_{lattice}")
}

/// `CONFIGDATA_{lattice}`: named config.
pub fn config_bucket_name(lattice: &LatticeName) -> String {
    format!("CONFIGDATA_{lattice}")
}

/// 0.82's `linkdef_hash`: uppercase hex SHA-256 of `actor_id ‖ contract_id ‖ link_name`.
pub fn linkdef_hash(actor_id: &str, contract_id: &str, link_name: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(actor_id.as_bytes());
    hash.update(contract_id.as_bytes());
    hash.update(link_name.as_bytes());
    HEXUPPER.encode(&hash.finalize())
}

/// `LINKDEF_{linkdef_hash(…)}`.
pub fn linkdef_key(actor_id: &str, contract_id: &str, link_name: &str) -> String {
    format!("{LINKDEF_PREFIX}{}", linkdef_hash(actor_id, contract_id, link_name))
}

/// The key a link is stored under.
pub fn linkdef_key_for(ld: &LinkDefinition) -> String {
    linkdef_key(&ld.actor_id, &ld.contract_id, &ld.link_name)
}

/// `CLAIMS_{subject}`.
pub fn claims_key(subject: &str) -> String {
    format!("{CLAIMS_PREFIX}{subject}")
}

/// What a key of the lattice-data bucket holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvKey<'a> {
    /// `LINKDEF_{id}`.
    Linkdef {
        /// The hash part.
        id: &'a str,
    },
    /// `CLAIMS_{subject}`.
    Claims {
        /// The public key part.
        subject: &'a str,
    },
    /// Anything else (ignored by hosts).
    Other(&'a str),
}

impl<'a> KvKey<'a> {
    /// Classify a key.
    pub fn parse(key: &'a str) -> Self {
        if let Some(id) = key.strip_prefix(LINKDEF_PREFIX) {
            KvKey::Linkdef { id }
        } else if let Some(subject) = key.strip_prefix(CLAIMS_PREFIX) {
            KvKey::Claims { subject }
        } else {
            KvKey::Other(key)
        }
    }
}

/// The JSON to store for a link (byte-identical to what the 0.33 client sends, and so to
/// what a 0.82 host stores, when the values hold at most one entry or keep their order).
pub fn encode_linkdef(ld: &LinkDefinition) -> Vec<u8> {
    to_json(ld)
}

/// Decode a `LINKDEF_…` entry and check that its key matches its content.
pub fn decode_linkdef(key: &str, value: &[u8]) -> Result<LinkDefinition, ControlError> {
    let names = ("link definition entry", "stored link definition");
    decode_entry(key, LINKDEF_PREFIX, value, names, |id, ld: &LinkDefinition| {
        let want = linkdef_hash(&ld.actor_id, &ld.contract_id, &ld.link_name);
        if id == want { Ok(()) } else { Err(RuleError::LinkdefHash { key: id.to_owned(), content: want }) }
    })
}

/// Decode the JSON `value` stored under `key`, which must start with `prefix`; `check` then
/// holds the rest of the key against the record. `entry` and `stored` are the names the
/// errors use for the entry (wrong key, mismatch) and for its JSON (decode failure).
fn decode_entry<T: DeserializeOwned>(
    key: &str,
    prefix: &str,
    value: &[u8],
    (entry, stored): (&'static str, &'static str),
    check: impl FnOnce(&str, &T) -> Result<(), RuleError>,
) -> Result<T, ControlError> {
    let Some(suffix) = key.strip_prefix(prefix) else {
        return Err(ControlError::invalid(entry, format!("key '{key}' is not a {prefix} key")));
    };
    let record: T = serde_json::from_slice(value).map_err(|e| ControlError::decode(stored, &e))?;
    check(suffix, &record).map_err(|source| ControlError::Invalid { what: entry, source })?;
    Ok(record)
}

/// An actor's claims as 0.82 stores them under `CLAIMS_{M…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredActorClaims {
    /// The call alias (`""` when none).
    pub call_alias: String,
    /// Capability contracts.
    #[serde(alias = "caps", deserialize_with = "list_or_joined")]
    pub capabilities: Vec<String>,
    /// The signing account (`A…`).
    #[serde(alias = "iss")]
    pub issuer: String,
    /// The actor's name.
    pub name: String,
    /// The claims revision, as a string.
    #[serde(alias = "rev")]
    pub revision: String,
    /// The actor's public key (`M…`).
    #[serde(alias = "sub")]
    pub subject: String,
    /// Tags.
    #[serde(deserialize_with = "list_or_joined")]
    pub tags: Vec<String>,
    /// The actor's version.
    pub version: String,
}

/// A provider's claims as 0.82 stores them under `CLAIMS_{V…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProviderClaims {
    /// The contract it implements.
    pub contract_id: String,
    /// The signing account (`A…`).
    #[serde(alias = "iss")]
    pub issuer: String,
    /// The provider's name.
    pub name: String,
    /// The claims revision, as a string.
    #[serde(alias = "rev")]
    pub revision: String,
    /// The provider's public key (`V…`).
    #[serde(alias = "sub")]
    pub subject: String,
    /// The provider's version.
    pub version: String,
    /// Its configuration schema, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<String>,
}

/// A `CLAIMS_…` record: an actor's or a provider's (told apart by their fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredClaims {
    /// An actor's claims.
    Actor(StoredActorClaims),
    /// A provider's claims.
    Provider(StoredProviderClaims),
}

impl StoredClaims {
    /// The public key the claims are about.
    pub fn subject(&self) -> &str {
        match self {
            StoredClaims::Actor(c) => &c.subject,
            StoredClaims::Provider(c) => &c.subject,
        }
    }

    /// The key to store these claims under.
    pub fn key(&self) -> String {
        claims_key(self.subject())
    }

    /// The JSON to store.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decode a `CLAIMS_…` entry and check that its key names the claims' subject.
    pub fn decode(key: &str, value: &[u8]) -> Result<Self, ControlError> {
        decode_entry(key, CLAIMS_PREFIX, value, ("claims entry", "stored claims"), |subject, claims: &StoredClaims| {
            if claims.subject() == subject {
                Ok(())
            } else {
                Err(RuleError::ClaimsSubject { key: subject.to_owned(), subject: claims.subject().to_owned() })
            }
        })
    }

    /// The string map a `get.claims` reply carries for these claims: every field under its
    /// long and short name, lists comma-joined, a missing `config_schema` as `""`.
    pub fn to_claims_map(&self) -> ClaimsMap {
        let mut map = ClaimsMap::new();
        let mut put = |names: &[&str], value: &str| {
            for name in names {
                map.insert((*name).to_owned(), value.to_owned());
            }
        };
        let (issuer, name, revision, subject, version) = match self {
            StoredClaims::Actor(c) => {
                put(&["call_alias"], &c.call_alias);
                put(&["caps", "capabilities"], &c.capabilities.join(","));
                put(&["tags"], &c.tags.join(","));
                (&c.issuer, &c.name, &c.revision, &c.subject, &c.version)
            }
            StoredClaims::Provider(c) => {
                put(&["contract_id"], &c.contract_id);
                put(&["config_schema"], c.config_schema.as_deref().unwrap_or_default());
                (&c.issuer, &c.name, &c.revision, &c.subject, &c.version)
            }
        };
        put(&["iss", "issuer"], issuer);
        put(&["name"], name);
        put(&["rev", "revision"], revision);
        put(&["sub", "subject"], subject);
        put(&["version"], version);
        map
    }
}

/// A list written either as a JSON array or as one comma-joined string (`""` = empty).
fn list_or_joined<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Messy {
        List(Vec<String>),
        Joined(String),
    }
    Ok(match Messy::deserialize(d)? {
        Messy::List(items) => items,
        Messy::Joined(s) => split_list(&s).into_iter().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let l = LatticeName::new("default").unwrap();
        assert_eq!(bucket_name(&l), "LATTICEDATA_default");
        assert_eq!(config_bucket_name(&l), "CONFIGDATA_default");
        assert_eq!(claims_key("MABC"), "CLAIMS_MABC");
        assert_eq!(KvKey::parse("CLAIMS_MABC"), KvKey::Claims { subject: "MABC" });
        assert_eq!(KvKey::parse("LINKDEF_00"), KvKey::Linkdef { id: "00" });
        assert_eq!(KvKey::parse("OTHER"), KvKey::Other("OTHER"));
    }

    #[test]
    fn linkdef_hash_is_plain_concatenation() {
        // SHA-256("abc") — the three parts are joined with nothing between them.
        assert_eq!(linkdef_hash("a", "b", "c"), "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
        assert_eq!(linkdef_hash("ab", "", "c"), linkdef_hash("a", "b", "c"));
    }

    #[test]
    fn claims_accept_joined_lists_and_aliases() {
        let v = br#"{"call_alias":"","caps":"a,b","iss":"AX","name":"n","rev":"2","sub":"MX","tags":"","version":"1"}"#;
        let StoredClaims::Actor(c) = StoredClaims::decode("CLAIMS_MX", v).unwrap() else { panic!("not an actor") };
        assert_eq!(c.capabilities, ["a", "b"]);
        assert!(c.tags.is_empty());
        assert_eq!((c.issuer.as_str(), c.revision.as_str(), c.subject.as_str()), ("AX", "2", "MX"));
        assert!(StoredClaims::decode("CLAIMS_MY", v).is_err());
        assert!(StoredClaims::decode("LINKDEF_MX", v).is_err());
        // Required fields are required (only config_schema is optional).
        assert!(StoredClaims::decode("CLAIMS_MX", br#"{"sub":"MX"}"#).is_err());
    }
}
