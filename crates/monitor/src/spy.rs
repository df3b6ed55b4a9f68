//! [`Spy`]: a live, decoded view of the calls to and from one actor or provider.
//!
//! Like `wash spy` did for 0.82: every invocation whose subject is the entity's (calls
//! *to* it) or whose origin is the entity (calls *it* makes), each paired with its
//! response, shown with operation, size, latency, outcome and a payload preview, plus the
//! control messages (links, health, shutdown) a provider receives. With trusted issuers
//! each invocation also gets the monitor's verdict (`valid` or the failed check).
//!
//! One plain subscription to `wasmbus.rpc.{lattice}.>` covers both directions (a call
//! *from* the entity can go anywhere on the lattice, so the spy decodes every invocation
//! and keeps those whose origin matches), and one per reply prefix pairs the responses.
//! [`observe`] is the pure part: which messages concern the entity, and how.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_nats::{Message, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::SelectAll;
use lattice_proto::replay::{DEFAULT_WINDOW_SECS, ReplayWindow};
use lattice_proto::subject::{self, RpcSubject};
use lattice_proto::{ActorKey, ClusterKey, InvocationResponse, LatticeName, LinkName, ProviderKey, TrustedIssuers};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alert::rfc3339;
use crate::classify::{self, CallInfo, Verdict};
use crate::error::MonitorError;
use crate::nats::{Clock, SystemClock};
use crate::pairing::{Pairing, PendingCall};
use crate::reply::ReplyPrefixes;

/// Characters of payload shown in a preview.
pub const PREVIEW_CHARS: usize = 64;

/// The entity being watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpyTarget {
    key: String,
    link: Option<String>,
}

impl SpyTarget {
    /// Watch `key` (an actor `M…` or a provider `V…`), optionally only on one link name.
    pub fn parse(key: &str, link: Option<&str>) -> Result<Self, MonitorError> {
        let key = key.trim();
        if ActorKey::parse(key).is_err() && ProviderKey::parse(key).is_err() {
            return Err(MonitorError::Config(format!(
                "{key:?} is neither an actor (M…) nor a provider (V…) public key"
            )));
        }
        let link = match link {
            Some(l) => Some(LinkName::new(l).map_err(|e| MonitorError::Config(e.to_string()))?.as_str().to_owned()),
            None => None,
        };
        Ok(Self { key: key.to_owned(), link })
    }

    /// The watched key.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn link_ok(&self, link: &str) -> bool {
        self.link.as_deref().is_none_or(|l| l == link)
    }
}

/// Which way a call goes, seen from the watched entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A call to the entity.
    In,
    /// A call the entity makes.
    Out,
}

impl Direction {
    fn arrow(self) -> &'static str {
        match self {
            Direction::In => "→ in ",
            Direction::Out => "← out",
        }
    }
}

/// One thing the spy saw. `--json` prints each as one line, tagged by `event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SpyEvent {
    /// An invocation to or from the entity.
    Invocation {
        /// When it was seen (RFC 3339 UTC).
        time: String,
        /// To (`in`) or from (`out`) the entity.
        direction: Direction,
        /// Its subject.
        subject: String,
        /// The operation.
        operation: String,
        /// The origin's public key.
        origin: String,
        /// The target's public key.
        target: String,
        /// The invocation id.
        invocation_id: String,
        /// Inline body bytes.
        size: usize,
        /// Full body bytes (larger than `size` when chunked).
        content_length: u64,
        /// `valid` or the failed check, when issuers were given.
        #[serde(skip_serializing_if = "Option::is_none")]
        verdict: Option<String>,
        /// Why it is not valid.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The body, as text if printable, else a hex snippet.
        preview: String,
    },
    /// The response to an invocation shown before.
    Response {
        /// When it was seen.
        time: String,
        /// The direction of the call it answers.
        direction: Direction,
        /// The operation of the call.
        operation: String,
        /// The call's invocation id.
        invocation_id: String,
        /// Response body bytes.
        size: usize,
        /// Invocation seen → response seen, in microseconds (absent if read out of order).
        #[serde(skip_serializing_if = "Option::is_none")]
        latency_us: Option<u64>,
        /// `ok` or `error`.
        outcome: &'static str,
        /// The response's error text.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The body preview.
        preview: String,
    },
    /// A call that got no response within a minute.
    NoResponse {
        /// When the spy gave up on it.
        time: String,
        /// The call's direction.
        direction: Direction,
        /// The operation.
        operation: String,
        /// The invocation id.
        invocation_id: String,
    },
    /// A provider control message to the entity (`linkdefs.put`, `health`, …).
    Control {
        /// When it was seen.
        time: String,
        /// Its subject.
        subject: String,
        /// The kind (subject suffix).
        kind: String,
        /// Payload bytes.
        size: usize,
        /// The payload preview.
        preview: String,
    },
    /// Bytes on the entity's subject that are not an invocation.
    Malformed {
        /// When it was seen.
        time: String,
        /// Its subject.
        subject: String,
        /// Payload bytes.
        size: usize,
        /// The decoder's complaint.
        reason: String,
        /// The payload preview.
        preview: String,
    },
}

fn short(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

impl SpyEvent {
    /// The event as one compact JSON object (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The event as one human line (no newline).
    pub fn human_line(&self) -> String {
        match self {
            SpyEvent::Invocation {
                time,
                direction,
                operation,
                origin,
                target,
                invocation_id,
                content_length,
                verdict,
                reason,
                preview,
                ..
            } => {
                let peer = match direction {
                    Direction::In => format!("from {}…", short(origin)),
                    Direction::Out => format!("to {}…", short(target)),
                };
                let verdict = match (verdict, reason) {
                    (Some(v), Some(r)) => format!(" [{v}: {r}]"),
                    (Some(v), None) => format!(" [{v}]"),
                    _ => String::new(),
                };
                format!(
                    "{time} {} {operation} {peer} id {invocation_id} {content_length} B{verdict} \"{preview}\"",
                    direction.arrow()
                )
            }
            SpyEvent::Response {
                time, operation, invocation_id, size, latency_us, outcome, error, preview, ..
            } => {
                let latency = latency_us.map_or("?".to_owned(), |us| format!("{:.3} ms", us as f64 / 1000.0));
                let detail = error.as_ref().map_or_else(|| format!("\"{preview}\""), |e| format!("error: {e}"));
                format!("{time}   ↩ {outcome} {operation} id {invocation_id} {latency} {size} B {detail}")
            }
            SpyEvent::NoResponse { time, operation, invocation_id, .. } => {
                format!("{time}   ↩ no response to {operation} id {invocation_id}")
            }
            SpyEvent::Control { time, kind, size, preview, .. } => {
                format!("{time} ⚙ control {kind} {size} B \"{preview}\"")
            }
            SpyEvent::Malformed { time, subject, size, reason, .. } => {
                format!("{time} ✗ malformed on {subject} ({size} B): {reason}")
            }
        }
    }
}

/// A short, safe rendering of a payload: printable UTF-8 as text (control characters
/// escaped), anything else as `hex:` and the first bytes; `…` marks a cut.
pub fn preview(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
    {
        let mut out = String::with_capacity(PREVIEW_CHARS + 8);
        for c in text.chars().take(PREVIEW_CHARS) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
        if text.chars().nth(PREVIEW_CHARS).is_some() {
            out.push('…');
        }
        return out;
    }
    let n = PREVIEW_CHARS / 2;
    let mut out = format!("hex:{}", data_encoding::HEXLOWER.encode(&bytes[..bytes.len().min(n)]));
    if bytes.len() > n {
        out.push('…');
    }
    out
}

/// What a message on the lattice means for the watched entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// An invocation to or from it, with the monitor's verdict when issuers were given.
    Invocation {
        /// To or from.
        direction: Direction,
        /// The call's parts.
        call: CallInfo,
        /// The body preview.
        preview: String,
        /// `None` without issuers; else the verdict's label and, if invalid, the reason.
        verdict: Option<(String, Option<String>)>,
    },
    /// A control message to it.
    Control {
        /// The kind.
        kind: String,
    },
    /// Something on its subject that does not decode.
    Malformed {
        /// Why.
        reason: String,
    },
}

/// The checks the spy runs on the calls it shows (optional).
#[derive(Debug)]
pub struct SpyChecks {
    issuers: TrustedIssuers,
    replay: ReplayWindow,
}

impl SpyChecks {
    /// Verify against `issuers` with a replay window of `window_secs`.
    pub fn new(issuers: &[ClusterKey], window_secs: u64) -> Self {
        Self { issuers: TrustedIssuers::new(issuers), replay: ReplayWindow::new(window_secs, 100_000) }
    }
}

/// Decide what `payload` on `subject` means for `target` (`None`: nothing, skip it).
pub fn observe(
    target: &SpyTarget,
    subject: &str,
    payload: &[u8],
    now: u64,
    checks: Option<&mut SpyChecks>,
) -> Option<Observation> {
    let to_it = match subject::parse(subject) {
        RpcSubject::Actor { actor, .. } => actor == target.key,
        RpcSubject::Provider { provider, link, .. } => provider == target.key && target.link_ok(link),
        RpcSubject::ProviderControl { provider, link, kind, .. } => {
            return (provider == target.key && target.link_ok(link))
                .then(|| Observation::Control { kind: kind.to_owned() });
        }
        RpcSubject::Other => return None,
    };
    let inv = match classify::decode(payload) {
        Ok(inv) => inv,
        Err(e) => return to_it.then(|| Observation::Malformed { reason: classify::reason(&e) }),
    };
    let direction = if to_it {
        Direction::In
    } else if inv.origin.public_key == target.key && target.link_ok(&inv.origin.link_name) {
        Direction::Out
    } else {
        return None;
    };
    let preview = preview(&inv.msg);
    let (call, verdict) = match checks {
        None => (CallInfo::from_invocation(inv), None),
        Some(c) => match classify::classify_decoded(subject, Ok(inv), now, &mut c.replay, &c.issuers) {
            Verdict::Valid(call) => (call, Some(("valid".to_owned(), None))),
            Verdict::Invalid { call: Some(call), error } => {
                (call, Some((error.kind().as_str().to_owned(), Some(classify::reason(&error)))))
            }
            // A decoded invocation always comes back with its call.
            Verdict::Invalid { call: None, .. } | Verdict::Control { .. } | Verdict::Unrouted => return None,
        },
    };
    Some(Observation::Invocation { direction, call, preview, verdict })
}

/// Watches one entity; start with [`Spy::builder`].
#[derive(Debug)]
pub struct Spy;

impl Spy {
    /// A spy on `target` in `lattice` over `nats`.
    pub fn builder(nats: async_nats::Client, lattice: LatticeName, target: SpyTarget) -> SpyBuilder {
        SpyBuilder {
            nats,
            lattice,
            target,
            issuers: Vec::new(),
            window: DEFAULT_WINDOW_SECS,
            reply_prefixes: ReplyPrefixes::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Settings of a [`Spy`]; ends in [`SpyBuilder::start`].
pub struct SpyBuilder {
    nats: async_nats::Client,
    lattice: LatticeName,
    target: SpyTarget,
    issuers: Vec<ClusterKey>,
    window: u64,
    reply_prefixes: ReplyPrefixes,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SpyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpyBuilder")
            .field("lattice", &self.lattice)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl SpyBuilder {
    /// Verify the calls shown against these issuers (off when empty).
    pub fn issuers(mut self, issuers: Vec<ClusterKey>) -> Self {
        self.issuers = issuers;
        self
    }

    /// The replay window / `iat` age for verification (default 300 s).
    pub fn window(mut self, secs: u64) -> Self {
        self.window = secs.max(1);
        self
    }

    /// Reply-subject prefixes to watch for responses (default `_INBOX`).
    pub fn reply_prefixes(mut self, prefixes: ReplyPrefixes) -> Self {
        self.reply_prefixes = prefixes;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Subscribe, flush, and start watching.
    pub async fn start(self) -> Result<SpyHandle, MonitorError> {
        let nats = self.nats;
        let rpc_subject = subject::rpc_wildcard(&self.lattice).into_string();
        let sub = |s: String| {
            let nats = nats.clone();
            async move { nats.subscribe(s.clone()).await.map_err(|source| MonitorError::Subscribe { subject: s, source }) }
        };
        let rpc = sub(rpc_subject.clone()).await?;
        let mut subjects = vec![rpc_subject];
        let mut replies = SelectAll::new();
        for s in self.reply_prefixes.subjects() {
            replies.push(sub(s.clone()).await?);
            subjects.push(s);
        }
        nats.flush().await.map_err(MonitorError::Flush)?;
        let checks = (!self.issuers.is_empty()).then(|| SpyChecks::new(&self.issuers, self.window));
        let (tx, rx) = mpsc::channel(4096);
        let cancel = CancellationToken::new();
        let task = SpyTask {
            target: self.target,
            rpc,
            replies,
            checks,
            clock: self.clock,
            pairing: Pairing::default(),
            events: tx,
        };
        let join = tokio::spawn(task.run(cancel.clone()));
        Ok(SpyHandle { events: rx, subjects, cancel, join })
    }
}

/// A running spy.
#[derive(Debug)]
pub struct SpyHandle {
    events: mpsc::Receiver<SpyEvent>,
    subjects: Vec<String>,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl SpyHandle {
    /// The next event; `None` once stopped.
    pub async fn next_event(&mut self) -> Option<SpyEvent> {
        self.events.recv().await
    }

    /// The subjects subscribed.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// Stop watching.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        self.events.close();
        let _ = (&mut self.join).await;
    }
}

struct SpyTask {
    target: SpyTarget,
    rpc: Subscriber,
    replies: SelectAll<Subscriber>,
    checks: Option<SpyChecks>,
    clock: Arc<dyn Clock>,
    pairing: Pairing<Bytes>,
    events: mpsc::Sender<SpyEvent>,
}

impl SpyTask {
    async fn run(mut self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let event = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                msg = self.rpc.next() => match msg {
                    Some(msg) => self.rpc_message(msg),
                    None => break,
                },
                Some(msg) = self.replies.next() => self.reply_message(msg),
                _ = tick.tick() => {
                    for event in self.expire() {
                        if self.events.send(event).await.is_err() {
                            return;
                        }
                    }
                    None
                }
            };
            if let Some(event) = event
                && self.events.send(event).await.is_err()
            {
                break;
            }
        }
    }

    fn rpc_message(&mut self, msg: Message) -> Option<SpyEvent> {
        let at = self.clock.now();
        let subject = msg.subject.to_string();
        let seen = observe(&self.target, &subject, &msg.payload, secs(at), self.checks.as_mut())?;
        let time = rfc3339(at);
        Some(match seen {
            Observation::Invocation { direction, call, preview, verdict } => {
                if let Some(reply) = &msg.reply {
                    let pending = PendingCall {
                        operation: call.operation.clone(),
                        invocation_id: call.invocation_id.clone(),
                        seen: Instant::now(),
                        tag: direction_tag(direction).to_owned(),
                    };
                    // An early reply (rare) is dropped here: the invocation is shown either way.
                    let _ = self.pairing.invocation(reply, pending);
                }
                let (verdict, reason) = verdict.map_or((None, None), |(v, r)| (Some(v), r));
                SpyEvent::Invocation {
                    time,
                    direction,
                    subject,
                    operation: call.operation,
                    origin: call.origin,
                    target: call.target,
                    invocation_id: call.invocation_id,
                    size: call.size,
                    content_length: call.content_length,
                    verdict,
                    reason,
                    preview,
                }
            }
            Observation::Control { kind } => {
                SpyEvent::Control { time, subject, kind, size: msg.payload.len(), preview: preview(&msg.payload) }
            }
            Observation::Malformed { reason } => {
                SpyEvent::Malformed { time, subject, size: msg.payload.len(), reason, preview: preview(&msg.payload) }
            }
        })
    }

    fn reply_message(&mut self, msg: Message) -> Option<SpyEvent> {
        let paired = self.pairing.reply(&msg.subject, Instant::now(), msg.payload, false)?;
        let direction = if paired.call.tag == direction_tag(Direction::Out) { Direction::Out } else { Direction::In };
        let (size, outcome, error, preview) = match InvocationResponse::decode(&paired.reply) {
            Ok(r) if r.error.is_none() => (r.msg.len(), "ok", None, preview(&r.msg)),
            Ok(r) => (r.msg.len(), "error", r.error, String::new()),
            Err(e) if paired.reply.is_empty() => {
                (0, "error", Some(format!("no response payload ({e})")), String::new())
            }
            Err(e) => (paired.reply.len(), "error", Some(e.to_string()), preview(&paired.reply)),
        };
        Some(SpyEvent::Response {
            time: rfc3339(self.clock.now()),
            direction,
            operation: paired.call.operation,
            invocation_id: paired.call.invocation_id,
            size,
            latency_us: Some(paired.latency.as_micros() as u64),
            outcome,
            error,
            preview,
        })
    }

    fn expire(&mut self) -> Vec<SpyEvent> {
        let time = rfc3339(self.clock.now());
        self.pairing
            .expire(Instant::now())
            .into_iter()
            .map(|call| SpyEvent::NoResponse {
                time: time.clone(),
                direction: if call.tag == direction_tag(Direction::Out) { Direction::Out } else { Direction::In },
                operation: call.operation,
                invocation_id: call.invocation_id,
            })
            .collect()
    }
}

fn direction_tag(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use lattice_proto::{ClusterSeed, HostKey, WasmCloudEntity};

    use super::*;
    use crate::classify::tests::{actor_subject, provider_subject};
    use crate::forge::{Forge, Forgery};

    const SEED: &str = "SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ";
    const ISSUER: &str = "CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI";
    const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
    const ACTOR_A: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
    const ACTOR_B: &str = "MBXHUHG5FGYLPD6RHL2MKWMP572O6KUXCZXDZJXS4T57ZTMAKBN7CE6S";
    const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
    const NOW: u64 = 1_707_858_000;

    fn forge(origin: WasmCloudEntity, target: WasmCloudEntity) -> Forge {
        Forge {
            seed: ClusterSeed::parse(SEED).unwrap(),
            host: HostKey::parse(HOST).unwrap(),
            origin,
            target,
            operation: "KeyValue.Get".into(),
        }
    }

    fn actor(k: &str) -> WasmCloudEntity {
        WasmCloudEntity { public_key: k.into(), ..Default::default() }
    }

    fn provider(link: &str) -> WasmCloudEntity {
        WasmCloudEntity {
            public_key: PROVIDER.into(),
            link_name: link.into(),
            contract_id: "wasmcloud:keyvalue".into(),
        }
    }

    #[test]
    fn target_must_be_an_entity_key() {
        assert!(SpyTarget::parse(ACTOR_A, None).is_ok());
        assert!(SpyTarget::parse(PROVIDER, Some("default")).is_ok());
        assert!(SpyTarget::parse(ISSUER, None).is_err());
        assert!(SpyTarget::parse("nope", None).is_err());
        assert!(SpyTarget::parse(PROVIDER, Some("a.b")).is_err());
    }

    #[test]
    fn calls_to_and_from_the_entity_are_seen_others_not() {
        let spy_a = SpyTarget::parse(ACTOR_A, None).unwrap();
        let to_a = forge(actor(ACTOR_B), actor(ACTOR_A)).genuine("1", b"hi", NOW).encode();
        let from_a = forge(actor(ACTOR_A), provider("default")).genuine("2", b"key", NOW).encode();
        let unrelated = forge(actor(ACTOR_B), provider("default")).genuine("3", b"k", NOW).encode();
        let sa = actor_subject(ACTOR_A);
        let sp = provider_subject(PROVIDER, "default");

        let Some(Observation::Invocation { direction, call, preview, verdict }) =
            observe(&spy_a, &sa, &to_a, NOW, None)
        else {
            panic!()
        };
        assert_eq!(
            (direction, call.operation.as_str(), preview.as_str(), verdict),
            (Direction::In, "KeyValue.Get", "hi", None)
        );
        let Some(Observation::Invocation { direction, call, .. }) = observe(&spy_a, &sp, &from_a, NOW, None) else {
            panic!()
        };
        assert_eq!((direction, call.target.as_str()), (Direction::Out, PROVIDER));
        assert_eq!(observe(&spy_a, &sp, &unrelated, NOW, None), None);
        // Garbage on the entity's own subject is shown; elsewhere it is not its business.
        assert!(matches!(observe(&spy_a, &sa, b"\xc1", NOW, None), Some(Observation::Malformed { .. })));
        assert_eq!(observe(&spy_a, &sp, b"\xc1", NOW, None), None);
    }

    #[test]
    fn provider_link_filter_and_control_messages() {
        let any_link = SpyTarget::parse(PROVIDER, None).unwrap();
        let only_other = SpyTarget::parse(PROVIDER, Some("other")).unwrap();
        let call = forge(actor(ACTOR_A), provider("default")).genuine("1", b"k", NOW).encode();
        let sp = provider_subject(PROVIDER, "default");
        assert!(observe(&any_link, &sp, &call, NOW, None).is_some());
        assert_eq!(observe(&only_other, &sp, &call, NOW, None), None);
        let put = format!("{sp}.linkdefs.put");
        assert_eq!(
            observe(&any_link, &put, b"", NOW, None),
            Some(Observation::Control { kind: "linkdefs.put".into() })
        );
        assert_eq!(observe(&only_other, &put, b"", NOW, None), None);
    }

    #[test]
    fn with_issuers_each_call_gets_a_verdict() {
        let spy_b = SpyTarget::parse(ACTOR_B, None).unwrap();
        let f = forge(actor(ACTOR_A), actor(ACTOR_B));
        let sb = actor_subject(ACTOR_B);
        let mut checks = SpyChecks::new(&[ClusterKey::parse(ISSUER).unwrap()], 300);
        let verdict = |payload: &[u8], checks: &mut SpyChecks| match observe(&spy_b, &sb, payload, NOW, Some(checks)) {
            Some(Observation::Invocation { verdict: Some((v, _)), .. }) => v,
            other => panic!("{other:?}"),
        };
        let genuine = f.genuine("g", b"x", NOW).encode();
        assert_eq!(verdict(&genuine, &mut checks), "valid");
        assert_eq!(verdict(&genuine, &mut checks), "replayed");
        assert_eq!(verdict(&f.forge(Forgery::BadSignature, "b", NOW, 300), &mut checks), "bad_signature");
    }

    #[test]
    fn previews() {
        assert_eq!(preview(b""), "");
        assert_eq!(preview(b"hello\nworld"), "hello\\nworld");
        assert_eq!(preview("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(preview(&[0x81, 0xa1, 0x61, 0x01]), "hex:81a16101");
        assert_eq!(preview(b"a\x00b"), "hex:610062");
        let long = "x".repeat(100);
        assert_eq!(preview(long.as_bytes()), format!("{}…", "x".repeat(PREVIEW_CHARS)));
        let bin = vec![0xffu8; 100];
        assert_eq!(preview(&bin), format!("hex:{}…", "ff".repeat(PREVIEW_CHARS / 2)));
    }

    #[test]
    fn events_render_as_one_json_line_and_one_human_line() {
        let e = SpyEvent::Response {
            time: "t".into(),
            direction: Direction::In,
            operation: "Op".into(),
            invocation_id: "id".into(),
            size: 2,
            latency_us: Some(1500),
            outcome: "ok",
            error: None,
            preview: "hi".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["event"], "response");
        assert_eq!(v["latency_us"], 1500);
        assert_eq!(v["direction"], "in");
        assert!(v.get("error").is_none());
        assert!(e.human_line().contains("1.500 ms"), "{}", e.human_line());
        assert!(!e.human_line().contains('\n'));
    }
}
