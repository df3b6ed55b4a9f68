//! The JSON bodies of the control interface: every request, reply and ack of HOST.md §3.
//!
//! Field names, order and optionality follow what wasmCloud 0.82 hosts and the
//! `wasmcloud-control-interface` 0.33 client put on the wire (the structs of
//! `crates/control-interface/src/types.rs` of that era, checked against
//! `vectors/host082/transcript.jsonl`). Field order matters only for byte-identical
//! output; every reply also round-trips as a JSON *value*.
//!
//! Two directions, two rules:
//! - **Replies** (what a host answers, what [`crate::CtlClient`] reads) decode leniently:
//!   every field has a default, unknown fields are ignored, as the 0.33 client does.
//!   `#[serde(default)]` on a struct fills a missing field from the struct's derived
//!   `Default` (the field type's default); a field's own `default = "…"` wins over it.
//! - **Requests** (what a host reads) decode strictly through [`decode_body`]: the body must
//!   be a JSON *object* (0.82 accepted `[]` as a scale command with every field defaulted and
//!   scaled the actor to 0; Lattice refuses it) and must pass [`CtlBody::validate`]. The
//!   error's text is what the host puts in its `accepted:false` ack.
//!
//! Link definitions are [`lattice_proto::LinkDefinition`], whose serde form is exactly the
//! 0.82 JSON (`actor_id, provider_id, link_name, contract_id, values`; an `id` key is
//! ignored on input).

use std::collections::BTreeMap;

use lattice_proto::{ActorKey, LinkDefinition, LinkName, ProviderKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ControlError, RuleError};

/// Host labels (`hostcore.arch`, `zone`, …), sorted.
pub type LabelMap = BTreeMap<String, String>;
/// Annotations attached to a start or scale request, sorted.
pub type AnnotationMap = BTreeMap<String, String>;
/// Auction constraints: labels a host must carry to bid.
pub type ConstraintMap = BTreeMap<String, String>;
/// One claims entry of a `get.claims` reply (both short and long key names).
pub type ClaimsMap = BTreeMap<String, String>;
/// Registry name → credentials, as sent on `registries.put`.
pub type RegistryCredentialMap = BTreeMap<String, RegistryCredential>;

/// The exact bytes of a successful command ack (0.82's `ACCEPTED` constant).
pub const ACCEPTED: &str = r#"{"accepted":true,"error":""}"#;

/// The `error` of the ack a host sends for a subject it subscribes to but does not handle.
pub const UNSUPPORTED_SUBJECT: &str = "unsupported subject";

/// The answer to every command: `{"accepted":true,"error":""}` or
/// `{"accepted":false,"error":"…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtlOperationAck {
    /// Whether the host accepted the command (not whether the work has finished).
    pub accepted: bool,
    /// Why it was not accepted; empty when it was.
    pub error: String,
}

impl CtlOperationAck {
    /// The success ack.
    pub fn accepted() -> Self {
        Self { accepted: true, error: String::new() }
    }

    /// A refusal with a reason.
    pub fn rejected(error: impl Into<String>) -> Self {
        Self { accepted: false, error: error.into() }
    }

    /// The ack for a subject the host subscribes to but does not handle.
    pub fn unsupported_subject() -> Self {
        Self::rejected(UNSUPPORTED_SUBJECT)
    }

    /// The JSON bytes of this ack (byte-identical to 0.82's: [`ACCEPTED`] on success; the
    /// error is escaped by a JSON serializer, which 0.82's `format!` did not do).
    pub fn to_json(&self) -> Vec<u8> {
        if self.accepted && self.error.is_empty() {
            return ACCEPTED.as_bytes().to_vec();
        }
        to_json(self)
    }

    /// `Ok(())` if accepted, else [`ControlError::Rejected`] with the ack's error text
    /// (`subject`: where the request was sent).
    pub fn into_result(self, subject: impl Into<String>) -> Result<(), ControlError> {
        if self.accepted { Ok(()) } else { Err(ControlError::Rejected { subject: subject.into(), error: self.error }) }
    }
}

impl From<&ControlError> for CtlOperationAck {
    fn from(err: &ControlError) -> Self {
        Self::rejected(lattice_proto::chain(err))
    }
}

/// The `ping.hosts` reply: one per host, plain JSON (no ack wrapper).
///
/// Every key is always present, `js_domain` as `null` when there is none, as 0.82 sends it
/// (fields in alphabetical order, the order of 0.82's `json!` map).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Host {
    /// Trusted cluster issuers, comma-joined (see [`Host::cluster_issuer_list`]).
    pub cluster_issuers: String,
    /// URL of the control connection's NATS server.
    pub ctl_host: String,
    /// Human-friendly host name.
    pub friendly_name: String,
    /// The host's public key (`N…`).
    pub id: String,
    /// The cluster key the host signs invocations with (`C…`).
    pub issuer: String,
    /// JetStream domain, if any.
    pub js_domain: Option<String>,
    /// Host labels.
    pub labels: LabelMap,
    /// The lattice name (0.33 name of the field).
    pub lattice: String,
    /// The lattice name (pre-0.33 name of the field; 0.82 sends both).
    pub lattice_prefix: String,
    /// URL of the RPC connection's NATS server.
    pub rpc_host: String,
    /// Uptime, human-readable (`2s`, `1h 3m 2s`).
    pub uptime_human: String,
    /// Uptime in seconds.
    pub uptime_seconds: u64,
    /// Host software version.
    pub version: String,
    /// Lattice extension: the host's own view of its two NATS connections. Sent only to
    /// a client that asks for it ([`PingHostsRequest`]), so a 0.82 client's `ping.hosts`
    /// gets exactly the keys a 0.82 host sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<HostConnections>,
}

/// The body of a `ping.hosts` request. 0.82 clients send none; Lattice's `lattice get
/// hosts` sends `{"lattice_connections":true}` to get [`Host::connections`] too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PingHostsRequest {
    /// Include the host's connection report.
    pub lattice_connections: bool,
}

impl PingHostsRequest {
    /// What a request body asks for: anything that is not such an object (an empty body,
    /// as 0.82 sends) asks for the plain 0.82 reply.
    pub fn from_body(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

/// The host's RPC and control connections, as the `ping.hosts` reply reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConnections {
    /// The connection invocations travel on.
    pub rpc: ConnectionReport,
    /// The control-interface connection (the one this reply came on).
    pub ctl: ConnectionReport,
}

/// One connection's state and recent history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionReport {
    /// Up now.
    pub connected: bool,
    /// How long it has been in its present state, in milliseconds.
    pub state_ms: u64,
    /// How many times it has dropped since the host started.
    pub disconnects: u64,
    /// How long the last completed outage lasted, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outage_ms: Option<u64>,
}

impl ConnectionReport {
    /// One line for people: `up`, `up (2 drops, last outage 0.31 s, 12 s ago)` or
    /// `DOWN for 3.2 s`.
    pub fn summary(&self) -> String {
        let secs = |ms: u64| ms as f64 / 1000.0;
        if !self.connected {
            return format!("DOWN for {:.1} s", secs(self.state_ms));
        }
        match (self.disconnects, self.last_outage_ms) {
            (0, _) => "up".to_owned(),
            (n, Some(outage)) => {
                let drops = if n == 1 { "1 drop".to_owned() } else { format!("{n} drops") };
                format!("up ({drops}, last outage {:.2} s, {:.0} s ago)", secs(outage), secs(self.state_ms))
            }
            (n, None) => format!("up ({n} drops)"),
        }
    }
}

impl HostConnections {
    /// Both connections in one line: `up` when both are up and never dropped, else each
    /// named (`rpc DOWN for 3.2 s; ctl up`).
    pub fn summary(&self) -> String {
        let (rpc, ctl) = (self.rpc.summary(), self.ctl.summary());
        if rpc == "up" && ctl == "up" { "up".to_owned() } else { format!("rpc {rpc}; ctl {ctl}") }
    }
}

impl Host {
    /// The cluster issuers as a list (the wire form is one comma-joined string).
    pub fn cluster_issuer_list(&self) -> Vec<&str> {
        split_list(&self.cluster_issuers)
    }
}

/// The `get.{host}.inv` reply, and the data of the `host_heartbeat` event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInventory {
    /// Actors running on the host.
    pub actors: Vec<ActorDescription>,
    /// Providers running on the host.
    pub providers: Vec<ProviderDescription>,
    /// The host's public key.
    pub host_id: String,
    /// The host's cluster issuer key.
    pub issuer: String,
    /// Human-friendly host name.
    pub friendly_name: String,
    /// Host labels.
    pub labels: LabelMap,
    /// Host software version.
    pub version: String,
    /// Uptime, human-readable.
    pub uptime_human: String,
    /// Uptime in seconds.
    pub uptime_seconds: u64,
}

/// One actor in an inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorDescription {
    /// The actor's public key (`M…`).
    #[serde(alias = "public_key")]
    pub id: String,
    /// The reference it was started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// One entry per annotation set.
    pub instances: Vec<ActorInstance>,
    /// The name from the actor's claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One annotation set of a running actor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorInstance {
    /// The annotations of the start/scale request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The reference it was started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// A unique id for this entry.
    pub instance_id: String,
    /// The claims revision.
    pub revision: i32,
    /// The concurrency limit set by the last scale.
    pub max_instances: u32,
}

/// One provider in an inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderDescription {
    /// The annotations of the start request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The provider's public key (`V…`).
    #[serde(alias = "public_key")]
    pub id: String,
    /// The reference it was started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// The contract it implements.
    pub contract_id: String,
    /// Its link name.
    pub link_name: String,
    /// The name from its claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The claims revision.
    pub revision: i32,
}

/// The `get.links` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkDefinitionList {
    /// Every link in the lattice.
    pub links: Vec<LinkDefinition>,
}

/// The `get.claims` reply: one string map per actor or provider (see
/// [`crate::storage::StoredClaims::to_claims_map`] for the keys).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetClaimsResponse {
    /// The claims maps.
    pub claims: Vec<ClaimsMap>,
}

/// The `get.config.{entity}.{key}` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetConfigKeyResponse {
    /// Whether the key exists.
    pub found: bool,
    /// The value's bytes (a JSON array of numbers, as 0.33 encodes `Vec<u8>`).
    pub data: Vec<u8>,
}

/// `cmd.{host}.scale`: set an actor's `max_instances` on a host (`count` on the wire); 0 stops it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleActorCommand {
    /// The actor's reference (`file://…`); 0.82 scales by reference.
    #[serde(default)]
    pub actor_ref: String,
    /// Annotations identifying this deployment of the actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The new concurrency limit. Required (a missing count would silently mean "stop").
    #[serde(rename = "count", alias = "max_instances")]
    pub max_instances: u32,
    /// The host the command is for.
    #[serde(default)]
    pub host_id: String,
}

/// `cmd.{host}.sa`: stop an actor (by public key in 0.82; Lattice also takes its reference).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopActorCommand {
    /// The actor's public key or reference.
    pub actor_ref: String,
    /// Only stop the instances with these annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The host the command is for.
    pub host_id: String,
}

/// `cmd.{host}.lp`: launch a provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartProviderCommand {
    /// Annotations identifying this deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// Opaque provider configuration (HostData `config_json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    /// The host the command is for.
    pub host_id: String,
    /// The link name to start the provider under.
    #[serde(default = "default_link_name")]
    pub link_name: String,
    /// The provider's reference (`file://…par.gz`).
    pub provider_ref: String,
}

/// `cmd.{host}.sp`: stop a provider (by public key in 0.82; Lattice also takes its reference).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopProviderCommand {
    /// Annotations of the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The provider's contract (ignored by 0.82).
    pub contract_id: String,
    /// The host the command is for.
    pub host_id: String,
    /// The provider's link name.
    #[serde(default = "default_link_name")]
    pub link_name: String,
    /// The provider's public key or reference.
    pub provider_ref: String,
}

/// `cmd.{host}.upd`: replace a running actor with another reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateActorCommand {
    /// The running actor's public key.
    pub actor_id: String,
    /// Only update the instances with these annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<AnnotationMap>,
    /// The host the command is for.
    pub host_id: String,
    /// The new reference.
    pub new_actor_ref: String,
}

/// `cmd.{host}.stop`: stop the host. The 0.33 client sends `{"timeout":…}` alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopHostCommand {
    /// The host the command is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// How long the host may take to drain, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// `labels.{host}.put` and `labels.{host}.del`: one label (`value` is ignored on delete; the
/// 0.33 client sends `""`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostLabel {
    /// The label's key.
    pub key: String,
    /// The label's value.
    pub value: String,
}

/// `linkdefs.del`: which link to remove. Also accepts the full [`LinkDefinition`] the 0.33
/// client sends (`provider_id` `""`, `values` `{}`): extra keys are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoveLinkDefinitionRequest {
    /// The actor's public key.
    pub actor_id: String,
    /// The contract of the link.
    pub contract_id: String,
    /// The link name.
    pub link_name: String,
}

/// `auction.actor`: which hosts could run this actor?
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorAuctionRequest {
    /// The actor's reference.
    pub actor_ref: String,
    /// Labels a bidding host must carry (always sent, `{}` when none).
    pub constraints: ConstraintMap,
}

/// A host's bid in an actor auction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActorAuctionAck {
    /// The auctioned reference.
    pub actor_ref: String,
    /// The bidding host.
    pub host_id: String,
    /// The auction's constraints.
    pub constraints: ConstraintMap,
}

/// `auction.provider`: which hosts could run this provider under this link name?
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderAuctionRequest {
    /// Labels a bidding host must carry (always sent, `{}` when none).
    pub constraints: ConstraintMap,
    /// The link name.
    #[serde(default = "default_link_name")]
    pub link_name: String,
    /// The provider's reference.
    pub provider_ref: String,
}

/// A host's bid in a provider auction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderAuctionAck {
    /// The bidding host.
    pub host_id: String,
    /// The auctioned link name.
    pub link_name: String,
    /// The auctioned reference.
    pub provider_ref: String,
    /// The auction's constraints.
    pub constraints: ConstraintMap,
}

/// Credentials for one registry (`registries.put`). Lattice fetches no OCI images, but
/// decodes the message so that it can answer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryCredential {
    /// Password for basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Token authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// User name for basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The registry type; only `oci` exists.
    #[serde(rename = "registryType", default = "default_registry_type")]
    pub registry_type: String,
}

impl Default for RegistryCredential {
    fn default() -> Self {
        Self { password: None, token: None, username: None, registry_type: default_registry_type() }
    }
}

fn default_registry_type() -> String {
    "oci".to_owned()
}

fn default_link_name() -> String {
    "default".to_owned()
}

/// A control request body a host decodes with [`decode_body`].
pub trait CtlBody: DeserializeOwned {
    /// What the body is called in error messages (`scale actor command`).
    const WHAT: &'static str;

    /// Rules beyond the JSON shape; the error says which field is wrong and why.
    fn validate(&self) -> Result<(), RuleError> {
        Ok(())
    }
}

/// Decode a control request body strictly: a JSON object of the right shape that passes
/// [`CtlBody::validate`]. The error's text is what the `accepted:false` ack should carry.
pub fn decode_body<T: CtlBody>(payload: &[u8]) -> Result<T, ControlError> {
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| ControlError::decode(T::WHAT, &e))?;
    if !value.is_object() {
        return Err(ControlError::Decode {
            what: T::WHAT,
            reason: format!("expected a JSON object, found {}", json_kind(&value)),
        });
    }
    let body = T::deserialize(value).map_err(|e| ControlError::decode(T::WHAT, &e))?;
    body.validate().map_err(|source| ControlError::Invalid { what: T::WHAT, source })?;
    Ok(body)
}

/// Decode a reply leniently (any JSON of the right shape).
pub(crate) fn decode_json<T: DeserializeOwned>(what: &'static str, payload: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(payload).map_err(|e| ControlError::decode(what, &e))
}

/// Serialize one of this crate's types. None of them can fail to serialize (string keys,
/// no custom serializers that error), so a failure would be a bug: it yields `{}` rather
/// than a panic.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Split a comma-joined list, dropping empty items (`""` is the empty list).
pub(crate) fn split_list(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

fn required(field: &'static str, value: &str) -> Result<(), RuleError> {
    if value.trim().is_empty() { Err(RuleError::Required { field }) } else { Ok(()) }
}

fn link_name(value: &str) -> Result<(), RuleError> {
    LinkName::new(value).map(drop).map_err(|source| RuleError::Name { field: "link_name", source })
}

fn actor_key(field: &'static str, value: &str) -> Result<(), RuleError> {
    required(field, value)?;
    ActorKey::parse(value).map(drop).map_err(|source| RuleError::Key { field, source })
}

/// The rules of a body that names a provider: a non-empty `provider_ref` and a valid link name.
fn provider_and_link(provider_ref: &str, link: &str) -> Result<(), RuleError> {
    required("provider_ref", provider_ref)?;
    link_name(link)
}

/// Implements [`CtlBody`] for each request body in the table: the name its errors use and,
/// after `=>`, its [`CtlBody::validate`] rules, written over the decoded body (`|cmd| …`).
macro_rules! ctl_bodies {
    ($($body:ty: $what:literal $(=> |$this:ident| $rules:expr)?;)*) => {$(
        impl CtlBody for $body {
            const WHAT: &'static str = $what;
            $(
                fn validate(&self) -> Result<(), RuleError> {
                    let $this = self;
                    $rules
                }
            )?
        }
    )*};
}

ctl_bodies! {
    LinkDefinition: "link definition" => |ld| {
        actor_key("actor_id", &ld.actor_id)?;
        required("provider_id", &ld.provider_id)?;
        ProviderKey::parse(&ld.provider_id).map_err(|source| RuleError::Key { field: "provider_id", source })?;
        required("contract_id", &ld.contract_id)?;
        link_name(&ld.link_name)
    };
    RemoveLinkDefinitionRequest: "link definition removal" => |req| {
        actor_key("actor_id", &req.actor_id)?;
        required("contract_id", &req.contract_id)?;
        link_name(&req.link_name)
    };
    ScaleActorCommand: "scale actor command" => |cmd| required("actor_ref", &cmd.actor_ref);
    StopActorCommand: "stop actor command" => |cmd| required("actor_ref", &cmd.actor_ref);
    StartProviderCommand: "start provider command" => |cmd| provider_and_link(&cmd.provider_ref, &cmd.link_name);
    StopProviderCommand: "stop provider command" => |cmd| provider_and_link(&cmd.provider_ref, &cmd.link_name);
    UpdateActorCommand: "update actor command" => |cmd| {
        required("actor_id", &cmd.actor_id)?;
        required("new_actor_ref", &cmd.new_actor_ref)
    };
    StopHostCommand: "stop host command";
    HostLabel: "host label" => |label| required("key", &label.key);
    ActorAuctionRequest: "actor auction request" => |req| required("actor_ref", &req.actor_ref);
    ProviderAuctionRequest: "provider auction request" => |req| provider_and_link(&req.provider_ref, &req.link_name);
    RegistryCredentialMap: "registry credentials";
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTOR: &str = "MDX7K4GGDSGEI7URO3BG5TAJMN5QNI52U666VRPDHYKZQETUKQNB4QUU";
    const PROVIDER: &str = "VAZF7OUZ4SHKHXYQWDUTICQEKFMSK22QUPCLK7EO66NK37UATOP62J3U";

    #[test]
    fn ack_constant_is_byte_identical() {
        assert_eq!(CtlOperationAck::accepted().to_json(), ACCEPTED.as_bytes());
        assert_eq!(serde_json::to_string(&CtlOperationAck::accepted()).unwrap(), ACCEPTED);
        assert_eq!(
            CtlOperationAck::unsupported_subject().to_json(),
            br#"{"accepted":false,"error":"unsupported subject"}"#
        );
        // Errors are JSON-escaped (0.82 `format!`-ed them and could emit invalid JSON).
        let ack = CtlOperationAck::rejected("bad \"quote\"\n");
        let back: CtlOperationAck = serde_json::from_slice(&ack.to_json()).unwrap();
        assert_eq!(back, ack);
        assert!(
            matches!(back.into_result("s"), Err(ControlError::Rejected { error, .. }) if error == "bad \"quote\"\n")
        );
    }

    #[test]
    fn malformed_scale_is_refused() {
        let e = decode_body::<ScaleActorCommand>(b"[]").unwrap_err();
        assert_eq!(
            lattice_proto::chain(&e),
            "failed to deserialize scale actor command: expected a JSON object, found an array"
        );
        let e = decode_body::<ScaleActorCommand>(br#"{"actor_ref":"file:///a.wasm"}"#).unwrap_err();
        assert!(lattice_proto::chain(&e).contains("missing field `count`"), "{e}");
        let e = decode_body::<ScaleActorCommand>(br#"{"actor_ref":"","count":1}"#).unwrap_err();
        assert_eq!(
            lattice_proto::chain(&e),
            "invalid scale actor command: `actor_ref` is required and must not be empty"
        );
        let e = decode_body::<ScaleActorCommand>(br#"{"actor_ref":"a","count":-1}"#).unwrap_err();
        assert!(matches!(e, ControlError::Decode { .. }), "{e}");
        let ok = decode_body::<ScaleActorCommand>(br#"{"actor_ref":"a","count":3}"#).unwrap();
        assert_eq!(ok.max_instances, 3);
    }

    #[test]
    fn link_put_rules() {
        let e = decode_body::<LinkDefinition>(b"{bad").unwrap_err();
        assert!(lattice_proto::chain(&e).starts_with("failed to deserialize link definition: "), "{e}");
        let good = serde_json::json!({
            "id": "X", "actor_id": ACTOR, "provider_id": PROVIDER, "link_name": "default",
            "contract_id": "wasmcloud:httpserver", "values": {"address": "0.0.0.0:8080"},
        })
        .to_string();
        let ld = decode_body::<LinkDefinition>(good.as_bytes()).unwrap();
        assert_eq!(ld.values.get("address"), Some("0.0.0.0:8080"));
        let swapped = good.replace(ACTOR, "MSWAPPED").replace(PROVIDER, ACTOR).replace("MSWAPPED", PROVIDER);
        let e = decode_body::<LinkDefinition>(swapped.as_bytes()).unwrap_err();
        assert!(lattice_proto::chain(&e).starts_with("invalid link definition: `actor_id`: wrong key kind"), "{e}");
        let dotted = good.replace(r#""link_name":"default""#, r#""link_name":"a.b""#);
        let e = decode_body::<LinkDefinition>(dotted.as_bytes()).unwrap_err();
        assert!(lattice_proto::chain(&e).contains("`link_name`"), "{e}");
    }

    #[test]
    fn link_del_takes_both_forms() {
        let three = format!(r#"{{"actor_id":"{ACTOR}","contract_id":"wasmcloud:httpserver","link_name":"default"}}"#);
        let full = serde_json::json!({
            "actor_id": ACTOR, "provider_id": "", "link_name": "default",
            "contract_id": "wasmcloud:httpserver", "values": {},
        })
        .to_string();
        let a = decode_body::<RemoveLinkDefinitionRequest>(three.as_bytes()).unwrap();
        let b = decode_body::<RemoveLinkDefinitionRequest>(full.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(to_json(&a)).unwrap(), three);
        assert!(decode_body::<RemoveLinkDefinitionRequest>(br#"{"contract_id":"c","link_name":"default"}"#).is_err());
    }

    #[test]
    fn stop_host_and_labels() {
        let stop = decode_body::<StopHostCommand>(br#"{"timeout":1000}"#).unwrap();
        assert_eq!(stop, StopHostCommand { host_id: None, timeout: Some(1000) });
        assert_eq!(to_json(&stop), br#"{"timeout":1000}"#);
        assert_eq!(decode_body::<StopHostCommand>(b"{}").unwrap(), StopHostCommand::default());
        let del = decode_body::<HostLabel>(br#"{"key":"zone","value":""}"#).unwrap();
        assert_eq!(del.key, "zone");
        assert_eq!(decode_body::<HostLabel>(br#"{"key":"zone"}"#).unwrap().value, "");
        assert!(decode_body::<HostLabel>(br#"{"value":"x"}"#).is_err());
    }

    #[test]
    fn provider_commands_default_link_name() {
        let lp = decode_body::<StartProviderCommand>(br#"{"provider_ref":"file:///p.par.gz"}"#).unwrap();
        assert_eq!(lp.link_name, "default");
        let sp = decode_body::<StopProviderCommand>(br#"{"provider_ref":"V","link_name":"a b"}"#).unwrap_err();
        assert!(lattice_proto::chain(&sp).contains("link name 'a b'"), "{sp}");
    }

    #[test]
    fn registry_credentials_default_type() {
        let map = decode_body::<RegistryCredentialMap>(br#"{"ghcr.io":{"username":"u","password":"p"}}"#).unwrap();
        assert_eq!(map["ghcr.io"].registry_type, "oci");
        assert_eq!(
            String::from_utf8(to_json(&map)).unwrap(),
            r#"{"ghcr.io":{"password":"p","username":"u","registryType":"oci"}}"#
        );
    }

    #[test]
    fn cluster_issuers_split() {
        let host = Host { cluster_issuers: "CA, CB,".into(), ..Host::default() };
        assert_eq!(host.cluster_issuer_list(), ["CA", "CB"]);
    }

    #[test]
    fn connection_summaries_say_what_happened() {
        let up = ConnectionReport { connected: true, state_ms: 12_400, disconnects: 0, last_outage_ms: None };
        assert_eq!(up.summary(), "up");
        let back = ConnectionReport { disconnects: 2, last_outage_ms: Some(310), ..up.clone() };
        assert_eq!(back.summary(), "up (2 drops, last outage 0.31 s, 12 s ago)");
        let down = ConnectionReport { connected: false, state_ms: 3_210, disconnects: 1, last_outage_ms: None };
        assert_eq!(down.summary(), "DOWN for 3.2 s");
        assert_eq!(HostConnections { rpc: up.clone(), ctl: up.clone() }.summary(), "up");
        assert_eq!(HostConnections { rpc: down, ctl: up }.summary(), "rpc DOWN for 3.2 s; ctl up");
    }

    #[test]
    fn only_a_request_that_asks_gets_the_connections() {
        assert!(!PingHostsRequest::from_body(b"").lattice_connections);
        assert!(!PingHostsRequest::from_body(b"{}").lattice_connections);
        assert!(!PingHostsRequest::from_body(b"not json").lattice_connections);
        assert!(PingHostsRequest::from_body(br#"{"lattice_connections":true}"#).lattice_connections);
    }

    #[test]
    fn a_0_82_ping_reply_without_connections_still_parses() {
        let host: Host = serde_json::from_str(r#"{"id":"NABC","uptime_seconds":3}"#).expect("parse");
        assert_eq!(host.connections, None);
        let shown = serde_json::to_string(&host).expect("json");
        assert!(!shown.contains("connections"), "{shown}");
    }
}
