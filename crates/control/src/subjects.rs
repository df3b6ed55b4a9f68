//! Every NATS subject and queue group of the control plane and the lattice events, built in
//! one place, and [`CtlRequest::parse`], which maps an incoming control subject back to what
//! it asks for.
//!
//! | subject (after `wasmbus.ctl.{lattice}.`) | host subscription | queue group |
//! |---|---|---|
//! | `ping.hosts` | `ping.hosts` | none (every host answers) |
//! | `get.{host}.inv` | `get.{own id}.inv` | none |
//! | `get.links`, `get.claims` | `get.*` | `wasmbus.ctl.{lattice}.get` |
//! | `linkdefs.put`, `linkdefs.del` | `linkdefs.*` | `wasmbus.ctl.{lattice}.linkdefs` |
//! | `cmd.{host}.scale\|sa\|lp\|sp\|upd\|stop` | `cmd.{own id}.*` | none |
//! | `labels.{host}.put\|del` | `labels.{own id}.*` | none |
//! | `registries.put` | `registries.put` | none |
//! | `auction.actor`, `auction.provider` | `auction.>` | none |
//! | `config.put\|del.{entity}.{key}`, `config.clear\|del.{entity}` | `config.>` | `wasmbus.ctl.{lattice}.config` |
//! | `get.config.{entity}[.{key}]` | `get.config.>` | `wasmbus.ctl.{lattice}.get.config` |
//!
//! Events: `wasmbus.evt.{lattice}` (the general subject, deprecated in 0.82 but still
//! published) and `wasmbus.evt.{lattice}.{event name}`; every event goes to both.
//!
//! The prefix is `wasmbus.ctl` with no `v1` segment (that came after 0.82). Names and keys
//! are validated newtypes ([`LatticeName`], [`HostKey`]); the few free-form tokens (config
//! entity and key) are checked by [`config_token`] so that no caller can change a subject's
//! shape with a `.`.

use lattice_proto::{HostKey, LatticeName, NameError};

use crate::events::EventName;

/// The control-interface prefix (0.82's default topic prefix).
pub const CTL_PREFIX: &str = "wasmbus.ctl";
/// The lattice-event prefix.
pub const EVT_PREFIX: &str = "wasmbus.evt";

/// `wasmbus.ctl.{lattice}`.
pub fn ctl_prefix(lattice: &LatticeName) -> String {
    format!("{CTL_PREFIX}.{lattice}")
}

fn ctl(lattice: &LatticeName, rest: &str) -> String {
    format!("{CTL_PREFIX}.{lattice}.{rest}")
}

/// `wasmbus.ctl.{lattice}.ping.hosts`.
pub fn ping_hosts(lattice: &LatticeName) -> String {
    ctl(lattice, "ping.hosts")
}

/// `wasmbus.ctl.{lattice}.get.{host}.inv`.
pub fn host_inventory(lattice: &LatticeName, host: &HostKey) -> String {
    ctl(lattice, &format!("get.{host}.inv"))
}

/// `wasmbus.ctl.{lattice}.get.links`.
pub fn get_links(lattice: &LatticeName) -> String {
    ctl(lattice, "get.links")
}

/// `wasmbus.ctl.{lattice}.get.claims`.
pub fn get_claims(lattice: &LatticeName) -> String {
    ctl(lattice, "get.claims")
}

/// `wasmbus.ctl.{lattice}.linkdefs.put`.
pub fn linkdefs_put(lattice: &LatticeName) -> String {
    ctl(lattice, "linkdefs.put")
}

/// `wasmbus.ctl.{lattice}.linkdefs.del`.
pub fn linkdefs_del(lattice: &LatticeName) -> String {
    ctl(lattice, "linkdefs.del")
}

fn cmd(lattice: &LatticeName, host: &HostKey, verb: &str) -> String {
    ctl(lattice, &format!("cmd.{host}.{verb}"))
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.scale`.
pub fn scale_actor(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "scale")
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.sa` (stop actor).
pub fn stop_actor(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "sa")
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.lp` (launch provider).
pub fn start_provider(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "lp")
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.sp` (stop provider).
pub fn stop_provider(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "sp")
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.upd` (update actor).
pub fn update_actor(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "upd")
}

/// `wasmbus.ctl.{lattice}.cmd.{host}.stop` (stop host).
pub fn stop_host(lattice: &LatticeName, host: &HostKey) -> String {
    cmd(lattice, host, "stop")
}

/// `wasmbus.ctl.{lattice}.labels.{host}.put`.
pub fn label_put(lattice: &LatticeName, host: &HostKey) -> String {
    ctl(lattice, &format!("labels.{host}.put"))
}

/// `wasmbus.ctl.{lattice}.labels.{host}.del`.
pub fn label_del(lattice: &LatticeName, host: &HostKey) -> String {
    ctl(lattice, &format!("labels.{host}.del"))
}

/// `wasmbus.ctl.{lattice}.registries.put`.
pub fn registries_put(lattice: &LatticeName) -> String {
    ctl(lattice, "registries.put")
}

/// `wasmbus.ctl.{lattice}.auction.actor`.
pub fn auction_actor(lattice: &LatticeName) -> String {
    ctl(lattice, "auction.actor")
}

/// `wasmbus.ctl.{lattice}.auction.provider`.
pub fn auction_provider(lattice: &LatticeName) -> String {
    ctl(lattice, "auction.provider")
}

/// Check a config entity or key for use as one subject token: non-empty, no `.`, `*`, `>`,
/// whitespace or control characters.
pub fn config_token(kind: &'static str, token: &str) -> Result<(), NameError> {
    if token.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if let Some(c) = token.chars().find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control()) {
        return Err(NameError::BadChar { kind, name: token.to_owned(), what: format!("{c:?}") });
    }
    Ok(())
}

fn entity_key(entity: &str, key: &str) -> Result<String, NameError> {
    config_token("config entity", entity)?;
    config_token("config key", key)?;
    Ok(format!("{entity}.{key}"))
}

/// `wasmbus.ctl.{lattice}.config.put.{entity}.{key}`.
pub fn config_put(lattice: &LatticeName, entity: &str, key: &str) -> Result<String, NameError> {
    Ok(ctl(lattice, &format!("config.put.{}", entity_key(entity, key)?)))
}

/// `wasmbus.ctl.{lattice}.config.del.{entity}.{key}`.
pub fn config_del(lattice: &LatticeName, entity: &str, key: &str) -> Result<String, NameError> {
    Ok(ctl(lattice, &format!("config.del.{}", entity_key(entity, key)?)))
}

/// `wasmbus.ctl.{lattice}.config.del.{entity}`: delete all of an entity's config (the
/// client's spelling; hosts also accept `config.clear.{entity}`).
pub fn config_clear(lattice: &LatticeName, entity: &str) -> Result<String, NameError> {
    config_token("config entity", entity)?;
    Ok(ctl(lattice, &format!("config.del.{entity}")))
}

/// `wasmbus.ctl.{lattice}.get.config.{entity}.{key}`.
pub fn config_get(lattice: &LatticeName, entity: &str, key: &str) -> Result<String, NameError> {
    Ok(ctl(lattice, &format!("get.config.{}", entity_key(entity, key)?)))
}

/// `wasmbus.ctl.{lattice}.get.config.{entity}`.
pub fn config_get_all(lattice: &LatticeName, entity: &str) -> Result<String, NameError> {
    config_token("config entity", entity)?;
    Ok(ctl(lattice, &format!("get.config.{entity}")))
}

/// Queue group of `get.*`: `wasmbus.ctl.{lattice}.get`.
pub fn get_queue_group(lattice: &LatticeName) -> String {
    ctl(lattice, "get")
}

/// Queue group of `linkdefs.*`: `wasmbus.ctl.{lattice}.linkdefs`.
pub fn linkdefs_queue_group(lattice: &LatticeName) -> String {
    ctl(lattice, "linkdefs")
}

/// Queue group of `config.>`: `wasmbus.ctl.{lattice}.config`.
pub fn config_queue_group(lattice: &LatticeName) -> String {
    ctl(lattice, "config")
}

/// Queue group of `get.config.>`: `wasmbus.ctl.{lattice}.get.config`.
pub fn config_get_queue_group(lattice: &LatticeName) -> String {
    ctl(lattice, "get.config")
}

/// One subscription a host makes on the control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The subject filter (may end in `*` or `>`).
    pub subject: String,
    /// The queue group, for subjects one host should answer for the lattice.
    pub queue_group: Option<String>,
}

/// Every subscription a host with id `host` makes, as 0.82 does (HOST.md §8b): fan-out for
/// pings, auctions and its own `cmd`/`labels`/inventory subjects, queue groups for the
/// lattice-wide queries, links and config. No catch-all, so hosts never answer for each other.
pub fn host_subscriptions(lattice: &LatticeName, host: &HostKey) -> Vec<Subscription> {
    let plain = |subject: String| Subscription { subject, queue_group: None };
    let queued = |subject: String, group: String| Subscription { subject, queue_group: Some(group) };
    vec![
        plain(registries_put(lattice)),
        plain(ping_hosts(lattice)),
        queued(ctl(lattice, "linkdefs.*"), linkdefs_queue_group(lattice)),
        queued(ctl(lattice, "get.*"), get_queue_group(lattice)),
        plain(ctl(lattice, "auction.>")),
        plain(ctl(lattice, &format!("cmd.{host}.*"))),
        plain(host_inventory(lattice, host)),
        plain(ctl(lattice, &format!("labels.{host}.*"))),
        queued(ctl(lattice, "config.>"), config_queue_group(lattice)),
        queued(ctl(lattice, "get.config.>"), config_get_queue_group(lattice)),
    ]
}

/// `wasmbus.evt.{lattice}`: the general event subject (every event, deprecated but published).
pub fn events(lattice: &LatticeName) -> String {
    format!("{EVT_PREFIX}.{lattice}")
}

/// `wasmbus.evt.{lattice}.{name}`: one event kind's subject.
pub fn event(lattice: &LatticeName, name: EventName) -> String {
    format!("{EVT_PREFIX}.{lattice}.{}", name.as_str())
}

/// `wasmbus.evt.{lattice}.>`: every named event subject (each event once).
pub fn events_wildcard(lattice: &LatticeName) -> String {
    format!("{EVT_PREFIX}.{lattice}.>")
}

/// What an incoming control subject asks for. The body is decoded separately with
/// [`crate::types::decode_body`] into the type each variant names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtlRequest {
    /// `ping.hosts`: reply [`crate::types::Host`].
    PingHosts,
    /// `get.{host}.inv`: reply [`crate::types::HostInventory`].
    HostInventory {
        /// The host asked.
        host: HostKey,
    },
    /// `get.links`: reply [`crate::types::LinkDefinitionList`].
    GetLinks,
    /// `get.claims`: reply [`crate::types::GetClaimsResponse`].
    GetClaims,
    /// `linkdefs.put`: body [`lattice_proto::LinkDefinition`]; ack.
    LinkPut,
    /// `linkdefs.del`: body [`crate::types::RemoveLinkDefinitionRequest`]; ack.
    LinkDel,
    /// `cmd.{host}.scale`: body [`crate::types::ScaleActorCommand`]; ack.
    ScaleActor {
        /// The host addressed.
        host: HostKey,
    },
    /// `cmd.{host}.sa`: body [`crate::types::StopActorCommand`]; ack.
    StopActor {
        /// The host addressed.
        host: HostKey,
    },
    /// `cmd.{host}.lp`: body [`crate::types::StartProviderCommand`]; ack.
    StartProvider {
        /// The host addressed.
        host: HostKey,
    },
    /// `cmd.{host}.sp`: body [`crate::types::StopProviderCommand`]; ack.
    StopProvider {
        /// The host addressed.
        host: HostKey,
    },
    /// `cmd.{host}.upd`: body [`crate::types::UpdateActorCommand`]; ack.
    UpdateActor {
        /// The host addressed.
        host: HostKey,
    },
    /// `cmd.{host}.stop`: body [`crate::types::StopHostCommand`]; ack.
    StopHost {
        /// The host addressed.
        host: HostKey,
    },
    /// `labels.{host}.put`: body [`crate::types::HostLabel`]; ack.
    LabelPut {
        /// The host addressed.
        host: HostKey,
    },
    /// `labels.{host}.del`: body [`crate::types::HostLabel`]; ack.
    LabelDel {
        /// The host addressed.
        host: HostKey,
    },
    /// `registries.put`: body [`crate::types::RegistryCredentialMap`]; published, no reply.
    RegistriesPut,
    /// `auction.actor`: body [`crate::types::ActorAuctionRequest`]; bid
    /// [`crate::types::ActorAuctionAck`] or silence.
    AuctionActor,
    /// `auction.provider`: body [`crate::types::ProviderAuctionRequest`]; bid
    /// [`crate::types::ProviderAuctionAck`] or silence.
    AuctionProvider,
    /// `config.put.{entity}.{key}`: the value bytes; ack.
    ConfigPut {
        /// The entity (actor, provider or named config).
        entity: String,
        /// The key.
        key: String,
    },
    /// `config.del.{entity}.{key}`: ack.
    ConfigDel {
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// `config.clear.{entity}` or `config.del.{entity}`: delete all; ack.
    ConfigClear {
        /// The entity.
        entity: String,
    },
    /// `get.config.{entity}[.{key}]`: reply [`crate::types::GetConfigKeyResponse`] for one key.
    ConfigGet {
        /// The entity.
        entity: String,
        /// The key; `None` asks for all of them.
        key: Option<String>,
    },
    /// Anything else under (or outside) `wasmbus.ctl.{lattice}.`: the host answers
    /// [`crate::types::CtlOperationAck::unsupported_subject`].
    Unsupported {
        /// The subject as received.
        subject: String,
    },
}

impl CtlRequest {
    /// Map an incoming subject of lattice `lattice` to the request it carries.
    pub fn parse(lattice: &LatticeName, subject: &str) -> CtlRequest {
        Self::parse_known(lattice, subject).unwrap_or_else(|| CtlRequest::Unsupported { subject: subject.to_owned() })
    }

    fn parse_known(lattice: &LatticeName, subject: &str) -> Option<CtlRequest> {
        let rest = subject.strip_prefix(CTL_PREFIX)?.strip_prefix('.')?;
        let rest = rest.strip_prefix(lattice.as_str())?.strip_prefix('.')?;
        let tokens: Vec<&str> = rest.split('.').collect();
        if tokens.iter().any(|t| t.is_empty()) {
            return None;
        }
        let host = |t: &str| HostKey::parse(t).ok();
        let owned = |t: &str| t.to_owned();
        Some(match tokens.as_slice() {
            ["ping", "hosts"] => CtlRequest::PingHosts,
            ["get", "links"] => CtlRequest::GetLinks,
            ["get", "claims"] => CtlRequest::GetClaims,
            ["get", "config", entity] => CtlRequest::ConfigGet { entity: owned(entity), key: None },
            ["get", "config", entity, key] => CtlRequest::ConfigGet { entity: owned(entity), key: Some(owned(key)) },
            ["get", h, "inv"] => CtlRequest::HostInventory { host: host(h)? },
            ["linkdefs", "put"] => CtlRequest::LinkPut,
            ["linkdefs", "del"] => CtlRequest::LinkDel,
            ["cmd", h, verb] => {
                let host = host(h)?;
                match *verb {
                    "scale" => CtlRequest::ScaleActor { host },
                    "sa" => CtlRequest::StopActor { host },
                    "lp" => CtlRequest::StartProvider { host },
                    "sp" => CtlRequest::StopProvider { host },
                    "upd" => CtlRequest::UpdateActor { host },
                    "stop" => CtlRequest::StopHost { host },
                    _ => return None,
                }
            }
            ["labels", h, "put"] => CtlRequest::LabelPut { host: host(h)? },
            ["labels", h, "del"] => CtlRequest::LabelDel { host: host(h)? },
            ["registries", "put"] => CtlRequest::RegistriesPut,
            ["auction", "actor"] => CtlRequest::AuctionActor,
            ["auction", "provider"] => CtlRequest::AuctionProvider,
            ["config", "put", entity, key] => CtlRequest::ConfigPut { entity: owned(entity), key: owned(key) },
            ["config", "del", entity, key] => CtlRequest::ConfigDel { entity: owned(entity), key: owned(key) },
            ["config", "del" | "clear", entity] => CtlRequest::ConfigClear { entity: owned(entity) },
            _ => return None,
        })
    }

    /// The host a per-host request addresses (`cmd`, `labels`, `get.{host}.inv`).
    pub fn host(&self) -> Option<&HostKey> {
        match self {
            CtlRequest::HostInventory { host }
            | CtlRequest::ScaleActor { host }
            | CtlRequest::StopActor { host }
            | CtlRequest::StartProvider { host }
            | CtlRequest::StopProvider { host }
            | CtlRequest::UpdateActor { host }
            | CtlRequest::StopHost { host }
            | CtlRequest::LabelPut { host }
            | CtlRequest::LabelDel { host } => Some(host),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "NBJF4DR4L4VUVFJ345MAGAF5IERRB5SPUHDLTO5B2NITTEM3TJHEEN55";

    fn l() -> LatticeName {
        LatticeName::new("default").unwrap()
    }

    fn h() -> HostKey {
        HostKey::parse(HOST).unwrap()
    }

    #[test]
    fn pins_every_control_subject() {
        let (l, h) = (l(), h());
        let cases: Vec<(String, String)> = vec![
            (ctl_prefix(&l), "wasmbus.ctl.default".into()),
            (ping_hosts(&l), "wasmbus.ctl.default.ping.hosts".into()),
            (host_inventory(&l, &h), format!("wasmbus.ctl.default.get.{HOST}.inv")),
            (get_links(&l), "wasmbus.ctl.default.get.links".into()),
            (get_claims(&l), "wasmbus.ctl.default.get.claims".into()),
            (linkdefs_put(&l), "wasmbus.ctl.default.linkdefs.put".into()),
            (linkdefs_del(&l), "wasmbus.ctl.default.linkdefs.del".into()),
            (scale_actor(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.scale")),
            (stop_actor(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.sa")),
            (start_provider(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.lp")),
            (stop_provider(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.sp")),
            (update_actor(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.upd")),
            (stop_host(&l, &h), format!("wasmbus.ctl.default.cmd.{HOST}.stop")),
            (label_put(&l, &h), format!("wasmbus.ctl.default.labels.{HOST}.put")),
            (label_del(&l, &h), format!("wasmbus.ctl.default.labels.{HOST}.del")),
            (registries_put(&l), "wasmbus.ctl.default.registries.put".into()),
            (auction_actor(&l), "wasmbus.ctl.default.auction.actor".into()),
            (auction_provider(&l), "wasmbus.ctl.default.auction.provider".into()),
            (config_put(&l, "MACTOR", "k").unwrap(), "wasmbus.ctl.default.config.put.MACTOR.k".into()),
            (config_del(&l, "MACTOR", "k").unwrap(), "wasmbus.ctl.default.config.del.MACTOR.k".into()),
            (config_clear(&l, "MACTOR").unwrap(), "wasmbus.ctl.default.config.del.MACTOR".into()),
            (config_get(&l, "MACTOR", "k").unwrap(), "wasmbus.ctl.default.get.config.MACTOR.k".into()),
            (config_get_all(&l, "MACTOR").unwrap(), "wasmbus.ctl.default.get.config.MACTOR".into()),
            (get_queue_group(&l), "wasmbus.ctl.default.get".into()),
            (linkdefs_queue_group(&l), "wasmbus.ctl.default.linkdefs".into()),
            (config_queue_group(&l), "wasmbus.ctl.default.config".into()),
            (config_get_queue_group(&l), "wasmbus.ctl.default.get.config".into()),
        ];
        for (built, pinned) in cases {
            assert_eq!(built, pinned);
        }
    }

    #[test]
    fn pins_event_subjects() {
        let l = l();
        assert_eq!(events(&l), "wasmbus.evt.default");
        assert_eq!(events_wildcard(&l), "wasmbus.evt.default.>");
        assert_eq!(event(&l, EventName::ActorsStarted), "wasmbus.evt.default.actors_started");
        assert_eq!(event(&l, EventName::HostHeartbeat), "wasmbus.evt.default.host_heartbeat");
        let other = LatticeName::new("prod-eu").unwrap();
        assert_eq!(event(&other, EventName::LinkdefSet), "wasmbus.evt.prod-eu.linkdef_set");
    }

    #[test]
    fn pins_host_subscriptions() {
        let subs = host_subscriptions(&l(), &h());
        let got: Vec<(&str, Option<&str>)> =
            subs.iter().map(|s| (s.subject.as_str(), s.queue_group.as_deref())).collect();
        let cmd = format!("wasmbus.ctl.default.cmd.{HOST}.*");
        let inv = format!("wasmbus.ctl.default.get.{HOST}.inv");
        let labels = format!("wasmbus.ctl.default.labels.{HOST}.*");
        assert_eq!(
            got,
            vec![
                ("wasmbus.ctl.default.registries.put", None),
                ("wasmbus.ctl.default.ping.hosts", None),
                ("wasmbus.ctl.default.linkdefs.*", Some("wasmbus.ctl.default.linkdefs")),
                ("wasmbus.ctl.default.get.*", Some("wasmbus.ctl.default.get")),
                ("wasmbus.ctl.default.auction.>", None),
                (cmd.as_str(), None),
                (inv.as_str(), None),
                (labels.as_str(), None),
                ("wasmbus.ctl.default.config.>", Some("wasmbus.ctl.default.config")),
                ("wasmbus.ctl.default.get.config.>", Some("wasmbus.ctl.default.get.config")),
            ]
        );
    }

    #[test]
    fn config_tokens_are_checked() {
        assert!(config_put(&l(), "a.b", "k").is_err());
        assert!(config_put(&l(), "a", "").is_err());
        assert!(config_get_all(&l(), "a>").is_err());
        assert!(config_clear(&l(), "a b").is_err());
    }

    #[test]
    fn parse_inverts_every_builder() {
        let (l, h) = (l(), h());
        let host = || h.clone();
        let cases = vec![
            (ping_hosts(&l), CtlRequest::PingHosts),
            (host_inventory(&l, &h), CtlRequest::HostInventory { host: host() }),
            (get_links(&l), CtlRequest::GetLinks),
            (get_claims(&l), CtlRequest::GetClaims),
            (linkdefs_put(&l), CtlRequest::LinkPut),
            (linkdefs_del(&l), CtlRequest::LinkDel),
            (scale_actor(&l, &h), CtlRequest::ScaleActor { host: host() }),
            (stop_actor(&l, &h), CtlRequest::StopActor { host: host() }),
            (start_provider(&l, &h), CtlRequest::StartProvider { host: host() }),
            (stop_provider(&l, &h), CtlRequest::StopProvider { host: host() }),
            (update_actor(&l, &h), CtlRequest::UpdateActor { host: host() }),
            (stop_host(&l, &h), CtlRequest::StopHost { host: host() }),
            (label_put(&l, &h), CtlRequest::LabelPut { host: host() }),
            (label_del(&l, &h), CtlRequest::LabelDel { host: host() }),
            (registries_put(&l), CtlRequest::RegistriesPut),
            (auction_actor(&l), CtlRequest::AuctionActor),
            (auction_provider(&l), CtlRequest::AuctionProvider),
            (config_put(&l, "e", "k").unwrap(), CtlRequest::ConfigPut { entity: "e".into(), key: "k".into() }),
            (config_del(&l, "e", "k").unwrap(), CtlRequest::ConfigDel { entity: "e".into(), key: "k".into() }),
            (config_clear(&l, "e").unwrap(), CtlRequest::ConfigClear { entity: "e".into() }),
            ("wasmbus.ctl.default.config.clear.e".into(), CtlRequest::ConfigClear { entity: "e".into() }),
            (config_get(&l, "e", "k").unwrap(), CtlRequest::ConfigGet { entity: "e".into(), key: Some("k".into()) }),
            (config_get_all(&l, "e").unwrap(), CtlRequest::ConfigGet { entity: "e".into(), key: None }),
        ];
        for (subject, want) in cases {
            let got = CtlRequest::parse(&l, &subject);
            assert_eq!(got, want, "{subject}");
            assert_eq!(got.host().is_some(), subject.contains(HOST), "{subject}");
        }
    }

    #[test]
    fn parse_reports_unsupported() {
        let l = l();
        for subject in [
            "wasmbus.ctl.default.bogus.thing".to_owned(),
            "wasmbus.ctl.default.get.bogus".to_owned(),
            "wasmbus.ctl.default.linkdefs.get".to_owned(),
            format!("wasmbus.ctl.default.cmd.{HOST}.la"),
            format!("wasmbus.ctl.default.cmd.{HOST}.scale.extra"),
            "wasmbus.ctl.default.cmd.NOTAKEY.scale".to_owned(),
            format!("wasmbus.ctl.other.cmd.{HOST}.scale"),
            format!("wasmbus.ctl.v1.default.cmd.{HOST}.scale"),
            "wasmbus.ctl.default.ping..hosts".to_owned(),
            "wasmbus.ctl.default".to_owned(),
            "wasmbus.ctl.defaultx.ping.hosts".to_owned(),
            "wasmbus.rpc.default.ping.hosts".to_owned(),
        ] {
            assert_eq!(CtlRequest::parse(&l, &subject), CtlRequest::Unsupported { subject: subject.clone() });
        }
    }
}
