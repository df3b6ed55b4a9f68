//! Lattice events: the CloudEvents 1.0 JSON envelope a 0.82 host publishes, and typed data
//! for every event name it emits (HOST.md §3 "Lattice events").
//!
//! The envelope is byte-identical to 0.82's (cloudevents-sdk `EventBuilderV10`, serialized
//! with serde_json): keys in the order `specversion, id, type, source, datacontenttype,
//! time, data`; `type` is `com.wasmcloud.lattice.{name}`; `source` the host's public key;
//! `time` RFC 3339 UTC with 0, 3, 6 or 9 fraction digits (chrono's `AutoSi`); `data` a JSON
//! object with its keys sorted (0.82 builds it with `json!`, whose map is sorted), which is
//! why every data struct below lists its fields alphabetically.
//!
//! Nothing here reads a clock or makes an id: [`CloudEvent::new`] takes the event id
//! (0.82 uses a UUID made from a ULID, so ids sort by time) and a [`Timestamp`].
//! Publishing (on [`crate::subjects::events`] *and* [`crate::subjects::event`], same bytes)
//! is the host's job.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use lattice_proto::{HostKey, LinkDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ControlError;
use crate::storage::linkdef_hash;
use crate::types::{AnnotationMap, HostInventory, LabelMap, to_json};

/// The CloudEvents spec version of every event.
pub const SPEC_VERSION: &str = "1.0";
/// The prefix of every event's `type`.
pub const EVENT_TYPE_PREFIX: &str = "com.wasmcloud.lattice.";
/// The `datacontenttype` of every event.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// What 0.82 puts in `not_before_human` / `expires_human` of event claims, literally.
pub const HUMAN_TIME_PLACEHOLDER: &str = "TODO";

/// Declares every lattice event from one table (`Variant(DataType) => "wire_name"`): the
/// [`EventName`] enum with its wire names, and the [`LatticeEvent`] enum that carries each
/// event's typed data, so that the two cannot disagree.
macro_rules! lattice_events {
    ($($(#[$doc:meta])* $variant:ident($data:ty) => $name:literal,)*) => {
        /// The name of a lattice event (the `{name}` of its type and subject).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventName {
            $($(#[$doc])* $variant,)*
        }

        impl EventName {
            /// Every event name 0.82 emits.
            pub const ALL: &'static [EventName] = &[$(EventName::$variant,)*];

            /// The wire name (`actors_started`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventName::$variant => $name,)*
                }
            }
        }

        impl FromStr for EventName {
            type Err = ControlError;

            fn from_str(s: &str) -> Result<Self, ControlError> {
                match s {
                    $($name => Ok(EventName::$variant),)*
                    _ => Err(ControlError::invalid("lattice event", format!("unknown event name `{s}`"))),
                }
            }
        }

        /// A lattice event: its name and typed data.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum LatticeEvent {
            $(#[doc = concat!("`", $name, "`: ")] $(#[$doc])* $variant($data),)*
        }

        impl LatticeEvent {
            /// The event's name.
            pub fn name(&self) -> EventName {
                match self {
                    $(LatticeEvent::$variant(_) => EventName::$variant,)*
                }
            }

            /// The event's `data`, keys sorted at every level (as 0.82's `json!` builds it).
            pub fn to_data(&self) -> Value {
                let value = match self {
                    $(LatticeEvent::$variant(data) => serde_json::to_value(data),)*
                };
                // These types have string keys only and plain fields: serializing cannot fail.
                sorted(value.unwrap_or_default())
            }

            /// Type the `data` of an event called `name`.
            pub fn from_data(name: EventName, data: Value) -> Result<Self, ControlError> {
                Ok(match name {
                    $(EventName::$variant => LatticeEvent::$variant(decode_data(data)?),)*
                })
            }
        }
    };
}

lattice_events! {
    /// An actor was started from 0 (or more instances were added): `count` is the new limit.
    ActorsStarted(ActorsStartedData) => "actors_started",
    /// An actor was scaled down or stopped.
    ActorsStopped(ActorsStoppedData) => "actors_stopped",
    /// An actor's `max_instances` changed.
    ActorScaled(ActorScaledData) => "actor_scaled",
    /// Scaling an actor failed after the command was acked.
    ActorScaleFailed(ActorScaleFailedData) => "actor_scale_failed",
    /// Starting an actor failed after the command was acked.
    ActorsStartFailed(ActorsStartFailedData) => "actors_start_failed",
    /// A provider started.
    ProviderStarted(ProviderStartedData) => "provider_started",
    /// A provider stopped.
    ProviderStopped(ProviderStoppedData) => "provider_stopped",
    /// Starting a provider failed after the command was acked.
    ProviderStartFailed(ProviderStartFailedData) => "provider_start_failed",
    /// A link was stored.
    LinkdefSet(LinkdefEventData) => "linkdef_set",
    /// A link was deleted.
    LinkdefDeleted(LinkdefEventData) => "linkdef_deleted",
    /// A provider's health check passed after not passing (or for the first time).
    HealthCheckPassed(HealthCheckData) => "health_check_passed",
    /// A provider's health check failed after passing.
    HealthCheckFailed(HealthCheckData) => "health_check_failed",
    /// A provider's health check gave the same answer as the previous one.
    HealthCheckStatus(HealthCheckData) => "health_check_status",
    /// A host started.
    HostStarted(HostStartedData) => "host_started",
    /// A host stopped.
    HostStopped(HostStoppedData) => "host_stopped",
    /// A host's periodic inventory.
    HostHeartbeat(HostInventory) => "host_heartbeat",
    /// A config key was set.
    ConfigSet(ConfigEventData) => "config_set",
    /// A config key was deleted.
    ConfigDeleted(ConfigEventData) => "config_deleted",
}

impl EventName {
    /// The CloudEvents `type`: `com.wasmcloud.lattice.{name}`.
    pub fn event_type(self) -> String {
        format!("{EVENT_TYPE_PREFIX}{}", self.as_str())
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 3339 UTC time as 0.82 writes it: `2026-11-24T15:55:50.938112807Z`, with 0, 3, 6
/// or 9 fraction digits (the fewest of those that are exact).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Format a wall-clock time (the publisher reads the clock, not this crate).
    pub fn from_system_time(t: SystemTime) -> Self {
        Self::format(OffsetDateTime::from(t))
    }

    /// Format nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self, ControlError> {
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(Self::format)
            .map_err(|e| ControlError::invalid("timestamp", e.to_string()))
    }

    /// Check and keep an RFC 3339 text as given (for events read off the wire).
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|_| Self(text.to_owned()))
            .map_err(|e| ControlError::invalid("timestamp", format!("'{text}' is not RFC 3339: {e}")))
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        // Every Timestamp was formatted or parsed as RFC 3339, so this parse succeeds.
        OffsetDateTime::parse(&self.0, &Rfc3339).map(OffsetDateTime::unix_timestamp_nanos).unwrap_or_default()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn format(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let nanos = t.nanosecond();
        let fraction = if nanos == 0 {
            String::new()
        } else if nanos.is_multiple_of(1_000_000) {
            format!(".{:03}", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!(".{:06}", nanos / 1_000)
        } else {
            format!(".{nanos:09}")
        };
        Self(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The CloudEvents 1.0 envelope of a lattice event, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// A unique id.
    pub id: String,
    /// `com.wasmcloud.lattice.{name}`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The publishing host's public key.
    pub source: String,
    /// `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// When the event happened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The event's data (see [`LatticeEvent`]).
    #[serde(default)]
    pub data: Value,
}

impl CloudEvent {
    /// Wrap `event` as host `source` publishes it, with the given id and time.
    pub fn new(source: &HostKey, id: uuid::Uuid, time: &Timestamp, event: &LatticeEvent) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id: id.to_string(),
            ty: event.name().event_type(),
            source: source.to_string(),
            datacontenttype: Some(DATA_CONTENT_TYPE.to_owned()),
            time: Some(time.as_str().to_owned()),
            data: event.to_data(),
        }
    }

    /// The JSON bytes to publish.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decode an envelope read off the wire.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ControlError> {
        let event: CloudEvent = serde_json::from_slice(bytes).map_err(|e| ControlError::decode("cloud event", &e))?;
        if event.specversion != SPEC_VERSION {
            return Err(ControlError::invalid(
                "cloud event",
                format!("specversion is '{}', expected '{SPEC_VERSION}'", event.specversion),
            ));
        }
        Ok(event)
    }

    /// The event name (`type` without `com.wasmcloud.lattice.`), if it is a lattice event.
    pub fn name(&self) -> Option<&str> {
        self.ty.strip_prefix(EVENT_TYPE_PREFIX)
    }

    /// The event time, if present and valid.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.time.as_deref().and_then(|t| Timestamp::parse(t).ok())
    }

    /// The typed event. Fails for a name 0.82 does not emit or data of the wrong shape.
    pub fn event(&self) -> Result<LatticeEvent, ControlError> {
        let name = self.name().ok_or_else(|| {
            ControlError::invalid("lattice event", format!("type '{}' is not a lattice event", self.ty))
        })?;
        LatticeEvent::from_data(name.parse()?, self.data.clone())
    }
}

/// The claims summary in actor events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorClaimsData {
    /// The actor's call alias (`null` when none).
    pub call_alias: Option<String>,
    /// Capability contracts.
    pub caps: Option<Vec<String>>,
    /// When the claims expire, human-readable (0.82: [`HUMAN_TIME_PLACEHOLDER`]).
    pub expires_human: String,
    /// The account that signed the actor.
    pub issuer: String,
    /// The actor's name.
    pub name: Option<String>,
    /// When the claims become valid, human-readable (0.82: [`HUMAN_TIME_PLACEHOLDER`]).
    pub not_before_human: String,
    /// The claims revision.
    pub revision: Option<i32>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// The actor's version.
    pub version: Option<String>,
}

/// The claims summary in `provider_started` (`tags` is always `null` in 0.82).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderClaimsData {
    /// When the claims expire, human-readable.
    pub expires_human: String,
    /// The account that signed the provider.
    pub issuer: String,
    /// The provider's name.
    pub name: Option<String>,
    /// When the claims become valid, human-readable.
    pub not_before_human: String,
    /// Tags (always `null` from 0.82).
    pub tags: Option<Vec<String>>,
    /// The provider's version.
    pub version: Option<String>,
}

/// `actors_started`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorsStartedData {
    /// Annotations of the scale request.
    pub annotations: AnnotationMap,
    /// The actor's claims.
    pub claims: ActorClaimsData,
    /// The new `max_instances`.
    pub count: u64,
    /// The host.
    pub host_id: String,
    /// The reference it was started from.
    pub image_ref: String,
    /// The actor's public key.
    pub public_key: String,
}

/// `actors_stopped`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorsStoppedData {
    /// Annotations of the instances stopped.
    pub annotations: AnnotationMap,
    /// How many were stopped (the previous `max_instances` when stopping all).
    pub count: u64,
    /// The host.
    pub host_id: String,
    /// The actor's reference.
    pub image_ref: String,
    /// The actor's public key.
    pub public_key: String,
    /// How many remain.
    pub remaining: u64,
}

/// `actor_scaled`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorScaledData {
    /// Annotations of the scale request.
    pub annotations: AnnotationMap,
    /// The actor's claims (0.82 sends them; older hosts did not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<ActorClaimsData>,
    /// The host.
    pub host_id: String,
    /// The actor's reference.
    pub image_ref: String,
    /// The `max_instances` (0.82 reports the previous limit when scaling to 0).
    pub max_instances: u64,
    /// The actor's public key.
    pub public_key: String,
}

/// `actor_scale_failed` (`error` is the full error chain).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorScaleFailedData {
    /// Annotations of the scale request.
    pub annotations: AnnotationMap,
    /// What went wrong.
    pub error: String,
    /// The host.
    pub host_id: String,
    /// The actor's reference.
    pub image_ref: String,
    /// The requested `max_instances`.
    pub max_instances: u64,
    /// The actor's public key (empty if its claims could not be read).
    pub public_key: String,
}

/// `actors_start_failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorsStartFailedData {
    /// Annotations of the request.
    pub annotations: AnnotationMap,
    /// What went wrong.
    pub error: String,
    /// The host.
    pub host_id: String,
    /// The actor's reference.
    pub image_ref: String,
    /// The actor's public key (empty if its claims could not be read).
    pub public_key: String,
}

/// `provider_started`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderStartedData {
    /// Annotations of the start request.
    pub annotations: AnnotationMap,
    /// The provider's claims.
    pub claims: ProviderClaimsData,
    /// The contract it implements.
    pub contract_id: String,
    /// The host.
    pub host_id: String,
    /// The reference it was started from.
    pub image_ref: String,
    /// The instance id (HostData `instance_id`).
    pub instance_id: String,
    /// Its link name.
    pub link_name: String,
    /// The provider's public key.
    pub public_key: String,
}

/// `provider_start_failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderStartFailedData {
    /// What went wrong.
    pub error: String,
    /// The requested link name.
    pub link_name: String,
    /// The requested reference.
    pub provider_ref: String,
}

/// `provider_stopped`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderStoppedData {
    /// Annotations of the start request.
    pub annotations: AnnotationMap,
    /// The contract it implements.
    pub contract_id: String,
    /// The host.
    pub host_id: String,
    /// The instance id.
    pub instance_id: String,
    /// Its link name.
    pub link_name: String,
    /// The provider's public key.
    pub public_key: String,
    /// Why it stopped.
    pub reason: String,
}

/// `linkdef_set` and `linkdef_deleted`: the link plus its id (the `LINKDEF_` key suffix).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkdefEventData {
    /// The actor's public key.
    pub actor_id: String,
    /// The contract.
    pub contract_id: String,
    /// [`crate::storage::linkdef_hash`] of the link.
    pub id: String,
    /// The link name.
    pub link_name: String,
    /// The provider's public key.
    pub provider_id: String,
    /// The link values.
    pub values: BTreeMap<String, String>,
}

impl From<&LinkDefinition> for LinkdefEventData {
    fn from(ld: &LinkDefinition) -> Self {
        Self {
            actor_id: ld.actor_id.clone(),
            contract_id: ld.contract_id.clone(),
            id: linkdef_hash(&ld.actor_id, &ld.contract_id, &ld.link_name),
            link_name: ld.link_name.clone(),
            provider_id: ld.provider_id.clone(),
            values: ld.values.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        }
    }
}

/// `health_check_passed`, `health_check_failed`, `health_check_status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheckData {
    /// The provider's contract.
    pub contract_id: String,
    /// The provider's link name.
    pub link_name: String,
    /// The provider's public key.
    pub public_key: String,
}

/// `host_started`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostStartedData {
    /// Human-friendly host name.
    pub friendly_name: String,
    /// Host labels.
    pub labels: LabelMap,
    /// Always 0.
    pub uptime_seconds: u64,
    /// Host software version.
    pub version: String,
}

/// `host_stopped`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostStoppedData {
    /// Host labels.
    pub labels: LabelMap,
}

/// `config_set` and `config_deleted`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigEventData {
    /// The entity.
    pub entity_id: String,
    /// The key.
    pub key: String,
}

/// Decode an event's `data` as the type its name calls for.
fn decode_data<T: DeserializeOwned>(data: Value) -> Result<T, ControlError> {
    serde_json::from_value(data).map_err(|e| ControlError::decode("lattice event data", &e))
}

/// Rebuild every object with its keys in sorted order (a no-op unless serde_json's
/// `preserve_order` feature is on somewhere in the build).
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(EventName::ALL.len(), 18);
        for name in EventName::ALL {
            assert_eq!(name.as_str().parse::<EventName>().unwrap(), *name);
            assert_eq!(name.event_type(), format!("com.wasmcloud.lattice.{name}"));
        }
        assert!("actor_started".parse::<EventName>().is_err());
    }

    #[test]
    fn timestamps_use_autosi_fractions() {
        let base: i128 = 1_795_535_750 * 1_000_000_000;
        let cases = [
            (0, "2026-11-24T15:55:50Z"),
            (500_000_000, "2026-11-24T15:55:50.500Z"),
            (938_112_000, "2026-11-24T15:55:50.938112Z"),
            (938_112_807, "2026-11-24T15:55:50.938112807Z"),
            (1_000, "2026-11-24T15:55:50.000001Z"),
        ];
        for (nanos, text) in cases {
            let t = Timestamp::from_unix_nanos(base + nanos).unwrap();
            assert_eq!(t.as_str(), text);
            assert_eq!(Timestamp::parse(text).unwrap().unix_nanos(), base + nanos);
        }
        let st = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_535_750, 938_112_807);
        assert_eq!(Timestamp::from_system_time(st).as_str(), "2026-11-24T15:55:50.938112807Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn sorted_orders_nested_objects() {
        let v = serde_json::json!({"b": {"z": 1, "a": [{"y": 1, "x": 2}]}, "a": null});
        assert_eq!(serde_json::to_string(&sorted(v)).unwrap(), r#"{"a":null,"b":{"a":[{"x":2,"y":1}],"z":1}}"#);
    }
}
