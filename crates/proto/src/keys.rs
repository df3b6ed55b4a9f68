//! Newtypes for the nkeys public keys and seeds the protocol uses.
//!
//! Every key is validated once, on construction (type prefix, base32, CRC), so the rest
//! of Lattice can trust a [`ActorKey`] really is an `M…` module key. The wire types keep
//! plain strings, because a decoder must be able to *read* a bad key in order to report
//! it; the typed keys are used wherever Lattice *builds* something.

use std::fmt;

use nkeys::{KeyPair, KeyPairType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::KeyError;

/// Validate `s` as the public key of an nkey of type `ty`: length, base32, CRC and type
/// prefix. Keys that sign or verify (cluster, account) are also checked to be a valid
/// Ed25519 point; for keys that only name an entity this (a point decompression, ~6 µs)
/// is skipped, since they are validated on every call's hot path.
fn validate_public(s: &str, kind: &'static str, prefix: char, ty: KeyPairType) -> Result<(), KeyError> {
    let decoded = nkeys::from_public_key(s);
    if !s.starts_with(prefix) {
        // Tell "valid key of the wrong kind" apart from "garbage".
        if decoded.is_ok() {
            return Err(KeyError::WrongKind { kind, prefix, key: s.to_owned() });
        }
        return Err(KeyError::Invalid {
            kind,
            key: s.to_owned(),
            reason: format!("a {kind} public key starts with '{prefix}'"),
        });
    }
    if let Err(e) = decoded {
        return Err(KeyError::Invalid { kind, key: s.to_owned(), reason: e.to_string() });
    }
    if matches!(ty, KeyPairType::Cluster | KeyPairType::Account) {
        match KeyPair::from_public_key(s) {
            Ok(kp) if kp.key_pair_type() == ty => {}
            Ok(_) => return Err(KeyError::WrongKind { kind, prefix, key: s.to_owned() }),
            Err(e) => return Err(KeyError::Invalid { kind, key: s.to_owned(), reason: e.to_string() }),
        }
    }
    Ok(())
}

macro_rules! public_key {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal, $ty:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The first character of every key of this kind.
            pub const PREFIX: char = $prefix;

            /// Parse and validate a public key of this kind.
            pub fn parse(s: &str) -> Result<Self, KeyError> {
                validate_public(s, $kind, $prefix, $ty)?;
                Ok(Self(s.to_owned()))
            }

            /// The key as its 56-character text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, KeyError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

public_key!(
    /// An actor's public key (`M…`, an nkeys "module" key).
    ActorKey, "actor", 'M', KeyPairType::Module
);
public_key!(
    /// A capability provider's public key (`V…`, an nkeys "service" key).
    ProviderKey, "provider", 'V', KeyPairType::Service
);
public_key!(
    /// A host's public key (`N…`, an nkeys "server" key); the invocation `host_id`.
    HostKey, "host", 'N', KeyPairType::Server
);
public_key!(
    /// A cluster public key (`C…`): the issuer of invocation claims.
    ClusterKey, "cluster", 'C', KeyPairType::Cluster
);
public_key!(
    /// An account public key (`A…`): the issuer of module and provider claims.
    AccountKey, "account", 'A', KeyPairType::Account
);

/// The cluster seed (`SC…`): the secret that signs invocation claims.
///
/// `Debug` and `Display` never show the seed, only the public key.
#[derive(Clone)]
pub struct ClusterSeed {
    pair: std::sync::Arc<KeyPair>,
    public: ClusterKey,
}

impl ClusterSeed {
    /// Parse a cluster seed (`SC…`).
    pub fn parse(seed: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid { kind: "cluster seed", key: "<redacted>".into(), reason };
        let pair = KeyPair::from_seed(seed.trim()).map_err(|e| invalid(e.to_string()))?;
        if pair.key_pair_type() != KeyPairType::Cluster {
            return Err(KeyError::WrongKind { kind: "cluster seed", prefix: 'S', key: "<redacted>".into() });
        }
        let public = ClusterKey(pair.public_key());
        Ok(Self { pair: std::sync::Arc::new(pair), public })
    }

    /// A fresh random cluster key.
    pub fn generate() -> Self {
        let pair = KeyPair::new_cluster();
        let public = ClusterKey(pair.public_key());
        Self { pair: std::sync::Arc::new(pair), public }
    }

    /// The public key of this seed: the `iss` of every claim it signs.
    pub fn public_key(&self) -> &ClusterKey {
        &self.public
    }

    /// The seed text (`SC…`), e.g. to hand it to a provider as `invocation_seed`.
    pub fn seed(&self) -> String {
        // nkeys only fails here for key pairs built from a public key; ours has a seed.
        self.pair.seed().unwrap_or_default()
    }

    /// Sign `input` with the cluster key (raw 64-byte Ed25519 signature).
    pub(crate) fn sign(&self, input: &[u8]) -> Vec<u8> {
        // nkeys' sign only fails for a key pair without a seed, which ours never is.
        self.pair.sign(input).unwrap_or_default()
    }
}

impl fmt::Debug for ClusterSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterSeed(public: {})", self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTOR: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
    const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
    const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
    const CLUSTER: &str = "CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI";
    const CLUSTER_SEED: &str = "SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ";

    #[test]
    fn valid_keys_parse() {
        assert_eq!(ActorKey::parse(ACTOR).unwrap().as_str(), ACTOR);
        assert_eq!(ProviderKey::parse(PROVIDER).unwrap().as_str(), PROVIDER);
        assert_eq!(HostKey::parse(HOST).unwrap().as_str(), HOST);
        assert_eq!(ClusterKey::parse(CLUSTER).unwrap().as_str(), CLUSTER);
    }

    #[test]
    fn wrong_kind_is_reported_as_such() {
        assert!(matches!(ActorKey::parse(PROVIDER), Err(KeyError::WrongKind { prefix: 'M', .. })));
        assert!(matches!(HostKey::parse(CLUSTER), Err(KeyError::WrongKind { prefix: 'N', .. })));
    }

    #[test]
    fn garbage_and_bad_checksum_are_invalid() {
        assert!(matches!(ActorKey::parse(""), Err(KeyError::Invalid { .. })));
        assert!(matches!(ActorKey::parse("Mhello"), Err(KeyError::Invalid { .. })));
        let mut bad = ACTOR.to_string();
        bad.replace_range(55..56, "A");
        assert!(matches!(ActorKey::parse(&bad), Err(KeyError::Invalid { .. })));
    }

    #[test]
    fn cluster_seed_round_trips_and_hides_itself() {
        let seed = ClusterSeed::parse(CLUSTER_SEED).unwrap();
        assert_eq!(seed.public_key().as_str(), CLUSTER);
        assert_eq!(seed.seed(), CLUSTER_SEED);
        assert!(!format!("{seed:?}").contains(CLUSTER_SEED));
        // An actor seed is not a cluster seed.
        let actor_seed = "SMAAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBCBKY";
        assert!(ClusterSeed::parse(actor_seed).is_err());
        assert!(ClusterSeed::parse("SCnope").is_err());
    }
}
