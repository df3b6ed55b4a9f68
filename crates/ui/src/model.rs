//! The dashboard's state: what the lattice looks like, aggregated on the server.
//!
//! Every source (control queries, lattice events, RPC traffic, the monitor's alerts) turns
//! what it sees into an [`Input`]; [`Model::apply`] folds it in. [`Model::view`] renders
//! the state as [`View`]: keyed sections of small JSON objects (hosts, actors, providers,
//! links, edges) plus the newest alerts and events, which [`crate::feed`] diffs into the
//! deltas the browsers receive. No I/O and no clock reads: time is an argument
//! (`Instant` for ages, wall-clock milliseconds for what the page displays), so every rule
//! — host staleness, edge windows, secret masking — is unit-tested here.
//!
//! Host liveness: a host is *up* while it was seen (heartbeat, ping reply, any event) within
//! [`STALE_FACTOR`] heartbeat intervals, *stale* (grey) after that, and forgotten after
//! [`GONE_FACTOR`] intervals. The interval is learned from the gaps between its heartbeats:
//! the shortest of the last [`INTERVAL_SAMPLES`], so that one heartbeat delivered late
//! (a busy host or a busy dashboard) does not stretch it and keep a silent host "up"
//! (0.82's default, 30 s, until two were seen). A `host_stopped` event greys it at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use lattice_control::types::{Host, HostInventory};
use lattice_control::{CloudEvent, LatticeEvent};
use lattice_monitor::Alert;
use lattice_proto::LinkDefinition;
use serde_json::{Value, json};

use crate::stats::EdgeStats;

/// Heartbeat intervals without a sign of life after which a host is shown stale (grey).
pub const STALE_FACTOR: u32 = 3;
/// Heartbeat intervals without a sign of life after which a host is forgotten.
pub const GONE_FACTOR: u32 = 6;
/// The heartbeat interval assumed until two heartbeats were seen (0.82's default).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// Heartbeat gaps remembered per host; the interval is the shortest of them.
pub const INTERVAL_SAMPLES: usize = 8;
/// Alerts kept (the newest).
pub const MAX_ALERTS: usize = 200;
/// Events kept (the newest).
pub const MAX_EVENTS: usize = 100;
/// Edges kept at most (the busiest win); more would not fit a page anyway.
pub const MAX_EDGES: usize = 2000;
/// Hosts kept at most (a flood of fake heartbeats cannot grow the model without bound).
pub const MAX_HOSTS: usize = 1000;

/// Something a source saw.
#[derive(Clone, Debug)]
pub enum Input {
    /// Replies to `ping.hosts`.
    Pinged(Vec<Host>),
    /// A host's inventory (`get.{host}.inv` reply).
    Inventory(HostInventory),
    /// Every link (`get.links` reply).
    Links(Vec<LinkDefinition>),
    /// A lattice event and the subject it came on.
    Event {
        /// The NATS subject.
        subject: String,
        /// The envelope.
        event: CloudEvent,
    },
    /// A lattice event that did not decode (counted, shown as such).
    BadEvent {
        /// The NATS subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// A call answered (or given up on) on the RPC plane.
    Call(CallSample),
    /// An invocation failed a check.
    Alert(Alert),
    /// NATS dropped messages for the dashboard: it may have missed traffic.
    SlowConsumer,
}

/// One finished call, as the traffic collector paired it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSample {
    /// The origin's public key.
    pub origin: String,
    /// The target's public key.
    pub target: String,
    /// The target's link name (providers; empty for actors).
    pub link: String,
    /// Invocation seen → response seen (`None` if read out of order or unanswered).
    pub latency: Option<Duration>,
    /// Whether it failed (error response, no responders, or no answer at all).
    pub error: bool,
}

#[derive(Clone, Debug)]
struct HostEntry {
    host: Host,
    inventory: Option<HostInventory>,
    last_seen: Instant,
    last_seen_ms: u64,
    last_heartbeat: Option<Instant>,
    /// The last gaps between heartbeats (at most [`INTERVAL_SAMPLES`]).
    gaps: VecDeque<Duration>,
    stopped: bool,
}

impl HostEntry {
    fn interval(&self) -> Duration {
        self.gaps.iter().min().copied().unwrap_or(DEFAULT_HEARTBEAT)
    }
}

/// The rendered state: keyed sections of JSON objects, and the newest alerts and events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// `hosts`, `actors`, `providers`, `links`, `edges`: id → object.
    pub sections: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// The newest alerts, oldest first, each with its `seq`.
    pub alerts: Vec<Value>,
    /// The newest events, oldest first, each with its `seq`.
    pub events: Vec<Value>,
    /// Counters (calls, alerts, events, slow consumer).
    pub stats: Value,
}

/// The section names, in display order.
pub const SECTIONS: [&str; 5] = ["hosts", "actors", "providers", "links", "edges"];

/// Settings of the model.
#[derive(Clone, Copy, Debug)]
pub struct ModelConfig {
    /// The call graph shows calls of the last `window` (whole seconds, at least 1).
    pub window: Duration,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { window: Duration::from_secs(10) }
    }
}

/// The aggregated lattice; see the module docs.
#[derive(Debug)]
pub struct Model {
    config: ModelConfig,
    start: Instant,
    hosts: BTreeMap<String, HostEntry>,
    links: Vec<LinkDefinition>,
    edges: HashMap<(String, String), (String, EdgeStats)>,
    alerts: VecDeque<Value>,
    events: VecDeque<Value>,
    alert_seq: u64,
    event_seq: u64,
    calls_total: u64,
    calls_failed: u64,
    bad_events: u64,
    slow_consumer: u64,
    edges_refused: u64,
}

impl Model {
    /// An empty model whose clock starts at `start`.
    pub fn new(config: ModelConfig, start: Instant) -> Self {
        Self {
            config,
            start,
            hosts: BTreeMap::new(),
            links: Vec::new(),
            edges: HashMap::new(),
            alerts: VecDeque::new(),
            events: VecDeque::new(),
            alert_seq: 0,
            event_seq: 0,
            calls_total: 0,
            calls_failed: 0,
            bad_events: 0,
            slow_consumer: 0,
            edges_refused: 0,
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    fn window_secs(&self) -> u64 {
        self.config.window.as_secs().max(1)
    }

    /// Calls seen so far (answered or given up on).
    pub fn calls_total(&self) -> u64 {
        self.calls_total
    }

    /// Host ids currently known.
    pub fn host_ids(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// A sign of life from host `id` at `now`; creates the entry if there is room.
    fn touch(&mut self, id: &str, now: Instant, now_ms: u64) -> Option<&mut HostEntry> {
        if id.is_empty() {
            return None;
        }
        if !self.hosts.contains_key(id) {
            if self.hosts.len() >= MAX_HOSTS {
                return None;
            }
            let host = Host { id: id.to_owned(), ..Host::default() };
            self.hosts.insert(
                id.to_owned(),
                HostEntry {
                    host,
                    inventory: None,
                    last_seen: now,
                    last_seen_ms: now_ms,
                    last_heartbeat: None,
                    gaps: VecDeque::with_capacity(INTERVAL_SAMPLES),
                    stopped: false,
                },
            );
        }
        let entry = self.hosts.get_mut(id)?;
        entry.last_seen = now;
        entry.last_seen_ms = now_ms;
        entry.stopped = false;
        Some(entry)
    }

    /// Fold one input in, seen at `now` (`now_ms`: the same instant in Unix milliseconds).
    pub fn apply(&mut self, input: Input, now: Instant, now_ms: u64) {
        match input {
            Input::Pinged(hosts) => {
                for h in hosts {
                    if let Some(e) = self.touch(&h.id.clone(), now, now_ms) {
                        e.host = h;
                    }
                }
            }
            Input::Inventory(inv) => {
                // An inventory reply is not a heartbeat, but it is a sign of life.
                let id = inv.host_id.clone();
                if let Some(e) = self.touch(&id, now, now_ms) {
                    merge_inventory_into_host(&mut e.host, &inv);
                    e.inventory = Some(inv);
                }
            }
            Input::Links(links) => self.links = links,
            Input::Event { subject, event } => self.event(subject, event, now, now_ms),
            Input::BadEvent { subject, reason } => {
                self.bad_events += 1;
                self.push_event(json!({
                    "type": "(undecodable)", "time": "", "source": "", "subject": subject, "about": reason,
                }));
            }
            Input::Call(c) => self.call(c, now),
            Input::Alert(a) => {
                self.alert_seq += 1;
                let mut v = serde_json::to_value(&a).unwrap_or_default();
                v["seq"] = json!(self.alert_seq);
                self.alerts.push_back(v);
                while self.alerts.len() > MAX_ALERTS {
                    self.alerts.pop_front();
                }
            }
            Input::SlowConsumer => self.slow_consumer += 1,
        }
    }

    fn push_event(&mut self, mut v: Value) {
        self.event_seq += 1;
        v["seq"] = json!(self.event_seq);
        self.events.push_back(v);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    fn event(&mut self, subject: String, event: CloudEvent, now: Instant, now_ms: u64) {
        let typed = event.event();
        let about = match &typed {
            Ok(e) => about(e),
            Err(_) => String::new(),
        };
        self.push_event(json!({
            "type": event.ty, "time": event.time, "source": event.source, "subject": subject, "about": about,
        }));
        let source = event.source.clone();
        match typed {
            Ok(LatticeEvent::HostHeartbeat(inv)) => {
                let id = if inv.host_id.is_empty() { source } else { inv.host_id.clone() };
                if let Some(e) = self.touch(&id, now, now_ms) {
                    if let Some(prev) = e.last_heartbeat {
                        let gap = now.saturating_duration_since(prev);
                        if gap >= Duration::from_millis(100) {
                            if e.gaps.len() >= INTERVAL_SAMPLES {
                                e.gaps.pop_front();
                            }
                            e.gaps.push_back(gap);
                        }
                    }
                    e.last_heartbeat = Some(now);
                    merge_inventory_into_host(&mut e.host, &inv);
                    e.inventory = Some(inv);
                }
            }
            Ok(LatticeEvent::HostStarted(d)) => {
                if let Some(e) = self.touch(&source, now, now_ms) {
                    e.host.friendly_name = d.friendly_name;
                    e.host.labels = d.labels;
                    e.host.version = d.version;
                    e.host.uptime_seconds = d.uptime_seconds;
                }
            }
            Ok(LatticeEvent::HostStopped(_)) => {
                if let Some(e) = self.hosts.get_mut(&source) {
                    e.stopped = true;
                }
            }
            Ok(LatticeEvent::LinkdefSet(d)) => {
                self.links.retain(|l| {
                    !(l.actor_id == d.actor_id && l.contract_id == d.contract_id && l.link_name == d.link_name)
                });
                self.links.push(LinkDefinition {
                    actor_id: d.actor_id,
                    provider_id: d.provider_id,
                    link_name: d.link_name,
                    contract_id: d.contract_id,
                    values: d.values.into_iter().collect(),
                });
            }
            Ok(LatticeEvent::LinkdefDeleted(d)) => self.links.retain(|l| {
                !(l.actor_id == d.actor_id && l.contract_id == d.contract_id && l.link_name == d.link_name)
            }),
            Ok(LatticeEvent::ProviderStopped(d)) => {
                if let Some(inv) = self.hosts.get_mut(&source).and_then(|e| e.inventory.as_mut()) {
                    inv.providers.retain(|p| !(p.id == d.public_key && p.link_name == d.link_name));
                }
            }
            Ok(LatticeEvent::ActorsStopped(d)) if d.remaining == 0 => {
                if let Some(inv) = self.hosts.get_mut(&source).and_then(|e| e.inventory.as_mut()) {
                    inv.actors.retain(|a| a.id != d.public_key);
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, c: CallSample, now: Instant) {
        self.calls_total += 1;
        self.calls_failed += u64::from(c.error);
        let sec = self.sec(now);
        let key = (c.origin, c.target);
        if !self.edges.contains_key(&key) && self.edges.len() >= MAX_EDGES {
            self.edges_refused += 1;
            return;
        }
        let (link, stats) = self.edges.entry(key).or_insert_with(|| (c.link.clone(), EdgeStats::default()));
        if link.is_empty() {
            link.clone_from(&c.link);
        }
        stats.record(sec, c.latency, c.error);
    }

    /// Forget what is too old at `now`: hosts past [`GONE_FACTOR`] intervals, edges with
    /// no call in the window.
    pub fn expire(&mut self, now: Instant) {
        self.hosts.retain(|_, e| now.saturating_duration_since(e.last_seen) < e.interval() * GONE_FACTOR);
        let sec = self.sec(now);
        let window = self.window_secs();
        self.edges.retain(|_, (_, s)| s.expire(sec, window));
    }

    /// A display name for a key: from the inventories, else empty.
    fn names(&self) -> HashMap<&str, &str> {
        let mut names = HashMap::new();
        for e in self.hosts.values() {
            if let Some(inv) = &e.inventory {
                for a in &inv.actors {
                    names.insert(a.id.as_str(), a.name.as_deref().unwrap_or(""));
                }
                for p in &inv.providers {
                    names.insert(p.id.as_str(), p.name.as_deref().unwrap_or(""));
                }
            }
        }
        names
    }

    /// Render the state at `now` (call [`Model::expire`] first).
    pub fn view(&self, now: Instant) -> View {
        let mut hosts = BTreeMap::new();
        let mut actors = BTreeMap::new();
        let mut providers = BTreeMap::new();
        for (id, e) in &self.hosts {
            let stale = now.saturating_duration_since(e.last_seen) >= e.interval() * STALE_FACTOR;
            let state = if e.stopped {
                "stopped"
            } else if stale {
                "stale"
            } else {
                "up"
            };
            let (n_actors, n_providers) = e.inventory.as_ref().map_or((0, 0), |i| (i.actors.len(), i.providers.len()));
            // Uptime as a start time, so the value changes only when the host restarts.
            let started_ms = e.last_seen_ms.saturating_sub(e.host.uptime_seconds.saturating_mul(1000));
            hosts.insert(
                id.clone(),
                json!({
                    "id": id, "name": e.host.friendly_name, "labels": e.host.labels, "version": e.host.version,
                    "started_ms": started_ms / 1000 * 1000, "last_seen_ms": e.last_seen_ms, "state": state,
                    "interval_ms": e.interval().as_millis() as u64,
                    "actors": n_actors, "providers": n_providers,
                }),
            );
            let Some(inv) = &e.inventory else { continue };
            for a in &inv.actors {
                let instances: u64 = a.instances.iter().map(|i| u64::from(i.max_instances.max(1))).sum();
                actors.insert(
                    format!("{id}/{}", a.id),
                    json!({
                        "host": id, "id": a.id, "name": a.name.clone().unwrap_or_default(),
                        "image_ref": a.image_ref.clone().unwrap_or_default(), "instances": instances,
                    }),
                );
            }
            for p in &inv.providers {
                providers.insert(
                    format!("{id}/{}/{}", p.id, p.link_name),
                    json!({
                        "host": id, "id": p.id, "name": p.name.clone().unwrap_or_default(),
                        "contract": p.contract_id, "link_name": p.link_name,
                    }),
                );
            }
        }
        let names = self.names();
        let name = |k: &str| names.get(k).copied().unwrap_or("");
        let mut links = BTreeMap::new();
        for l in &self.links {
            let id = lattice_control::storage::linkdef_hash(&l.actor_id, &l.contract_id, &l.link_name);
            let values: BTreeMap<&str, String> =
                l.values.iter().map(|(k, v)| (k, crate::mask::mask_value(k, v))).collect();
            links.insert(
                id,
                json!({
                    "actor": l.actor_id, "actor_name": name(&l.actor_id), "provider": l.provider_id,
                    "provider_name": name(&l.provider_id), "contract": l.contract_id, "link_name": l.link_name,
                    "values": values,
                }),
            );
        }
        let sec = self.sec(now);
        let window = self.window_secs();
        let mut edges = BTreeMap::new();
        for ((origin, target), (link, s)) in &self.edges {
            let sum = s.summary(sec, window);
            if sum.calls == 0 {
                continue;
            }
            edges.insert(
                format!("{origin}>{target}"),
                json!({
                    "from": origin, "to": target, "from_name": name(origin), "to_name": name(target), "link": link,
                    "calls": sum.calls, "rate": round(sum.rate, 1), "error_rate": round(sum.error_rate, 3),
                    "p50_ms": sum.p50_us.map(|u| round(u / 1000.0, 2)),
                    "p99_ms": sum.p99_us.map(|u| round(u / 1000.0, 2)),
                }),
            );
        }
        let mut sections = BTreeMap::new();
        sections.insert("hosts", hosts);
        sections.insert("actors", actors);
        sections.insert("providers", providers);
        sections.insert("links", links);
        sections.insert("edges", edges);
        View {
            sections,
            alerts: self.alerts.iter().cloned().collect(),
            events: self.events.iter().cloned().collect(),
            stats: json!({
                "calls_total": self.calls_total, "calls_failed": self.calls_failed,
                "alerts_total": self.alert_seq, "events_total": self.event_seq, "bad_events": self.bad_events,
                "slow_consumer": self.slow_consumer, "edges_refused": self.edges_refused,
                "window_s": window,
            }),
        }
    }
}

/// Keep the ping reply's fields up to date from a heartbeat or inventory.
fn merge_inventory_into_host(host: &mut Host, inv: &HostInventory) {
    host.id.clone_from(&inv.host_id);
    if !inv.friendly_name.is_empty() {
        host.friendly_name.clone_from(&inv.friendly_name);
    }
    if !inv.labels.is_empty() {
        host.labels.clone_from(&inv.labels);
    }
    if !inv.version.is_empty() {
        host.version.clone_from(&inv.version);
    }
    host.uptime_seconds = inv.uptime_seconds;
}

/// What an event is about, in a few words (the entity or link it names).
fn about(e: &LatticeEvent) -> String {
    match e {
        LatticeEvent::ActorsStarted(d) => format!("{} ×{}", d.public_key, d.count),
        LatticeEvent::ActorsStopped(d) => format!("{} −{} ({} left)", d.public_key, d.count, d.remaining),
        LatticeEvent::ActorScaled(d) => format!("{} max {}", d.public_key, d.max_instances),
        LatticeEvent::ActorScaleFailed(d) => format!("{}: {}", d.public_key, d.error),
        LatticeEvent::ActorsStartFailed(d) => format!("{}: {}", d.public_key, d.error),
        LatticeEvent::ProviderStarted(d) => format!("{} ({}, {})", d.public_key, d.contract_id, d.link_name),
        LatticeEvent::ProviderStopped(d) => format!("{} ({}, {})", d.public_key, d.contract_id, d.link_name),
        LatticeEvent::ProviderStartFailed(d) => format!("{}: {}", d.provider_ref, d.error),
        LatticeEvent::LinkdefSet(d) | LatticeEvent::LinkdefDeleted(d) => {
            format!("{} → {} ({}, {})", d.actor_id, d.provider_id, d.contract_id, d.link_name)
        }
        LatticeEvent::HealthCheckPassed(d)
        | LatticeEvent::HealthCheckFailed(d)
        | LatticeEvent::HealthCheckStatus(d) => {
            format!("{} ({})", d.public_key, d.link_name)
        }
        LatticeEvent::HostStarted(d) => d.friendly_name.clone(),
        LatticeEvent::HostStopped(_) => String::new(),
        LatticeEvent::HostHeartbeat(inv) => {
            let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            format!("{}, {}", plural(inv.actors.len(), "actor"), plural(inv.providers.len(), "provider"))
        }
        LatticeEvent::ConfigSet(_) | LatticeEvent::ConfigDeleted(_) => String::new(),
    }
}

/// Round for display, so that a value's noise below what is shown does not make a delta.
fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use lattice_control::events::{HostStoppedData, LinkdefEventData, ProviderStoppedData};
    use lattice_control::types::{ActorDescription, ActorInstance, ProviderDescription};
    use lattice_control::{Timestamp, events::EventName};
    use lattice_proto::HostKey;

    use super::*;

    const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
    const ACTOR: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
    const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";

    fn event(e: LatticeEvent) -> Input {
        let source = HostKey::parse(HOST).unwrap();
        let ev = CloudEvent::new(&source, uuid::Uuid::nil(), &Timestamp::from_unix_nanos(0).unwrap(), &e);
        Input::Event { subject: format!("wasmbus.evt.default.{}", e.name()), event: ev }
    }

    fn inventory() -> HostInventory {
        HostInventory {
            host_id: HOST.into(),
            friendly_name: "blue-sky".into(),
            actors: vec![ActorDescription {
                id: ACTOR.into(),
                name: Some("counter".into()),
                instances: vec![ActorInstance { max_instances: 16, ..Default::default() }],
                ..Default::default()
            }],
            providers: vec![ProviderDescription {
                id: PROVIDER.into(),
                name: Some("kv".into()),
                contract_id: "wasmcloud:keyvalue".into(),
                link_name: "default".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn heartbeats_teach_the_interval_then_silence_greys_and_forgets_the_host() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig::default(), t0);
        m.apply(event(LatticeEvent::HostHeartbeat(inventory())), t0, 0);
        let t1 = t0 + Duration::from_secs(1);
        m.apply(event(LatticeEvent::HostHeartbeat(inventory())), t1, 1000);
        let v = m.view(t1);
        let h = &v.sections["hosts"][HOST];
        assert_eq!(h["state"], "up");
        assert_eq!(h["interval_ms"], 1000);
        assert_eq!(h["name"], "blue-sky");
        assert_eq!(v.sections["actors"][&format!("{HOST}/{ACTOR}")]["instances"], 16);
        assert_eq!(v.sections["providers"][&format!("{HOST}/{PROVIDER}/default")]["contract"], "wasmcloud:keyvalue");
        // 3 intervals of silence: stale; 6: gone, with its actors and providers.
        let t_stale = t1 + Duration::from_millis(3001);
        m.expire(t_stale);
        assert_eq!(m.view(t_stale).sections["hosts"][HOST]["state"], "stale");
        let t_gone = t1 + Duration::from_millis(6001);
        m.expire(t_gone);
        let v = m.view(t_gone);
        assert!(v.sections["hosts"].is_empty());
        assert!(v.sections["actors"].is_empty());
        assert!(v.sections["providers"].is_empty());
    }

    #[test]
    fn a_late_heartbeat_does_not_stretch_the_interval() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig::default(), t0);
        let mut t = t0;
        for _ in 0..4 {
            m.apply(event(LatticeEvent::HostHeartbeat(inventory())), t, 0);
            t += Duration::from_secs(1);
        }
        // One heartbeat 12 s late (the host or the dashboard was busy), then silence.
        let late = t + Duration::from_secs(11);
        m.apply(event(LatticeEvent::HostHeartbeat(inventory())), late, 0);
        assert_eq!(m.view(late).sections["hosts"][HOST]["interval_ms"], 1000);
        let t_stale = late + Duration::from_millis(3001);
        m.expire(t_stale);
        assert_eq!(m.view(t_stale).sections["hosts"][HOST]["state"], "stale", "grey after 3 s, not 36 s");
        // The oldest gaps are forgotten: a host that really slowed down is learned again.
        let mut t = late;
        for _ in 0..INTERVAL_SAMPLES {
            t += Duration::from_secs(5);
            m.apply(event(LatticeEvent::HostHeartbeat(inventory())), t, 0);
        }
        assert_eq!(m.view(t).sections["hosts"][HOST]["interval_ms"], 5000);
    }

    #[test]
    fn host_stopped_greys_at_once_and_provider_stopped_removes_the_provider() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig::default(), t0);
        m.apply(Input::Inventory(inventory()), t0, 0);
        let p = inventory().providers[0].clone();
        m.apply(
            event(LatticeEvent::ProviderStopped(ProviderStoppedData {
                public_key: p.id.clone(),
                link_name: p.link_name.clone(),
                contract_id: p.contract_id.clone(),
                host_id: HOST.into(),
                ..Default::default()
            })),
            t0,
            0,
        );
        assert!(m.view(t0).sections["providers"].is_empty());
        m.apply(event(LatticeEvent::HostStopped(HostStoppedData::default())), t0, 0);
        assert_eq!(m.view(t0).sections["hosts"][HOST]["state"], "stopped");
        let ev = &m.view(t0).events;
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1]["type"], EventName::HostStopped.event_type());
        assert_eq!(ev[1]["seq"], 2);
    }

    #[test]
    fn links_come_from_queries_and_events_with_secrets_masked() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig::default(), t0);
        m.apply(Input::Inventory(inventory()), t0, 0);
        let ld = LinkDefinition {
            actor_id: ACTOR.into(),
            provider_id: PROVIDER.into(),
            link_name: "default".into(),
            contract_id: "wasmcloud:keyvalue".into(),
            values: [("bucket", "b1"), ("password", "hunter2")].into_iter().collect(),
        };
        m.apply(Input::Links(vec![ld.clone()]), t0, 0);
        let v = m.view(t0);
        let l = v.sections["links"].values().next().unwrap();
        assert_eq!(l["actor_name"], "counter");
        assert_eq!(l["provider_name"], "kv");
        assert_eq!(l["values"]["bucket"], "b1");
        assert_ne!(l["values"]["password"], "hunter2");
        // Deleted by event.
        m.apply(event(LatticeEvent::LinkdefDeleted(LinkdefEventData::from(&ld))), t0, 0);
        assert!(m.view(t0).sections["links"].is_empty());
        m.apply(event(LatticeEvent::LinkdefSet(LinkdefEventData::from(&ld))), t0, 0);
        assert_eq!(m.view(t0).sections["links"].len(), 1);
    }

    #[test]
    fn calls_make_edges_that_leave_after_the_window() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig { window: Duration::from_secs(5) }, t0);
        for i in 0..20 {
            m.apply(
                Input::Call(CallSample {
                    origin: PROVIDER.into(),
                    target: ACTOR.into(),
                    link: String::new(),
                    latency: Some(Duration::from_millis(2)),
                    error: i == 0,
                }),
                t0,
                0,
            );
        }
        let v = m.view(t0);
        let e = &v.sections["edges"][&format!("{PROVIDER}>{ACTOR}")];
        assert_eq!(e["calls"], 20);
        assert_eq!(e["rate"], 20.0);
        assert_eq!(e["error_rate"], 0.05);
        assert!(e["p50_ms"].as_f64().unwrap() >= 2.0);
        assert_eq!(v.stats["calls_total"], 20);
        let later = t0 + Duration::from_secs(6);
        m.expire(later);
        assert!(m.view(later).sections["edges"].is_empty());
    }

    #[test]
    fn alerts_and_events_are_bounded() {
        let t0 = Instant::now();
        let mut m = Model::new(ModelConfig::default(), t0);
        for _ in 0..MAX_ALERTS + 5 {
            let a = Alert::new(
                std::time::SystemTime::UNIX_EPOCH,
                "s",
                None,
                &lattice_proto::verify::Rejection::Claims(lattice_proto::ClaimsError::Malformed("x".into())),
            );
            m.apply(Input::Alert(a), t0, 0);
        }
        for _ in 0..MAX_EVENTS + 5 {
            m.apply(Input::BadEvent { subject: "s".into(), reason: "r".into() }, t0, 0);
        }
        let v = m.view(t0);
        assert_eq!(v.alerts.len(), MAX_ALERTS);
        assert_eq!(v.alerts.last().unwrap()["seq"], (MAX_ALERTS + 5) as u64);
        assert_eq!(v.alerts[0]["kind"], "malformed");
        assert_eq!(v.events.len(), MAX_EVENTS);
    }
}
