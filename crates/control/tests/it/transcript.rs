//! Every control request and reply, event and KV record a real wasmCloud 0.82 host (driven by
//! the real 0.33 client) put on the wire decodes into our types and re-encodes to the same
//! JSON value — and to the same bytes wherever 0.82's output is deterministic.

use std::collections::{BTreeMap, BTreeSet};

use lattice_control::events::{CloudEvent, LatticeEvent, LinkdefEventData, Timestamp};
use lattice_control::storage::{self, KvKey, StoredClaims};
use lattice_control::subjects::{self, CtlRequest};
use lattice_control::types::{
    ACCEPTED, ActorAuctionAck, ActorAuctionRequest, CtlOperationAck, GetClaimsResponse, Host, HostInventory, HostLabel,
    LinkDefinitionList, ProviderAuctionAck, ProviderAuctionRequest, RemoveLinkDefinitionRequest, ScaleActorCommand,
    StartProviderCommand, StopHostCommand, StopProviderCommand,
};
use lattice_control::{ControlError, CtlBody, EventName, decode_body};
use lattice_proto::{HostKey, LatticeName, LinkDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::support::{ACTOR, HOST, Msg, PROVIDER, transcript, value};

fn lattice() -> LatticeName {
    LatticeName::new("default").unwrap()
}

/// Decode `bytes` as `T`, re-encode, and require the same JSON value; with `exact`, the same bytes.
fn round_trip<T: DeserializeOwned + Serialize>(bytes: &[u8], exact: bool) -> T {
    let decoded: T = serde_json::from_slice(bytes).unwrap();
    let again = serde_json::to_vec(&decoded).unwrap();
    assert_eq!(value(&again), value(bytes), "value round trip of {}", String::from_utf8_lossy(bytes));
    if exact {
        assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8_lossy(bytes), "byte round trip");
    }
    decoded
}

/// A request body: strict decode, then the same checks as [`round_trip`].
fn request<T: CtlBody + Serialize>(msg: &Msg, exact: bool) -> T {
    let body: T = decode_body(msg.payload()).unwrap_or_else(|e| panic!("line {}: {e}", msg.index));
    let again = serde_json::to_vec(&body).unwrap();
    assert_eq!(value(&again), value(msg.payload()), "line {}", msg.index);
    if exact {
        assert_eq!(again, msg.payload(), "line {}", msg.index);
    }
    body
}

fn ack(msg: &Msg) -> CtlOperationAck {
    assert_eq!(msg.replies.len(), 1, "line {}", msg.index);
    round_trip::<CtlOperationAck>(msg.replies[0].as_bytes(), true)
}

fn accepted(msg: &Msg) {
    assert_eq!(msg.replies[0], ACCEPTED, "line {}", msg.index);
    assert_eq!(ack(msg), CtlOperationAck::accepted());
}

#[test]
fn every_control_message_round_trips() {
    let l = lattice();
    let host = HostKey::parse(HOST).unwrap();
    let mut covered = BTreeSet::new();
    let mut link_put: Option<LinkDefinition> = None;
    for msg in transcript().iter().filter(|m| m.subject.starts_with("wasmbus.ctl.")) {
        let req = CtlRequest::parse(&l, &msg.subject);
        if let Some(h) = req.host() {
            assert_eq!(h, &host);
        }
        match req {
            CtlRequest::PingHosts => {
                assert!(msg.payload().is_empty());
                for reply in &msg.replies {
                    // 0.82 answers with a `json!` map: keys sorted, our field order.
                    let h: Host = round_trip(reply.as_bytes(), true);
                    assert_eq!(h.id, HOST);
                    assert_eq!(h.cluster_issuer_list(), ["CDSJG3UK4MXKMHQI6ORVFPW5DK6AOG2Q5M2XDGRTZ3TPOTFBDNQ63MG3"]);
                    assert_eq!(h.js_domain, None);
                    assert_eq!((h.lattice.as_str(), h.lattice_prefix.as_str()), ("default", "default"));
                    assert_eq!(h.labels["zone"], "capture");
                }
            }
            CtlRequest::HostInventory { .. } => {
                // Labels come from a HashMap in 0.82: same value, not the same bytes.
                let inv: HostInventory = round_trip(msg.replies[0].as_bytes(), false);
                assert_eq!(inv.host_id, HOST);
                if let Some(actor) = inv.actors.first() {
                    assert_eq!(actor.id, ACTOR);
                    assert_eq!(actor.instances[0].max_instances, 2);
                    assert_eq!(inv.providers[0].id, PROVIDER);
                    assert_eq!(inv.providers[0].contract_id, "wasmcloud:httpserver");
                }
            }
            CtlRequest::GetLinks => {
                let list: LinkDefinitionList = round_trip(msg.replies[0].as_bytes(), true);
                if let Some(ld) = list.links.first() {
                    assert_eq!(Some(ld), link_put.as_ref());
                }
            }
            CtlRequest::GetClaims => {
                // Checked against the stored claims in `claims_maps_match_stored_claims`.
                round_trip::<GetClaimsResponse>(msg.replies[0].as_bytes(), false);
            }
            CtlRequest::AuctionActor => {
                let req: ActorAuctionRequest = request(msg, true);
                let bid: ActorAuctionAck = round_trip(msg.replies[0].as_bytes(), true);
                assert_eq!((bid.actor_ref, bid.host_id), (req.actor_ref, HOST.to_owned()));
            }
            CtlRequest::AuctionProvider => {
                let req: ProviderAuctionRequest = request(msg, true);
                let bid: ProviderAuctionAck = round_trip(msg.replies[0].as_bytes(), true);
                assert_eq!((bid.provider_ref, bid.link_name), (req.provider_ref, req.link_name));
            }
            CtlRequest::ScaleActor { .. } => {
                accepted(msg);
                if msg.payload() == b"[]" {
                    // 0.82 accepted this (every field defaulted); Lattice refuses it.
                    let err = decode_body::<ScaleActorCommand>(msg.payload()).unwrap_err();
                    assert!(matches!(err, ControlError::Decode { .. }), "{err}");
                    let nack = CtlOperationAck::from(&err);
                    assert!(!nack.accepted);
                    assert!(nack.error.contains("expected a JSON object"), "{}", nack.error);
                } else {
                    let cmd: ScaleActorCommand = request(msg, true);
                    assert_eq!(cmd.actor_ref, "file:///path/to/hello.wasm");
                    assert_eq!(cmd.host_id, HOST);
                }
            }
            CtlRequest::StartProvider { .. } => {
                let cmd: StartProviderCommand = request(msg, true);
                assert_eq!((cmd.link_name.as_str(), cmd.configuration), ("default", None));
                accepted(msg);
            }
            CtlRequest::StopProvider { .. } => {
                let cmd: StopProviderCommand = request(msg, true);
                assert_eq!(cmd.contract_id, "wasmcloud:httpserver");
                accepted(msg);
            }
            CtlRequest::StopHost { .. } => {
                let cmd: StopHostCommand = request(msg, true);
                assert_eq!(cmd, StopHostCommand { host_id: None, timeout: Some(1000) });
                accepted(msg);
            }
            CtlRequest::LabelPut { .. } => {
                let label: HostLabel = request(msg, true);
                assert_eq!((label.key.as_str(), label.value.as_str()), ("capture", "yes"));
                accepted(msg);
            }
            CtlRequest::LinkPut if msg.payload() == b"{bad" => {
                let ours = decode_body::<LinkDefinition>(msg.payload()).unwrap_err().to_string();
                let theirs = ack(msg);
                assert!(!theirs.accepted);
                // Same message, plus the reason (0.82 kept only the outermost context).
                assert!(ours.starts_with(&theirs.error), "{ours} vs {}", theirs.error);
            }
            CtlRequest::LinkPut => {
                let ld: LinkDefinition = request(msg, true);
                assert_eq!(ld.values.get("address"), Some("127.0.0.1:39673"));
                link_put = Some(ld);
                accepted(msg);
            }
            CtlRequest::LinkDel => {
                // The 0.33 client sends the full definition with provider_id "" and values {}.
                let del: RemoveLinkDefinitionRequest = decode_body(msg.payload()).unwrap();
                let put = link_put.as_ref().unwrap();
                assert_eq!(
                    (del.actor_id.as_str(), del.contract_id.as_str(), del.link_name.as_str()),
                    (put.actor_id.as_str(), put.contract_id.as_str(), put.link_name.as_str())
                );
                accepted(msg);
            }
            CtlRequest::Unsupported { subject } => {
                assert_eq!(subject, "wasmbus.ctl.default.bogus.thing");
                // 0.82 did not answer at all (no subscription matched).
                assert!(msg.replies.is_empty());
            }
            other => panic!("line {}: the transcript has no {other:?}", msg.index),
        }
        covered.insert(msg.index);
    }
    assert_eq!(covered.len(), 23, "{covered:?}");
}

#[test]
fn every_event_rebuilds_byte_for_byte() {
    let l = lattice();
    let msgs = transcript();
    let events: Vec<&Msg> = msgs.iter().filter(|m| m.subject.starts_with("wasmbus.evt.")).collect();
    assert_eq!(events.len(), 24);
    let mut names = BTreeSet::new();
    for pair in events.chunks(2) {
        // Published twice, same bytes: general subject first, then the named one.
        let (general, named) = (pair[0], pair[1]);
        assert_eq!(general.payload, named.payload);
        let envelope = CloudEvent::from_json(named.payload()).unwrap();
        let name: EventName = envelope.name().unwrap().parse().unwrap();
        assert_eq!(general.subject, subjects::events(&l));
        assert_eq!(named.subject, subjects::event(&l, name));
        assert_eq!(envelope.source, HOST);
        assert_eq!(envelope.datacontenttype.as_deref(), Some("application/json"));

        let event = envelope.event().unwrap();
        assert_eq!(event.name(), name);
        let rebuilt = CloudEvent::new(
            &HostKey::parse(&envelope.source).unwrap(),
            uuid::Uuid::parse_str(&envelope.id).unwrap(),
            &Timestamp::parse(envelope.time.as_deref().unwrap()).unwrap(),
            &event,
        );
        assert_eq!(String::from_utf8(rebuilt.to_json()).unwrap(), named.payload.clone().unwrap(), "{name}");
        // The time formats back from its instant, too.
        let t = envelope.timestamp().unwrap();
        assert_eq!(Timestamp::from_unix_nanos(t.unix_nanos()).unwrap(), t);
        names.insert(name);
    }
    let want: BTreeSet<EventName> = [
        EventName::HostStarted,
        EventName::ActorsStarted,
        EventName::ActorScaled,
        EventName::ProviderStarted,
        EventName::LinkdefSet,
        EventName::HealthCheckPassed,
        EventName::HostHeartbeat,
        EventName::HealthCheckStatus,
        EventName::LinkdefDeleted,
        EventName::ActorsStopped,
        EventName::HostStopped,
    ]
    .into();
    assert_eq!(names, want);
}

fn only(mut events: Vec<LatticeEvent>) -> LatticeEvent {
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

fn event_data(msgs: &[Msg], name: EventName) -> Vec<LatticeEvent> {
    let subject = subjects::event(&lattice(), name);
    msgs.iter()
        .filter(|m| m.subject == subject)
        .map(|m| CloudEvent::from_json(m.payload()).unwrap().event().unwrap())
        .collect()
}

#[test]
fn event_data_agrees_with_the_requests() {
    let msgs = transcript();
    let put: LinkDefinition =
        serde_json::from_slice(crate::support::first(&msgs, "wasmbus.ctl.default.linkdefs.put").payload()).unwrap();
    let from_put = LinkdefEventData::from(&put);
    assert_eq!(event_data(&msgs, EventName::LinkdefSet), [LatticeEvent::LinkdefSet(from_put.clone())]);
    assert_eq!(event_data(&msgs, EventName::LinkdefDeleted), [LatticeEvent::LinkdefDeleted(from_put)]);

    let LatticeEvent::ActorsStarted(started) = only(event_data(&msgs, EventName::ActorsStarted)) else {
        panic!("not actors_started")
    };
    assert_eq!((started.public_key.as_str(), started.count), (ACTOR, 2));
    assert_eq!(started.claims.call_alias, None);
    assert_eq!(started.claims.revision, Some(1));

    let LatticeEvent::HostHeartbeat(beat) = only(event_data(&msgs, EventName::HostHeartbeat)) else {
        panic!("not host_heartbeat")
    };
    let inv_subject = subjects::host_inventory(&lattice(), &HostKey::parse(HOST).unwrap());
    let inv_msg = msgs.iter().rfind(|m| m.subject == inv_subject).unwrap();
    let inv: HostInventory = serde_json::from_str(&inv_msg.replies[0]).unwrap();
    assert_eq!((beat.actors, beat.providers), (inv.actors, inv.providers));
    assert_eq!(beat.labels["capture"], "yes");
}

#[test]
fn kv_records_round_trip_and_keys_match() {
    let l = lattice();
    let msgs = transcript();
    let prefix = format!("$KV.{}.", storage::bucket_name(&l));
    let put = crate::support::first(&msgs, &subjects::linkdefs_put(&l));
    let put_ld: LinkDefinition = serde_json::from_slice(put.payload()).unwrap();
    let mut covered = BTreeSet::new();
    let mut claims = Vec::new();
    for msg in msgs.iter().filter(|m| m.subject.starts_with(&prefix)) {
        let key = &msg.subject[prefix.len()..];
        let deleting = msg.headers.as_ref().and_then(|h| h.get("KV-Operation")).is_some();
        match KvKey::parse(key) {
            KvKey::Linkdef { id } => {
                // Pinned: 0.82's linkdef_hash of the transcript's link.
                assert_eq!(id, "C1F7A5A8566A20F97F391974B4E09E09739F8B7BF6E66E788B3F436DBE4C0E01");
                assert_eq!(key, storage::linkdef_key(ACTOR, "wasmcloud:httpserver", "default"));
                assert_eq!(key, storage::linkdef_key_for(&put_ld));
                if deleting {
                    assert!(msg.payload().is_empty());
                } else {
                    // The value is the linkdefs.put body, byte for byte.
                    assert_eq!(msg.payload(), put.payload());
                    let ld = storage::decode_linkdef(key, msg.payload()).unwrap();
                    assert_eq!(storage::encode_linkdef(&ld), msg.payload());
                    let tampered = storage::linkdef_key(ACTOR, "wasmcloud:httpserver", "other");
                    let err = storage::decode_linkdef(&tampered, msg.payload()).unwrap_err();
                    assert!(lattice_proto::chain(&err).contains("linkdef hash mismatch"), "{err}");
                }
            }
            KvKey::Claims { subject } => {
                let stored = StoredClaims::decode(key, msg.payload()).unwrap();
                assert_eq!(stored.subject(), subject);
                assert_eq!(stored.key(), key);
                assert_eq!(stored.to_json(), msg.payload(), "claims record bytes");
                claims.push(stored);
            }
            KvKey::Other(other) => panic!("unexpected key {other}"),
        }
        covered.insert(msg.index);
    }
    assert_eq!(covered.len(), 4);
    assert!(matches!(claims.as_slice(), [StoredClaims::Actor(_), StoredClaims::Provider(_)]));

    // The KV bucket creation names the stream after our bucket name.
    let create = format!("$JS.API.STREAM.CREATE.KV_{}", storage::bucket_name(&l));
    assert!(msgs.iter().any(|m| m.subject == create));
    let create = format!("$JS.API.STREAM.CREATE.KV_{}", storage::config_bucket_name(&l));
    assert!(msgs.iter().any(|m| m.subject == create));
}

#[test]
fn claims_maps_match_stored_claims() {
    let l = lattice();
    let msgs = transcript();
    let prefix = format!("$KV.{}.", storage::bucket_name(&l));
    let stored: Vec<StoredClaims> = msgs
        .iter()
        .filter_map(|m| Some((m.subject.strip_prefix(&prefix)?, m)))
        .filter(|(key, _)| key.starts_with(storage::CLAIMS_PREFIX))
        .map(|(key, m)| StoredClaims::decode(key, m.payload()).unwrap())
        .collect();
    assert_eq!(stored.len(), 2);
    let reply = msgs.iter().rfind(|m| m.subject == subjects::get_claims(&l)).unwrap();
    let got: GetClaimsResponse = serde_json::from_str(&reply.replies[0]).unwrap();
    let ours: Vec<BTreeMap<String, String>> = stored.iter().map(StoredClaims::to_claims_map).collect();
    assert_eq!(got.claims, ours);
    // And the other way round: a claims map reads back as the stored claims (aliases and
    // comma-joined lists), once the duplicate long/short keys are reduced to one each.
    for (map, want) in got.claims.iter().zip(&stored) {
        let mut single = map.clone();
        for short in ["caps", "iss", "rev", "sub"] {
            single.remove(short);
        }
        single.retain(|k, v| !(k == "config_schema" && v.is_empty()));
        let back: StoredClaims = serde_json::from_value(serde_json::to_value(&single).unwrap()).unwrap();
        assert_eq!(&back, want);
    }
}

#[test]
fn only_rpc_traffic_is_left_uncovered() {
    // The transcript's remaining lines belong to the RPC plane (lattice-proto's vectors).
    let left: Vec<String> = transcript()
        .into_iter()
        .filter(|m| !m.subject.starts_with("wasmbus.ctl.") && !m.subject.starts_with("wasmbus.evt."))
        .filter(|m| !m.subject.starts_with("$KV.") && !m.subject.starts_with("$JS.API.STREAM.CREATE."))
        .map(|m| m.subject)
        .collect();
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|s| s.starts_with("wasmbus.rpc.default.")), "{left:?}");
}
