//! NATS micro discovery and stats: every [`crate::RpcServer`] also answers the NATS
//! service protocol (ADR-32, the "micro" API), so `nats micro ls|info|stats|ping` list
//! Lattice actors and providers next to any other NATS service.
//!
//! # Subjects
//!
//! Each server instance subscribes (plain subscriptions, no queue group: every instance
//! answers) to the three verbs at the three levels of ADR-32:
//! `$SRV.{VERB}`, `$SRV.{VERB}.{name}` and `$SRV.{VERB}.{name}.{id}` for `PING`, `INFO` and
//! `STATS`, and answers each request with one JSON document on its reply subject
//! (`io.nats.micro.v1.ping_response`, `…info_response`, `…stats_response`). The
//! subscriptions are registered before [`crate::RpcServerBuilder::start`] returns and go
//! away when the server stops (graceful or not; after a graceful shutdown returns, the NATS
//! server has processed the unsubscriptions).
//!
//! # Names and ids
//!
//! ADR-32's `name` is the *kind* of a service: all instances with one name are
//! interchangeable, and `nats micro stats NAME` adds them up. For Lattice that is one entity
//! in one lattice, so the name is per entity (see [`service_name`]):
//!
//! - actor: `lattice-{lattice}-actor-{actor key}`;
//! - provider: `lattice-{lattice}-provider-{provider key}-{link name}`;
//!
//! with every character outside `[A-Za-z0-9_-]` of the lattice and link names replaced by
//! `-` (the exact values are in the metadata). `nats micro ls` therefore shows one line per
//! running instance, each actor and provider link under its own name, and all the servers of
//! one actor (several hosts, one queue group) share that name with distinct ids. The id is
//! a fresh NUID per server instance. The version is this crate's (semver), unless
//! [`MicroConfig::version`] says otherwise.
//!
//! Service metadata (ADR-33, fixed at start): `lattice`, `kind` (`actor` / `provider`),
//! `public_key`, `subject`, `queue_group`, and for providers `link_name` and `contract_id`
//! (when known); [`MicroConfig::metadata`] adds entries (ours win on a clash).
//!
//! # Endpoints
//!
//! One endpoint **per operation** that reached the handler (`Echo.Say`, `KeyValue.Get`, …):
//! that way `nats micro stats` prints a row per operation with its request count, errors,
//! total and average processing time, and `nats micro info` its last error — the numbers
//! you want when one operation misbehaves. (One endpoint for the entity's subject would show
//! only totals, with the per-operation numbers buried in `data`.) Every endpoint reports the
//! entity's real subject and queue group. Endpoint names must match `[A-Za-z0-9_-]+` (the
//! JSON schemas `nats` validates responses against), so the name is the operation with the
//! other characters replaced by `-` (`Echo.Say` → `Echo-Say`); the exact operation is in
//! the endpoint's `metadata.operation` (INFO) and `data.operation` (STATS).
//!
//! The numbers come from [`crate::ServerMetrics`]: `num_requests` counts every handled call
//! (errors included), `num_errors` the calls whose handler returned an error or panicked,
//! `processing_time`/`average_processing_time` are handler time in nanoseconds, and
//! `last_error` the last error text (at most [`MAX_LAST_ERROR`] bytes). Operation names come
//! from the network, so the table is bounded: at most [`crate::metrics::MAX_OPERATIONS`]
//! names, the rest counted under `_other` ([`crate::metrics::OTHER_OPERATION`]).
//!
//! One more endpoint, always present: `_rejected` ([`REJECTED_ENDPOINT`]) counts the
//! invocations refused before dispatch (forged, replayed, malformed, …): each one is a
//! request and an error, `last_error` names the last kind and `data` has the count per kind.
//! A forgery attempt thus shows up in `nats micro stats` as well as in the monitor.
//!
//! async-nats' own `service` module does not fit: its endpoints are queue subscriptions of
//! their own with a fixed set of names, counted when a `Request` is answered, while a Lattice
//! server owns its RPC subscription (spec queue group, batched verification) and learns its
//! operations from the traffic. The wire format is the same; the tests parse these
//! responses with async-nats' `service` types.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_nats::{Message, Subject};
use futures::StreamExt;
use lattice_proto::LatticeName;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::RpcError;
use crate::metrics::{OperationStats, ServerMetrics, ServerStats};
use crate::verify::Served;

/// The subject prefix of the service API.
pub const API_PREFIX: &str = "$SRV";
/// The `type` of a `PING` answer.
pub const PING_RESPONSE_TYPE: &str = "io.nats.micro.v1.ping_response";
/// The `type` of an `INFO` answer.
pub const INFO_RESPONSE_TYPE: &str = "io.nats.micro.v1.info_response";
/// The `type` of a `STATS` answer.
pub const STATS_RESPONSE_TYPE: &str = "io.nats.micro.v1.stats_response";
/// The endpoint that counts invocations refused before dispatch.
pub const REJECTED_ENDPOINT: &str = "_rejected";
/// The longest `last_error` reported, in bytes (handler errors can be long and are shown
/// to anyone allowed to request `$SRV.>`).
pub const MAX_LAST_ERROR: usize = 1024;
/// The longest endpoint name, in bytes.
const MAX_ENDPOINT_NAME: usize = 128;
/// How long a stopping responder waits for NATS to confirm its unsubscriptions.
const UNSUBSCRIBE_LIMIT: Duration = Duration::from_secs(2);

/// Whether and how a server answers the NATS micro protocol; on by default.
#[derive(Clone, Debug)]
pub struct MicroConfig {
    enabled: bool,
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Default for MicroConfig {
    fn default() -> Self {
        Self { enabled: true, name: None, version: None, description: None, metadata: BTreeMap::new() }
    }
}

impl MicroConfig {
    /// Do not answer `$SRV.*` at all.
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::default() }
    }

    /// Answer (`true`, the default) or not.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Whether the server will answer.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The service name instead of [`service_name`]'s; characters outside
    /// `[A-Za-z0-9_-]` are replaced by `-`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The version reported (default: this crate's). Must be semver; anything else is
    /// logged and replaced by the default.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The description reported (default: which entity in which lattice).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// One more metadata entry (e.g. the host id). The built-in keys win on a clash.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// The micro service name of `served` in `lattice` (see the [module docs](self)).
pub fn service_name(lattice: &LatticeName, served: &Served) -> String {
    let lattice = sanitize(lattice.as_str(), usize::MAX);
    match served {
        Served::Actor(key) => format!("lattice-{lattice}-actor-{}", key.as_str()),
        Served::Provider { key, link, .. } => {
            format!("lattice-{lattice}-provider-{}-{}", key.as_str(), sanitize(link.as_str(), usize::MAX))
        }
    }
}

/// The endpoint name of an operation: `[A-Za-z0-9_-]` only, at most 128 bytes.
pub fn endpoint_name(operation: &str) -> String {
    if operation.is_empty() { "_empty".to_owned() } else { sanitize(operation, MAX_ENDPOINT_NAME) }
}

/// Which service a running server answers for: what to put after `$SRV.{VERB}.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicroService {
    name: String,
    id: String,
    version: String,
}

impl MicroService {
    /// The service name (shared by all instances serving the same entity).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This instance's id (a NUID).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version reported.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `$SRV.{verb}.{name}.{id}`: the subject that reaches this instance only.
    pub fn subject(&self, verb: Verb) -> String {
        format!("{API_PREFIX}.{verb}.{}.{}", self.name, self.id)
    }
}

/// The verbs of the service API Lattice answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Discovery and round-trip time.
    Ping,
    /// Description, metadata, endpoints.
    Info,
    /// Per-endpoint counters.
    Stats,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        })
    }
}

/// The answer to `PING`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// [`PING_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The version (semver).
    pub version: String,
    /// The service metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The answer to `INFO`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// [`INFO_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The version (semver).
    pub version: String,
    /// The service metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// What this service is.
    pub description: String,
    /// Its endpoints.
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint in an `INFO` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
    /// Its queue group.
    pub queue_group: String,
    /// Its metadata (`operation`: the exact operation name).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The answer to `STATS`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// [`STATS_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The version (semver).
    pub version: String,
    /// The service metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When the server started (RFC 3339, UTC).
    pub started: String,
    /// Per-endpoint counters.
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint in a `STATS` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
    /// Its queue group.
    pub queue_group: String,
    /// Requests handled (errors included).
    pub num_requests: u64,
    /// Requests that ended in an error.
    pub num_errors: u64,
    /// Total processing time, in nanoseconds.
    pub processing_time: u64,
    /// `processing_time / num_requests`, in nanoseconds (0 without requests).
    pub average_processing_time: u64,
    /// The last error, or `""`.
    pub last_error: String,
    /// Extra numbers: `operation` for an operation, counts per kind for `_rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// What a server's discovery answers are built from.
#[derive(Debug)]
struct Identity {
    service: MicroService,
    description: String,
    metadata: BTreeMap<String, String>,
    subject: String,
    queue_group: String,
    started: String,
}

/// The `$SRV.*` subscriptions of one server, ready to run.
pub(crate) struct Responder {
    answers: Answers,
    requests: futures::stream::SelectAll<futures::stream::BoxStream<'static, (Verb, Message)>>,
}

/// What answering needs (everything but the subscriptions).
#[derive(Debug)]
struct Answers {
    nats: async_nats::Client,
    identity: Identity,
    metrics: ServerMetrics,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").field("service", &self.answers.identity.service).finish_non_exhaustive()
    }
}

impl Responder {
    /// Subscribe the nine `$SRV.*` subjects, or nothing when `config` is disabled. The
    /// caller then waits until the NATS server has registered them (with its own
    /// subscription, in one round trip).
    pub(crate) async fn start(
        nats: &async_nats::Client,
        lattice: &LatticeName,
        served: &Served,
        config: &MicroConfig,
        metrics: &ServerMetrics,
    ) -> Result<Option<Self>, RpcError> {
        if !config.enabled {
            return Ok(None);
        }
        let identity = Identity::new(lattice, served, config);
        let mut requests = futures::stream::SelectAll::new();
        for verb in [Verb::Ping, Verb::Info, Verb::Stats] {
            let name = &identity.service.name;
            let id = &identity.service.id;
            for subject in
                [format!("{API_PREFIX}.{verb}"), format!("{API_PREFIX}.{verb}.{name}"), identity.service.subject(verb)]
            {
                let sub = nats.subscribe(subject).await.map_err(|e| RpcError::nats("subscribe", e))?;
                requests.push(sub.map(move |m| (verb, m)).boxed());
            }
            tracing::trace!(%verb, %name, %id, "micro subscriptions sent");
        }
        Ok(Some(Self { answers: Answers { nats: nats.clone(), identity, metrics: metrics.clone() }, requests }))
    }

    /// Which service this responder answers for.
    pub(crate) fn service(&self) -> MicroService {
        self.answers.identity.service.clone()
    }

    /// Answer requests until `stop` is cancelled, then unsubscribe and wait (bounded) until
    /// the NATS server has processed that, so that once the server's shutdown returns this
    /// instance no longer answers.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let Self { answers, mut requests } = self;
        let service = &answers.identity.service;
        tracing::debug!(name = %service.name, id = %service.id, "micro discovery started");
        loop {
            let (verb, msg) = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                next = requests.next() => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let Some(reply) = msg.reply else { continue };
            answers.answer(verb, reply).await;
        }
        drop(requests); // unsubscribes all nine
        match tokio::time::timeout(UNSUBSCRIBE_LIMIT, crate::barrier::round_trip(&answers.nats)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %lattice_proto::chain(&e), "could not confirm the micro unsubscriptions")
            }
            Err(_) => tracing::debug!("timed out confirming the micro unsubscriptions"),
        }
        tracing::debug!(name = %service.name, id = %service.id, "micro discovery stopped");
    }
}

impl Answers {
    async fn answer(&self, verb: Verb, reply: Subject) {
        let body = match verb {
            Verb::Ping => serde_json::to_vec(&self.identity.ping()),
            Verb::Info => serde_json::to_vec(&self.identity.info(&self.metrics.snapshot())),
            Verb::Stats => serde_json::to_vec(&self.identity.stats(&self.metrics.snapshot())),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%verb, error = %lattice_proto::chain(&e), "could not encode a micro response");
                return;
            }
        };
        if let Err(e) = self.nats.publish(reply, body.into()).await {
            tracing::debug!(%verb, error = %lattice_proto::chain(&e), "could not publish a micro response");
        }
    }
}

impl Identity {
    fn new(lattice: &LatticeName, served: &Served, config: &MicroConfig) -> Self {
        let name = match &config.name {
            Some(name) if !name.is_empty() => sanitize(name, usize::MAX),
            _ => service_name(lattice, served),
        };
        let version = match &config.version {
            Some(v) if is_semver(v) => v.clone(),
            Some(v) => {
                tracing::warn!(version = %v, "micro service version is not semver; using the crate version");
                env!("CARGO_PKG_VERSION").to_owned()
            }
            None => env!("CARGO_PKG_VERSION").to_owned(),
        };
        let subject = served.subject(lattice).into_string();
        let queue_group = served.queue_group(lattice);

        let mut metadata = config.metadata.clone();
        metadata.insert("lattice".into(), lattice.as_str().into());
        metadata.insert("subject".into(), subject.clone());
        metadata.insert("queue_group".into(), queue_group.clone());
        let default_description = match served {
            Served::Actor(key) => {
                metadata.insert("kind".into(), "actor".into());
                metadata.insert("public_key".into(), key.as_str().into());
                format!("Lattice actor {} in lattice {lattice}", key.as_str())
            }
            Served::Provider { key, link, contract } => {
                metadata.insert("kind".into(), "provider".into());
                metadata.insert("public_key".into(), key.as_str().into());
                metadata.insert("link_name".into(), link.as_str().into());
                if let Some(contract) = contract {
                    metadata.insert("contract_id".into(), contract.clone());
                }
                let contract = contract.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
                format!("Lattice provider {} link {link}{contract} in lattice {lattice}", key.as_str())
            }
        };
        Self {
            service: MicroService { name, id: nuid::next().as_str().to_owned(), version },
            description: config.description.clone().unwrap_or(default_description),
            metadata,
            subject,
            queue_group,
            started: rfc3339_now(),
        }
    }

    fn ping(&self) -> PingResponse {
        PingResponse {
            kind: PING_RESPONSE_TYPE.to_owned(),
            name: self.service.name.clone(),
            id: self.service.id.clone(),
            version: self.service.version.clone(),
            metadata: self.metadata.clone(),
        }
    }

    fn info(&self, stats: &ServerStats) -> InfoResponse {
        let endpoint = |name: String, operation: &str| EndpointInfo {
            name,
            subject: self.subject.clone(),
            queue_group: self.queue_group.clone(),
            metadata: BTreeMap::from([("operation".to_owned(), operation.to_owned())]),
        };
        let mut endpoints: Vec<EndpointInfo> =
            stats.operations.keys().map(|op| endpoint(endpoint_name(op), op)).collect();
        endpoints.push(EndpointInfo {
            metadata: BTreeMap::from([(
                "description".to_owned(),
                "invocations refused before dispatch (forged, replayed, malformed, ...)".to_owned(),
            )]),
            ..endpoint(REJECTED_ENDPOINT.to_owned(), "")
        });
        InfoResponse {
            kind: INFO_RESPONSE_TYPE.to_owned(),
            name: self.service.name.clone(),
            id: self.service.id.clone(),
            version: self.service.version.clone(),
            metadata: self.metadata.clone(),
            description: self.description.clone(),
            endpoints,
        }
    }

    fn stats(&self, stats: &ServerStats) -> StatsResponse {
        let mut endpoints: Vec<EndpointStats> =
            stats.operations.iter().map(|(op, s)| self.operation_stats(op, s)).collect();
        let rejected = stats.rejected_total();
        endpoints.push(EndpointStats {
            name: REJECTED_ENDPOINT.to_owned(),
            subject: self.subject.clone(),
            queue_group: self.queue_group.clone(),
            num_requests: rejected,
            num_errors: rejected,
            processing_time: 0,
            average_processing_time: 0,
            last_error: stats
                .last_rejected
                .as_deref()
                .map(|kind| format!("{}{kind}]", crate::REJECTED_PREFIX))
                .unwrap_or_default(),
            data: Some(serde_json::json!(stats.rejected)),
        });
        StatsResponse {
            kind: STATS_RESPONSE_TYPE.to_owned(),
            name: self.service.name.clone(),
            id: self.service.id.clone(),
            version: self.service.version.clone(),
            metadata: self.metadata.clone(),
            started: self.started.clone(),
            endpoints,
        }
    }

    fn operation_stats(&self, operation: &str, s: &OperationStats) -> EndpointStats {
        EndpointStats {
            name: endpoint_name(operation),
            subject: self.subject.clone(),
            queue_group: self.queue_group.clone(),
            num_requests: s.requests,
            num_errors: s.errors,
            processing_time: nanos(s.processing_time),
            average_processing_time: nanos(s.average_processing_time()),
            last_error: s.last_error.as_deref().map(|e| truncate(e, MAX_LAST_ERROR).to_owned()).unwrap_or_default(),
            data: Some(serde_json::json!({ "operation": operation })),
        }
    }
}

/// A duration in nanoseconds, capped at `i64::MAX` (the schema's bound).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).min(i64::MAX as u64)
}

/// `s` with every character outside `[A-Za-z0-9_-]` replaced by `-`, at most `max` bytes.
fn sanitize(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).take(max).collect()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Now, in RFC 3339 (UTC).
fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Whether `v` is a semantic version (semver.org 2.0.0).
fn is_semver(v: &str) -> bool {
    fn numeric(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    }
    fn identifiers(s: &str, prerelease: bool) -> bool {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!prerelease || !id.bytes().all(|b| b.is_ascii_digit()) || numeric(id))
        })
    }
    let (rest, build) = match v.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(|p| identifiers(p, true))
        && build.is_none_or(|b| identifiers(b, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_proto::{ActorKey, LinkName, ProviderKey};

    #[test]
    fn names_are_per_entity_and_valid() {
        let lattice = LatticeName::new("prod:eu").unwrap();
        let actor = nkeys::KeyPair::new_module().public_key();
        let served = Served::Actor(ActorKey::parse(&actor).unwrap());
        assert_eq!(service_name(&lattice, &served), format!("lattice-prod-eu-actor-{actor}"));
        let provider = nkeys::KeyPair::new_service().public_key();
        let served = Served::Provider {
            key: ProviderKey::parse(&provider).unwrap(),
            link: LinkName::new("my/link:2").unwrap(),
            contract: None,
        };
        assert_eq!(service_name(&lattice, &served), format!("lattice-prod-eu-provider-{provider}-my-link-2"));
    }

    #[test]
    fn endpoint_names_are_valid() {
        assert_eq!(endpoint_name("HttpServer.HandleRequest"), "HttpServer-HandleRequest");
        assert_eq!(endpoint_name("wasmcloud:keyvalue/Get é"), "wasmcloud-keyvalue-Get--");
        assert_eq!(endpoint_name(""), "_empty");
        assert_eq!(endpoint_name(&"x".repeat(500)).len(), 128);
    }

    #[test]
    fn semver() {
        for ok in ["0.1.0", "1.2.3", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc-1+x", "10.20.30"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in
            ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.2.3", "1.0.0-a..b"]
        {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn nanos_are_capped() {
        assert_eq!(nanos(Duration::from_micros(3)), 3000);
        assert_eq!(nanos(Duration::MAX), i64::MAX as u64);
    }
}
