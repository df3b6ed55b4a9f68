//! NATS subjects and queue groups of the RPC plane, built in one place.
//!
//! | subject | queue group |
//! |---|---|
//! | `wasmbus.rpc.{lattice}.{actor}` | the subject itself |
//! | `wasmbus.rpc.{lattice}.{provider}.{link}` | `rpc` |
//! | `….{link}.linkdefs.put` / `.linkdefs.del` / `.health` / `.shutdown` | none |
//!
//! Every subject is built here from validated names and keys (PROTOCOL.md §3); nothing
//! else in Lattice assembles `wasmbus.` strings. [`parse`] is the inverse, for the monitor.

use std::fmt;

use crate::entity::WasmCloudEntity;
use crate::keys::{ActorKey, ProviderKey};
use crate::names::{LatticeName, LinkName};

/// The fixed prefix of the RPC plane.
pub const RPC_PREFIX: &str = "wasmbus.rpc";

/// The queue group every provider instance joins on its RPC subject.
pub const PROVIDER_QUEUE_GROUP: &str = "rpc";

/// A NATS subject built by this module.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl Subject {
    /// The subject text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.0)
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> String {
        s.0
    }
}

/// `wasmbus.rpc.{lattice}.{actor}`: where an actor's invocations go.
pub fn actor_rpc(lattice: &LatticeName, actor: &ActorKey) -> Subject {
    Subject(format!("{RPC_PREFIX}.{lattice}.{actor}"))
}

/// The queue group of an actor subject: the subject itself (0.82 host).
pub fn actor_queue_group(lattice: &LatticeName, actor: &ActorKey) -> String {
    actor_rpc(lattice, actor).0
}

/// `wasmbus.rpc.{lattice}.{provider}.{link}`: where a provider's invocations go.
pub fn provider_rpc(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName) -> Subject {
    Subject(format!("{RPC_PREFIX}.{lattice}.{provider}.{link}"))
}

fn provider_sub(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName, suffix: &str) -> Subject {
    Subject(format!("{RPC_PREFIX}.{lattice}.{provider}.{link}.{suffix}"))
}

/// `….{link}.linkdefs.put`: new or changed links for a provider.
pub fn linkdefs_put(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName) -> Subject {
    provider_sub(lattice, provider, link, "linkdefs.put")
}

/// `….{link}.linkdefs.del`: removed links.
pub fn linkdefs_del(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName) -> Subject {
    provider_sub(lattice, provider, link, "linkdefs.del")
}

/// `….{link}.health`: health check requests.
pub fn health(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName) -> Subject {
    provider_sub(lattice, provider, link, "health")
}

/// `….{link}.shutdown`: shutdown requests.
pub fn shutdown(lattice: &LatticeName, provider: &ProviderKey, link: &LinkName) -> Subject {
    provider_sub(lattice, provider, link, "shutdown")
}

/// `wasmbus.rpc.{lattice}.>`: everything on a lattice's RPC plane (for monitors).
pub fn rpc_wildcard(lattice: &LatticeName) -> Subject {
    Subject(format!("{RPC_PREFIX}.{lattice}.>"))
}

/// `wasmbus.rpc.{lattice}.{key}.>` / `wasmbus.rpc.{lattice}.{key}`: for spying on one
/// entity, the subjects its invocations arrive on (actor: exact; provider: any link).
pub fn entity_wildcard(lattice: &LatticeName, key: &str) -> Subject {
    if key.starts_with('M') {
        Subject(format!("{RPC_PREFIX}.{lattice}.{key}"))
    } else {
        Subject(format!("{RPC_PREFIX}.{lattice}.{key}.*"))
    }
}

/// Why a target entity has no subject.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// The target's key is not a valid actor or provider key.
    #[error(transparent)]
    Key(#[from] crate::error::KeyError),
    /// The target's link name cannot go in a subject.
    #[error(transparent)]
    Name(#[from] crate::error::NameError),
}

/// The subject a sender uses for `target`: provider form when it has a link name,
/// actor form otherwise (0.82's `rpc_topic`), with the key and link name validated.
pub fn for_target(lattice: &LatticeName, target: &WasmCloudEntity) -> Result<Subject, TargetError> {
    if target.link_name.is_empty() {
        Ok(actor_rpc(lattice, &ActorKey::parse(&target.public_key)?))
    } else {
        let link = LinkName::new(target.link_name.clone())?;
        Ok(provider_rpc(lattice, &ProviderKey::parse(&target.public_key)?, &link))
    }
}

/// What an RPC-plane subject is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcSubject<'a> {
    /// An invocation for an actor.
    Actor {
        /// The lattice token.
        lattice: &'a str,
        /// The actor key token.
        actor: &'a str,
    },
    /// An invocation for a provider.
    Provider {
        /// The lattice token.
        lattice: &'a str,
        /// The provider key token.
        provider: &'a str,
        /// The link name token.
        link: &'a str,
    },
    /// A provider control message (`linkdefs.put`, `linkdefs.del`, `health`, `shutdown`).
    ProviderControl {
        /// The lattice token.
        lattice: &'a str,
        /// The provider key token.
        provider: &'a str,
        /// The link name token.
        link: &'a str,
        /// The suffix (`linkdefs.put`, …).
        kind: &'a str,
    },
    /// Anything else under `wasmbus.rpc.` (including replies).
    Other,
}

impl RpcSubject<'_> {
    /// Whether this subject carries invocations.
    pub fn is_invocation(&self) -> bool {
        matches!(self, RpcSubject::Actor { .. } | RpcSubject::Provider { .. })
    }
}

/// Classify an RPC-plane subject by its shape (tokens are not validated).
pub fn parse(subject: &str) -> RpcSubject<'_> {
    let Some(rest) = subject.strip_prefix("wasmbus.rpc.") else {
        return RpcSubject::Other;
    };
    let t: Vec<&str> = rest.split('.').collect();
    match t.as_slice() {
        [lattice, actor] if actor.starts_with('M') => RpcSubject::Actor { lattice, actor },
        [lattice, provider, link] if provider.starts_with('V') => RpcSubject::Provider { lattice, provider, link },
        [lattice, provider, link, kind @ ("health" | "shutdown")] if provider.starts_with('V') => {
            RpcSubject::ProviderControl { lattice, provider, link, kind }
        }
        [lattice, provider, link, "linkdefs", op @ ("put" | "del")] if provider.starts_with('V') => {
            // Recover the two-token suffix as one slice of the original subject.
            let kind_start = subject.len() - "linkdefs.".len() - op.len();
            RpcSubject::ProviderControl { lattice, provider, link, kind: &subject[kind_start..] }
        }
        _ => RpcSubject::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
    const P: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";

    fn l() -> LatticeName {
        LatticeName::default()
    }
    fn p() -> ProviderKey {
        ProviderKey::parse(P).unwrap()
    }
    fn link() -> LinkName {
        LinkName::default()
    }

    #[test]
    fn exact_strings() {
        let a = ActorKey::parse(A).unwrap();
        assert_eq!(actor_rpc(&l(), &a).as_str(), format!("wasmbus.rpc.default.{A}"));
        assert_eq!(actor_queue_group(&l(), &a), format!("wasmbus.rpc.default.{A}"));
        assert_eq!(provider_rpc(&l(), &p(), &link()).as_str(), format!("wasmbus.rpc.default.{P}.default"));
        assert_eq!(linkdefs_put(&l(), &p(), &link()).as_str(), format!("wasmbus.rpc.default.{P}.default.linkdefs.put"));
        assert_eq!(linkdefs_del(&l(), &p(), &link()).as_str(), format!("wasmbus.rpc.default.{P}.default.linkdefs.del"));
        assert_eq!(health(&l(), &p(), &link()).as_str(), format!("wasmbus.rpc.default.{P}.default.health"));
        assert_eq!(shutdown(&l(), &p(), &link()).as_str(), format!("wasmbus.rpc.default.{P}.default.shutdown"));
        assert_eq!(rpc_wildcard(&l()).as_str(), "wasmbus.rpc.default.>");
        assert_eq!(PROVIDER_QUEUE_GROUP, "rpc");
    }

    #[test]
    fn for_target_picks_the_form_and_validates() {
        let actor = WasmCloudEntity { public_key: A.into(), ..Default::default() };
        assert_eq!(for_target(&l(), &actor).unwrap(), actor_rpc(&l(), &ActorKey::parse(A).unwrap()));
        let prov = WasmCloudEntity { public_key: P.into(), link_name: "default".into(), contract_id: "x:y".into() };
        assert_eq!(for_target(&l(), &prov).unwrap(), provider_rpc(&l(), &p(), &link()));
        let bad = WasmCloudEntity { public_key: P.into(), link_name: "a.b".into(), contract_id: "x".into() };
        assert!(matches!(for_target(&l(), &bad), Err(TargetError::Name(_))));
        let forged = WasmCloudEntity { public_key: "M.>".into(), ..Default::default() };
        assert!(matches!(for_target(&l(), &forged), Err(TargetError::Key(_))));
    }

    #[test]
    fn parse_inverts_builders() {
        let a = ActorKey::parse(A).unwrap();
        assert_eq!(parse(actor_rpc(&l(), &a).as_str()), RpcSubject::Actor { lattice: "default", actor: A });
        assert_eq!(
            parse(provider_rpc(&l(), &p(), &link()).as_str()),
            RpcSubject::Provider { lattice: "default", provider: P, link: "default" }
        );
        for (s, kind) in [
            (linkdefs_put(&l(), &p(), &link()), "linkdefs.put"),
            (linkdefs_del(&l(), &p(), &link()), "linkdefs.del"),
            (health(&l(), &p(), &link()), "health"),
            (shutdown(&l(), &p(), &link()), "shutdown"),
        ] {
            assert_eq!(
                parse(s.as_str()),
                RpcSubject::ProviderControl { lattice: "default", provider: P, link: "default", kind }
            );
        }
        assert_eq!(parse("_INBOX.abc"), RpcSubject::Other);
        assert_eq!(parse("wasmbus.rpc.default"), RpcSubject::Other);
    }
}
