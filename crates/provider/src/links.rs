//! The provider's link table: which actors may call it, and with which link values.
//!
//! Seeded from HostData's `link_definitions`, then updated by `.linkdefs.put` and
//! `.linkdefs.del`. Only links naming this provider's key **and** link name are kept
//! (PROTOCOL.md §7.4); like provider-sdk 0.2.0, links are keyed by actor id (one link per
//! actor per provider instance, since an instance serves one link name).
//!
//! Duplicates are expected: every 0.82 host replays every link to its providers at start
//! (HOST.md §4), so a put identical to the current link is a no-op. A put for an already
//! linked actor with *different* values replaces the link (0.82 silently ignored it,
//! keeping stale values).

use std::collections::HashMap;
use std::sync::Arc;

use lattice_control::stored_links::same_link;
use lattice_proto::{LinkDefinition, LinkName, ProviderKey};

/// What a link put means for the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PutKind {
    /// Not for this provider / link name: ignore.
    NotOurs,
    /// The same link is already present: nothing to do.
    Duplicate,
    /// A new link.
    New,
    /// The actor was linked with other values: the old link is replaced.
    Replaces(Arc<LinkDefinition>),
}

/// Links by actor id.
#[derive(Debug)]
pub(crate) struct LinkTable {
    provider: ProviderKey,
    link_name: LinkName,
    links: HashMap<String, Arc<LinkDefinition>>,
}

impl LinkTable {
    pub(crate) fn new(provider: ProviderKey, link_name: LinkName) -> Self {
        Self { provider, link_name, links: HashMap::new() }
    }

    /// Whether `ld` names this provider and link name.
    pub(crate) fn is_ours(&self, ld: &LinkDefinition) -> bool {
        ld.provider_id == self.provider.as_str() && ld.link_name == self.link_name.as_str()
    }

    /// Classify a put without changing the table.
    pub(crate) fn classify(&self, ld: &LinkDefinition) -> PutKind {
        if !self.is_ours(ld) {
            return PutKind::NotOurs;
        }
        match self.links.get(&ld.actor_id) {
            None => PutKind::New,
            Some(old) if same_link(old, ld) => PutKind::Duplicate,
            Some(old) => PutKind::Replaces(old.clone()),
        }
    }

    /// Insert (or replace) a link; the caller has classified it as ours.
    pub(crate) fn insert(&mut self, ld: LinkDefinition) -> Arc<LinkDefinition> {
        let ld = Arc::new(ld);
        self.links.insert(ld.actor_id.clone(), ld.clone());
        ld
    }

    /// Remove the link of `ld.actor_id` if `ld` is ours; returns the removed link.
    pub(crate) fn remove(&mut self, ld: &LinkDefinition) -> Option<Arc<LinkDefinition>> {
        if !self.is_ours(ld) {
            return None;
        }
        self.links.remove(&ld.actor_id)
    }

    pub(crate) fn get(&self, actor_id: &str) -> Option<Arc<LinkDefinition>> {
        self.links.get(actor_id).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }

    pub(crate) fn all(&self) -> Vec<Arc<LinkDefinition>> {
        self.links.values().cloned().collect()
    }

    pub(crate) fn drain(&mut self) -> Vec<Arc<LinkDefinition>> {
        self.links.drain().map(|(_, v)| v).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
    const ACTOR: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";

    fn link(provider: &str, link_name: &str, values: &[(&str, &str)]) -> LinkDefinition {
        let mut ld = LinkDefinition {
            actor_id: ACTOR.into(),
            provider_id: provider.into(),
            link_name: link_name.into(),
            contract_id: "wasmcloud:keyvalue".into(),
            ..Default::default()
        };
        for (k, v) in values {
            ld.values.insert(*k, *v);
        }
        ld
    }

    #[test]
    fn put_classification_and_removal() {
        let mut t = LinkTable::new(ProviderKey::parse(PROVIDER).unwrap(), LinkName::new("default").unwrap());
        assert_eq!(t.classify(&link(PROVIDER, "other", &[])), PutKind::NotOurs);
        assert_eq!(t.classify(&link("VOTHER", "default", &[])), PutKind::NotOurs);
        let a = link(PROVIDER, "default", &[("bucket", "b1")]);
        assert_eq!(t.classify(&a), PutKind::New);
        t.insert(a.clone());
        assert_eq!(t.classify(&a), PutKind::Duplicate);
        let b = link(PROVIDER, "default", &[("bucket", "b2")]);
        assert!(matches!(t.classify(&b), PutKind::Replaces(old) if *old == a));
        assert!(t.remove(&link(PROVIDER, "other", &[])).is_none());
        assert_eq!(t.remove(&link(PROVIDER, "default", &[])).as_deref(), Some(&a));
        assert!(t.get(ACTOR).is_none());
    }
}
