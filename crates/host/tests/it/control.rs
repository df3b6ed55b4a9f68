//! The control server (`lattice_host::control`) against a real nats-server, with a fake
//! [`ControlTarget`]: every subject, the ack bytes, malformed bodies, unsupported subjects,
//! auctions with and without matching constraints, two hosts in one lattice, and events on
//! both subjects. Reply shapes are compared with what a real 0.82 host answered
//! (`crates/control/tests/vectors/host082/transcript.jsonl`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Request, RequestErrorKind};
use futures::StreamExt;
use lattice_control::storage::{StoredActorClaims, StoredClaims, StoredProviderClaims};
use lattice_control::types::{
    ACCEPTED, CtlOperationAck, Host, HostInventory, HostLabel, LabelMap, RemoveLinkDefinitionRequest,
    ScaleActorCommand, StartProviderCommand, StopActorCommand, StopProviderCommand,
};
use lattice_control::{CloudEvent, CtlClient, LatticeEvent, subjects};
use lattice_host::control::{CommandError, ControlHandle, ControlServer, ControlTarget, EventPublisher};
use lattice_proto::{HostKey, LatticeName, LinkDefinition, LinkName};
use lattice_test_support::NatsServer;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::timeout;

const HOST: &str = "NBJF4DR4L4VUVFJ345MAGAF5IERRB5SPUHDLTO5B2NITTEM3TJHEEN55";
const OTHER_HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
const ACTOR: &str = "MDX7K4GGDSGEI7URO3BG5TAJMN5QNI52U666VRPDHYKZQETUKQNB4QUU";
const PROVIDER: &str = "VAZF7OUZ4SHKHXYQWDUTICQEKFMSK22QUPCLK7EO66NK37UATOP62J3U";
const ACTOR_REF: &str = "file:///path/to/hello.wasm";
const PROVIDER_REF: &str = "file:///path/to/httpserver.par.gz";
const WAIT: Duration = Duration::from_secs(5);

// ---- the 0.82 transcript ------------------------------------------------------------------

struct Exchange {
    subject: String,
    payload: String,
    replies: Vec<String>,
}

fn transcript() -> Vec<Exchange> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../control/tests/vectors/host082/transcript.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Exchange {
                subject: v["subject"].as_str().unwrap().to_owned(),
                payload: v.get("payload").and_then(Value::as_str).unwrap_or_default().to_owned(),
                replies: v
                    .get("replies")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(|r| Some(r.get("payload")?.as_str()?.to_owned())).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The last reply 0.82 gave on `subject` (the populated lattice, for queries).
fn last_reply(msgs: &[Exchange], subject: &str) -> String {
    msgs.iter().filter(|m| m.subject == subject).filter_map(|m| m.replies.first()).next_back().unwrap().clone()
}

/// The first request body sent on `subject`.
fn first_body(msgs: &[Exchange], subject: &str) -> String {
    msgs.iter().find(|m| m.subject == subject).unwrap().payload.clone()
}

fn key_order(json: &str) -> Vec<String> {
    // serde_json without `preserve_order` sorts keys: read the top-level order by hand.
    let v: serde_json::Map<String, Value> = serde_json::from_str(json).unwrap();
    let mut keys: Vec<(usize, String)> =
        v.keys().map(|k| (json.find(&format!("\"{k}\":")).unwrap(), k.clone())).collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

// ---- the fake host ------------------------------------------------------------------------

/// A command the fake target received.
#[derive(Debug, PartialEq)]
enum Call {
    PutLink(LinkDefinition),
    DelLink(RemoveLinkDefinitionRequest),
    Scale(ScaleActorCommand),
    StopActor(StopActorCommand),
    StartProvider(StartProviderCommand),
    StopProvider(StopProviderCommand),
    PutLabel(HostLabel),
    DelLabel(String),
    StopHost(Option<Duration>),
}

/// Answers with the transcript's populated host; records every command.
struct Fake {
    host: Host,
    inventory: HostInventory,
    links: Vec<LinkDefinition>,
    claims: Vec<StoredClaims>,
    labels: Mutex<LabelMap>,
    calls: mpsc::UnboundedSender<Call>,
}

impl Fake {
    fn new(msgs: &[Exchange], id: &str) -> (Arc<Self>, mpsc::UnboundedReceiver<Call>) {
        let mut host: Host = serde_json::from_str(&last_reply(msgs, "wasmbus.ctl.default.ping.hosts")).unwrap();
        let mut inventory: HostInventory =
            serde_json::from_str(&last_reply(msgs, &format!("wasmbus.ctl.default.get.{HOST}.inv"))).unwrap();
        host.id = id.to_owned();
        inventory.host_id = id.to_owned();
        let links: Vec<LinkDefinition> = serde_json::from_value(
            serde_json::from_str::<Value>(&last_reply(msgs, "wasmbus.ctl.default.get.links")).unwrap()["links"].clone(),
        )
        .unwrap();
        let claims = vec![
            StoredClaims::Actor(StoredActorClaims {
                call_alias: String::new(),
                capabilities: vec!["wasmcloud:httpserver".into()],
                issuer: "AALQQTYR47IOM7SLTUD3SPAU6YAZLPCXCL4U4NQ423U2ECKLX7ZEKQMS".into(),
                name: "interop-hello".into(),
                revision: "1".into(),
                subject: ACTOR.into(),
                tags: vec![],
                version: "0.1.0".into(),
            }),
            StoredClaims::Provider(StoredProviderClaims {
                contract_id: "wasmcloud:httpserver".into(),
                issuer: "AALQQTYR47IOM7SLTUD3SPAU6YAZLPCXCL4U4NQ423U2ECKLX7ZEKQMS".into(),
                name: "httpserver".into(),
                revision: "1".into(),
                subject: PROVIDER.into(),
                version: "0.1.0".into(),
                config_schema: None,
            }),
        ];
        let (tx, rx) = mpsc::unbounded_channel();
        let labels = Mutex::new(host.labels.clone());
        (Arc::new(Fake { host, inventory, links, claims, labels, calls: tx }), rx)
    }

    fn record(&self, call: Call) {
        let _ = self.calls.send(call);
    }
}

impl ControlTarget for Fake {
    async fn host_info(&self) -> Host {
        Host { labels: self.labels.lock().unwrap().clone(), ..self.host.clone() }
    }

    async fn inventory(&self) -> HostInventory {
        HostInventory { labels: self.labels.lock().unwrap().clone(), ..self.inventory.clone() }
    }

    async fn links(&self) -> Vec<LinkDefinition> {
        self.links.clone()
    }

    async fn claims(&self) -> Vec<StoredClaims> {
        self.claims.clone()
    }

    async fn put_link(&self, link: LinkDefinition) -> Result<(), CommandError> {
        self.record(Call::PutLink(link));
        Ok(())
    }

    async fn del_link(&self, link: RemoveLinkDefinitionRequest) -> Result<(), CommandError> {
        self.record(Call::DelLink(link));
        Ok(())
    }

    async fn scale_actor(&self, command: ScaleActorCommand) -> Result<(), CommandError> {
        if command.actor_ref.starts_with("oci://") {
            return Err(CommandError::Refused(format!("reference \"{}\" is not supported", command.actor_ref)));
        }
        self.record(Call::Scale(command));
        Ok(())
    }

    async fn stop_actor(&self, command: StopActorCommand) -> Result<(), CommandError> {
        let running = command.actor_ref == ACTOR || command.actor_ref == ACTOR_REF;
        self.record(Call::StopActor(command));
        if running { Ok(()) } else { Err(CommandError::NotFound("actor is not running on this host".into())) }
    }

    async fn start_provider(&self, command: StartProviderCommand) -> Result<(), CommandError> {
        self.record(Call::StartProvider(command));
        Ok(())
    }

    async fn stop_provider(&self, command: StopProviderCommand) -> Result<(), CommandError> {
        self.record(Call::StopProvider(command));
        Ok(())
    }

    async fn put_label(&self, label: HostLabel) -> Result<(), CommandError> {
        self.labels.lock().unwrap().insert(label.key.clone(), label.value.clone());
        self.record(Call::PutLabel(label));
        Ok(())
    }

    async fn del_label(&self, key: String) -> Result<(), CommandError> {
        assert_ne!(key, "panic", "a handler that panics must not take the server down");
        let removed = self.labels.lock().unwrap().remove(&key).is_some();
        self.record(Call::DelLabel(key.clone()));
        if removed { Ok(()) } else { Err(CommandError::NotFound(format!("no such label: {key}"))) }
    }

    async fn stop_host(&self, timeout: Option<Duration>) {
        self.record(Call::StopHost(timeout));
    }
}

// ---- helpers ------------------------------------------------------------------------------

fn lattice() -> LatticeName {
    LatticeName::new("default").unwrap()
}

fn host_key(id: &str) -> HostKey {
    HostKey::parse(id).unwrap()
}

/// What came back for a request.
#[derive(Debug, PartialEq)]
enum Answer {
    Reply(String),
    NoResponders,
    Silence,
}

async fn ask(nats: &async_nats::Client, subject: &str, body: &str) -> Answer {
    let request = Request::new().payload(body.to_owned().into()).timeout(Some(Duration::from_millis(700)));
    match nats.send_request(subject.to_owned(), request).await {
        Ok(msg) => Answer::Reply(String::from_utf8(msg.payload.to_vec()).unwrap()),
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Answer::NoResponders,
        Err(e) if e.kind() == RequestErrorKind::TimedOut => Answer::Silence,
        Err(e) => panic!("request on {subject} failed: {e}"),
    }
}

async fn reply(nats: &async_nats::Client, subject: &str, body: &str) -> String {
    match ask(nats, subject, body).await {
        Answer::Reply(r) => r,
        other => panic!("no reply on {subject}: {other:?}"),
    }
}

/// Every reply that arrives within `within` (scatter-gather).
async fn gather(nats: &async_nats::Client, subject: &str, body: &str, within: Duration) -> Vec<String> {
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply(subject.to_owned(), inbox, body.to_owned().into()).await.unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if msg.status.is_none() {
            out.push(String::from_utf8(msg.payload.to_vec()).unwrap());
        }
    }
    out
}

async fn next_call(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
    timeout(WAIT, calls.recv()).await.expect("a call reaches the target").unwrap()
}

fn rejected(error: &str) -> String {
    String::from_utf8(CtlOperationAck::rejected(error).to_json()).unwrap()
}

fn ack_error(reply: &str) -> String {
    let ack: Value = serde_json::from_str(reply).unwrap();
    assert_eq!(ack["accepted"], Value::Bool(false), "{reply}");
    assert_eq!(key_order(reply), ["accepted", "error"]);
    ack["error"].as_str().unwrap().to_owned()
}

struct Running {
    _server: NatsServer,
    nats: async_nats::Client,
    handle: ControlHandle,
    calls: mpsc::UnboundedReceiver<Call>,
    msgs: Vec<Exchange>,
}

async fn start_one() -> Running {
    let server = NatsServer::start();
    let msgs = transcript();
    let (fake, calls) = Fake::new(&msgs, HOST);
    let ctl = async_nats::connect(server.url()).await.unwrap();
    let handle =
        ControlServer::builder(ctl, lattice(), host_key(HOST), fake).start(std::future::pending()).await.unwrap();
    let nats = async_nats::connect(server.url()).await.unwrap();
    Running { _server: server, nats, handle, calls, msgs }
}

// ---- tests --------------------------------------------------------------------------------

#[tokio::test]
async fn subscribes_exactly_the_082_subjects() {
    let r = start_one().await;
    assert_eq!(r.handle.subscriptions(), subjects::host_subscriptions(&lattice(), &host_key(HOST)).as_slice());
    r.handle.stop().await;
}

#[tokio::test]
async fn queries_answer_in_the_082_shapes() {
    let r = start_one().await;
    let (nats, msgs) = (&r.nats, &r.msgs);

    // ping.hosts: plain JSON, byte-identical to 0.82's reply for the same host.
    let ping = "wasmbus.ctl.default.ping.hosts";
    assert_eq!(reply(nats, ping, "").await, last_reply(msgs, ping));

    // get.{host}.inv: the same value, keys in 0.82's order.
    let inv = format!("wasmbus.ctl.default.get.{HOST}.inv");
    let got = reply(nats, &inv, "").await;
    let want = last_reply(msgs, &inv);
    assert_eq!(serde_json::from_str::<Value>(&got).unwrap(), serde_json::from_str::<Value>(&want).unwrap());
    assert_eq!(key_order(&got), key_order(&want));
    let actor = &serde_json::from_str::<Value>(&got).unwrap()["actors"][0];
    assert_eq!(actor["instances"][0]["max_instances"], 2);

    // get.links: byte-identical.
    let links = "wasmbus.ctl.default.get.links";
    assert_eq!(reply(nats, links, "").await, last_reply(msgs, links));

    // get.claims: the same string maps (0.82's key order is a HashMap's).
    let claims = "wasmbus.ctl.default.get.claims";
    let got = reply(nats, claims, "").await;
    assert_eq!(
        serde_json::from_str::<Value>(&got).unwrap(),
        serde_json::from_str::<Value>(&last_reply(msgs, claims)).unwrap()
    );

    // The real client reads every reply.
    let ctl = CtlClient::builder(nats.clone()).auction_timeout(Duration::from_millis(300)).build();
    let hosts = ctl.ping_hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].id, HOST);
    assert_eq!(hosts[0].cluster_issuer_list().len(), 1);
    assert_eq!(ctl.get_inventory(&host_key(HOST)).await.unwrap().providers[0].id, PROVIDER);
    assert_eq!(ctl.get_links().await.unwrap()[0].actor_id, ACTOR);
    assert_eq!(ctl.get_claims().await.unwrap()[1]["contract_id"], "wasmcloud:httpserver");
    r.handle.stop().await;
}

#[tokio::test]
async fn commands_are_acked_byte_for_byte_and_reach_the_target() {
    let mut r = start_one().await;
    let (nats, msgs) = (&r.nats, &r.msgs);
    let cmd = |verb: &str| format!("wasmbus.ctl.default.cmd.{HOST}.{verb}");

    // The 0.33 client's bodies from the transcript.
    let put = first_body(msgs, "wasmbus.ctl.default.linkdefs.put");
    assert_eq!(reply(nats, "wasmbus.ctl.default.linkdefs.put", &put).await, ACCEPTED);
    let Call::PutLink(ld) = next_call(&mut r.calls).await else { panic!("not a link put") };
    assert_eq!((ld.actor_id.as_str(), ld.provider_id.as_str()), (ACTOR, PROVIDER));
    assert_eq!(ld.values.get("address"), Some("127.0.0.1:39673"));

    let del = first_body(msgs, "wasmbus.ctl.default.linkdefs.del");
    assert_eq!(reply(nats, "wasmbus.ctl.default.linkdefs.del", &del).await, ACCEPTED);
    let want = RemoveLinkDefinitionRequest {
        actor_id: ACTOR.into(),
        contract_id: "wasmcloud:httpserver".into(),
        link_name: "default".into(),
    };
    assert_eq!(next_call(&mut r.calls).await, Call::DelLink(want.clone()));
    // ... and the three-key form.
    assert_eq!(reply(nats, "wasmbus.ctl.default.linkdefs.del", &serde_json::to_string(&want).unwrap()).await, ACCEPTED);
    assert_eq!(next_call(&mut r.calls).await, Call::DelLink(want));

    let scale = first_body(msgs, &cmd("scale"));
    assert_eq!(reply(nats, &cmd("scale"), &scale).await, ACCEPTED);
    let Call::Scale(s) = next_call(&mut r.calls).await else { panic!("not a scale") };
    assert_eq!((s.actor_ref.as_str(), s.max_instances, s.annotations), (ACTOR_REF, 2, None));

    let lp = first_body(msgs, &cmd("lp"));
    assert_eq!(reply(nats, &cmd("lp"), &lp).await, ACCEPTED);
    let Call::StartProvider(p) = next_call(&mut r.calls).await else { panic!("not a provider start") };
    assert_eq!((p.provider_ref.as_str(), p.link_name.as_str()), (PROVIDER_REF, "default"));

    let sp = first_body(msgs, &cmd("sp"));
    assert_eq!(reply(nats, &cmd("sp"), &sp).await, ACCEPTED);
    let Call::StopProvider(p) = next_call(&mut r.calls).await else { panic!("not a provider stop") };
    assert_eq!((p.provider_ref.as_str(), p.contract_id.as_str()), (PROVIDER_REF, "wasmcloud:httpserver"));

    let sa = format!(r#"{{"actor_ref":"{ACTOR}","host_id":"{HOST}"}}"#);
    assert_eq!(reply(nats, &cmd("sa"), &sa).await, ACCEPTED);
    assert!(matches!(next_call(&mut r.calls).await, Call::StopActor(c) if c.actor_ref == ACTOR));

    let label = format!("wasmbus.ctl.default.labels.{HOST}.put");
    assert_eq!(reply(nats, &label, &first_body(msgs, &label)).await, ACCEPTED);
    assert_eq!(next_call(&mut r.calls).await, Call::PutLabel(HostLabel { key: "capture".into(), value: "yes".into() }));
    let label_del = format!("wasmbus.ctl.default.labels.{HOST}.del");
    assert_eq!(reply(nats, &label_del, r#"{"key":"capture","value":""}"#).await, ACCEPTED);
    assert_eq!(next_call(&mut r.calls).await, Call::DelLabel("capture".into()));

    // registries.put is accepted (this target keeps no credentials).
    assert_eq!(reply(nats, "wasmbus.ctl.default.registries.put", r#"{"ghcr.io":{"token":"t"}}"#).await, ACCEPTED);

    // Stop: acked first (the 0.33 client sends {"timeout":…} alone), then the host is told.
    assert_eq!(reply(nats, &cmd("stop"), &first_body(msgs, &cmd("stop"))).await, ACCEPTED);
    assert_eq!(next_call(&mut r.calls).await, Call::StopHost(Some(Duration::from_millis(1000))));
    r.handle.stop().await;
}

#[tokio::test]
async fn the_real_client_drives_every_command() {
    let mut r = start_one().await;
    let ctl = CtlClient::builder(r.nats.clone()).auction_timeout(Duration::from_millis(300)).build();
    let host = host_key(HOST);
    let default = LinkName::default();
    let ld = LinkDefinition {
        actor_id: ACTOR.into(),
        provider_id: PROVIDER.into(),
        link_name: "default".into(),
        contract_id: "wasmcloud:keyvalue".into(),
        values: Default::default(),
    };
    ctl.put_link(&ld).await.unwrap();
    assert_eq!(next_call(&mut r.calls).await, Call::PutLink(ld));
    ctl.del_link(ACTOR, "wasmcloud:keyvalue", &default).await.unwrap();
    assert!(matches!(next_call(&mut r.calls).await, Call::DelLink(_)));
    let annotations: BTreeMap<String, String> = [("app".to_owned(), "demo".to_owned())].into();
    ctl.scale_actor(&host, ACTOR_REF, 3, Some(annotations.clone())).await.unwrap();
    assert_eq!(
        next_call(&mut r.calls).await,
        Call::Scale(ScaleActorCommand {
            actor_ref: ACTOR_REF.into(),
            annotations: Some(annotations),
            max_instances: 3,
            host_id: HOST.into()
        })
    );
    ctl.stop_actor(&host, ACTOR_REF, None).await.unwrap();
    assert!(matches!(next_call(&mut r.calls).await, Call::StopActor(_)));
    ctl.start_provider(&host, PROVIDER_REF, &default, None, Some("{}".into())).await.unwrap();
    assert!(
        matches!(next_call(&mut r.calls).await, Call::StartProvider(c) if c.configuration.as_deref() == Some("{}"))
    );
    ctl.stop_provider(&host, PROVIDER, &default, "wasmcloud:httpserver", None).await.unwrap();
    assert!(matches!(next_call(&mut r.calls).await, Call::StopProvider(c) if c.provider_ref == PROVIDER));
    ctl.put_label(&host, "zone", "eu").await.unwrap();
    assert!(matches!(next_call(&mut r.calls).await, Call::PutLabel(_)));
    ctl.del_label(&host, "zone").await.unwrap();
    assert!(matches!(next_call(&mut r.calls).await, Call::DelLabel(_)));
    ctl.stop_host(&host, Some(Duration::from_secs(2))).await.unwrap();
    assert_eq!(next_call(&mut r.calls).await, Call::StopHost(Some(Duration::from_secs(2))));

    // Refusals come back as `Rejected` with the host's reason.
    let err = ctl.del_label(&host, "nope").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("rejected by the host (wasmbus.ctl.default.labels.{HOST}.del): no such label: nope")
    );
    // Update is not implemented by this target: the default says so.
    let err = ctl.update_actor(&host, ACTOR, "file:///new.wasm", None).await.unwrap_err();
    assert!(err.to_string().ends_with("updating an actor is not supported by this host"), "{err}");
    r.handle.stop().await;
}

#[tokio::test]
async fn refusals_and_malformed_bodies_get_accepted_false_and_the_server_keeps_serving() {
    let mut r = start_one().await;
    let nats = &r.nats;
    let cmd = |verb: &str| format!("wasmbus.ctl.default.cmd.{HOST}.{verb}");

    // The target's refusal, as 0.82 words it.
    let sa = format!(r#"{{"actor_ref":"{PROVIDER}","host_id":"{HOST}"}}"#);
    assert_eq!(reply(nats, &cmd("sa"), &sa).await, rejected("actor is not running on this host"));
    assert!(matches!(next_call(&mut r.calls).await, Call::StopActor(_)));
    // Quotes in the reason are JSON-escaped (0.82 `format!`-ed them into invalid JSON).
    let oci = r#"{"actor_ref":"oci://ghcr.io/x\"y","count":1}"#;
    let got = reply(nats, &cmd("scale"), oci).await;
    assert_eq!(ack_error(&got), r#"reference "oci://ghcr.io/x"y" is not supported"#);

    // Malformed bodies never reach the target.
    let malformed: Vec<(String, &str, &str)> = vec![
        ("wasmbus.ctl.default.linkdefs.put".into(), "{bad", "failed to deserialize link definition: "),
        (cmd("scale"), "[]", "failed to deserialize scale actor command: expected a JSON object, found an array"),
        (
            cmd("scale"),
            r#"{"actor_ref":"file:///a.wasm"}"#,
            "failed to deserialize scale actor command: missing field `count`",
        ),
        (cmd("scale"), r#"{"actor_ref":"","count":1}"#, "invalid scale actor command: `actor_ref` is required"),
        (cmd("scale"), "", "failed to deserialize scale actor command: EOF"),
        (cmd("sa"), "null", "failed to deserialize stop actor command: expected a JSON object, found null"),
        (cmd("lp"), r#"{"provider_ref":"x","link_name":"a.b"}"#, "invalid start provider command: `link_name`"),
        (cmd("sp"), r#"{"link_name":"default"}"#, "invalid stop provider command: `provider_ref` is required"),
        (cmd("stop"), "42", "failed to deserialize stop host command: expected a JSON object"),
        (
            "wasmbus.ctl.default.linkdefs.del".into(),
            r#"{"contract_id":"c","link_name":"default"}"#,
            "invalid link definition removal: `actor_id`",
        ),
        (
            "wasmbus.ctl.default.linkdefs.put".into(),
            r#"{"actor_id":"VAZF7OUZ4SHKHXYQWDUTICQEKFMSK22QUPCLK7EO66NK37UATOP62J3U","provider_id":"x","link_name":"default","contract_id":"c"}"#,
            "invalid link definition: `actor_id`",
        ),
        (format!("wasmbus.ctl.default.labels.{HOST}.put"), r#"{"value":"x"}"#, "invalid host label: `key` is required"),
        (
            "wasmbus.ctl.default.registries.put".into(),
            "[1]",
            "failed to deserialize registry credentials: expected a JSON object",
        ),
        ("wasmbus.ctl.default.auction.actor".into(), "{", "failed to deserialize actor auction request: "),
        (
            "wasmbus.ctl.default.auction.provider".into(),
            r#"{"constraints":{}}"#,
            "invalid provider auction request: `provider_ref`",
        ),
    ];
    for (subject, body, want) in malformed {
        let got = reply(nats, &subject, body).await;
        let error = ack_error(&got);
        assert!(error.starts_with(want), "{subject} {body:?}: {error:?} does not start with {want:?}");
    }
    assert!(r.calls.try_recv().is_err(), "a malformed request reached the target");

    // A handler that panics sends nothing, and the server keeps serving.
    let label_del = format!("wasmbus.ctl.default.labels.{HOST}.del");
    assert_eq!(ask(nats, &label_del, r#"{"key":"panic","value":""}"#).await, Answer::Silence);
    assert_eq!(reply(nats, &label_del, r#"{"key":"gone","value":""}"#).await, rejected("no such label: gone"));
    let ping = reply(nats, "wasmbus.ctl.default.ping.hosts", "").await;
    assert!(ping.contains(HOST));
    r.handle.stop().await;
}

#[tokio::test]
async fn unsupported_subjects_under_our_filters_get_the_082_ack_and_others_none() {
    let r = start_one().await;
    let nats = &r.nats;
    let unsupported = r#"{"accepted":false,"error":"unsupported subject"}"#;
    for subject in [
        "wasmbus.ctl.default.linkdefs.get".to_owned(),
        "wasmbus.ctl.default.get.bogus".to_owned(),
        "wasmbus.ctl.default.get.config".to_owned(),
        format!("wasmbus.ctl.default.cmd.{HOST}.la"),
        format!("wasmbus.ctl.default.labels.{HOST}.get"),
        "wasmbus.ctl.default.auction.bogus".to_owned(),
        "wasmbus.ctl.default.auction.actor.extra".to_owned(),
    ] {
        assert_eq!(reply(nats, &subject, "{}").await, unsupported, "{subject}");
    }
    // Config is subscribed (as 0.82) but not implemented by this target.
    let got = reply(nats, "wasmbus.ctl.default.config.put.MX.k", "v").await;
    assert_eq!(ack_error(&got), "named config is not supported by this host");

    // Outside our filters: nobody answers (no catch-all; other hosts' subjects are theirs).
    for subject in [
        "wasmbus.ctl.default.bogus.thing".to_owned(),
        format!("wasmbus.ctl.default.cmd.{OTHER_HOST}.scale"),
        format!("wasmbus.ctl.default.get.{OTHER_HOST}.inv"),
        format!("wasmbus.ctl.other.cmd.{HOST}.scale"),
    ] {
        assert_eq!(ask(nats, &subject, "{}").await, Answer::NoResponders, "{subject}");
    }
    r.handle.stop().await;
}

#[tokio::test]
async fn auctions_bid_only_when_the_labels_satisfy_the_constraints() {
    let mut r = start_one().await;
    let (nats, msgs) = (&r.nats, &r.msgs);
    let within = Duration::from_millis(400);

    // No constraints: the bid is byte-identical to 0.82's.
    let actor_auction = "wasmbus.ctl.default.auction.actor";
    let bids = gather(nats, actor_auction, &first_body(msgs, actor_auction), within).await;
    assert_eq!(bids, vec![last_reply(msgs, actor_auction)]);

    // Constraints the labels satisfy (a built-in label included): a bid echoing them.
    let body = format!(r#"{{"actor_ref":"{ACTOR_REF}","constraints":{{"zone":"capture","hostcore.os":"linux"}}}}"#);
    let bids = gather(nats, actor_auction, &body, within).await;
    assert_eq!(bids.len(), 1);
    let bid: Value = serde_json::from_str(&bids[0]).unwrap();
    assert_eq!(bid["host_id"], HOST);
    assert_eq!(bid["constraints"]["zone"], "capture");
    assert_eq!(key_order(&bids[0]), ["actor_ref", "host_id", "constraints"]);

    // Constraints it does not satisfy: silence.
    for constraints in [r#"{"zone":"eu"}"#, r#"{"gpu":"yes"}"#, r#"{"zone":"capture","gpu":"yes"}"#] {
        let body = format!(r#"{{"actor_ref":"{ACTOR_REF}","constraints":{constraints}}}"#);
        assert!(gather(nats, actor_auction, &body, within).await.is_empty(), "{constraints}");
    }

    // A label set over the control interface counts at once.
    let label = format!("wasmbus.ctl.default.labels.{HOST}.put");
    assert_eq!(reply(nats, &label, r#"{"key":"gpu","value":"yes"}"#).await, ACCEPTED);
    next_call(&mut r.calls).await;
    let body = format!(r#"{{"actor_ref":"{ACTOR_REF}","constraints":{{"gpu":"yes"}}}}"#);
    assert_eq!(gather(nats, actor_auction, &body, within).await.len(), 1);

    // Providers: 0.82's shape; silent when the same ref already runs under that link name.
    let provider_auction = "wasmbus.ctl.default.auction.provider";
    let other_ref = r#"{"constraints":{},"link_name":"default","provider_ref":"file:///other.par.gz"}"#;
    let bids = gather(nats, provider_auction, other_ref, within).await;
    assert_eq!(bids.len(), 1);
    assert_eq!(key_order(&bids[0]), ["host_id", "link_name", "provider_ref", "constraints"]);
    let running = format!(r#"{{"constraints":{{}},"link_name":"default","provider_ref":"{PROVIDER_REF}"}}"#);
    assert!(gather(nats, provider_auction, &running, within).await.is_empty());
    let other_link = format!(r#"{{"constraints":{{}},"link_name":"backup","provider_ref":"{PROVIDER_REF}"}}"#);
    assert_eq!(gather(nats, provider_auction, &other_link, within).await.len(), 1);
    let unmet = r#"{"constraints":{"zone":"eu"},"link_name":"default","provider_ref":"file:///other.par.gz"}"#;
    assert!(gather(nats, provider_auction, unmet, within).await.is_empty());

    // Through the real client.
    let ctl = CtlClient::builder(nats.clone()).auction_timeout(within).build();
    let bids = ctl.actor_auction(ACTOR_REF, [("zone".to_owned(), "capture".to_owned())].into()).await.unwrap();
    assert_eq!(bids.len(), 1);
    assert_eq!(bids[0].host_id, HOST);
    assert!(ctl.actor_auction(ACTOR_REF, [("zone".to_owned(), "mars".to_owned())].into()).await.unwrap().is_empty());
    r.handle.stop().await;
}

#[tokio::test]
async fn two_hosts_share_the_lattice_without_answering_for_each_other() {
    let server = NatsServer::start();
    let msgs = transcript();
    let (a, mut a_calls) = Fake::new(&msgs, HOST);
    let (b, mut b_calls) = Fake::new(&msgs, OTHER_HOST);
    b.labels.lock().unwrap().insert("zone".into(), "other".into());
    let mut handles = Vec::new();
    for (id, fake) in [(HOST, a), (OTHER_HOST, b)] {
        let ctl = async_nats::connect(server.url()).await.unwrap();
        handles.push(
            ControlServer::builder(ctl, lattice(), host_key(id), fake).start(std::future::pending()).await.unwrap(),
        );
    }
    let nats = async_nats::connect(server.url()).await.unwrap();
    let within = Duration::from_millis(400);

    // Fan-out: both answer pings and auctions.
    let mut ids: Vec<String> = gather(&nats, "wasmbus.ctl.default.ping.hosts", "", within)
        .await
        .iter()
        .map(|h| serde_json::from_str::<Host>(h).unwrap().id)
        .collect();
    ids.sort();
    assert_eq!(ids, [HOST, OTHER_HOST]);
    let auction = format!(r#"{{"actor_ref":"{ACTOR_REF}","constraints":{{}}}}"#);
    assert_eq!(gather(&nats, "wasmbus.ctl.default.auction.actor", &auction, within).await.len(), 2);
    let picky = format!(r#"{{"actor_ref":"{ACTOR_REF}","constraints":{{"zone":"other"}}}}"#);
    let bids = gather(&nats, "wasmbus.ctl.default.auction.actor", &picky, within).await;
    assert_eq!(bids.len(), 1);
    assert!(bids[0].contains(OTHER_HOST));

    // Queue groups: one answer per lattice-wide query or link command.
    assert_eq!(gather(&nats, "wasmbus.ctl.default.get.links", "", within).await.len(), 1);
    assert_eq!(gather(&nats, "wasmbus.ctl.default.get.claims", "", within).await.len(), 1);
    assert_eq!(gather(&nats, "wasmbus.ctl.default.get.bogus", "", within).await.len(), 1);
    let del = format!(r#"{{"actor_id":"{ACTOR}","contract_id":"c","link_name":"default"}}"#);
    assert_eq!(gather(&nats, "wasmbus.ctl.default.linkdefs.del", &del, within).await, vec![ACCEPTED.to_owned()]);
    let a_got = a_calls.try_recv().is_ok();
    let b_got = b_calls.try_recv().is_ok();
    assert!(a_got ^ b_got, "exactly one host handles a link command");

    // Per-host subjects reach only that host.
    let scale = format!(r#"{{"actor_ref":"{ACTOR_REF}","count":1}}"#);
    let subject = format!("wasmbus.ctl.default.cmd.{OTHER_HOST}.scale");
    assert_eq!(gather(&nats, &subject, &scale, within).await, vec![ACCEPTED.to_owned()]);
    assert!(matches!(next_call(&mut b_calls).await, Call::Scale(_)));
    assert!(a_calls.try_recv().is_err());
    let inv = reply(&nats, &format!("wasmbus.ctl.default.get.{OTHER_HOST}.inv"), "").await;
    assert_eq!(serde_json::from_str::<HostInventory>(&inv).unwrap().host_id, OTHER_HOST);

    for handle in handles {
        handle.stop().await;
    }
}

/// Watches both event subjects.
struct EventWatch {
    general: async_nats::Subscriber,
    named: async_nats::Subscriber,
}

impl EventWatch {
    async fn new(nats: &async_nats::Client) -> Self {
        let general = nats.subscribe("wasmbus.evt.default").await.unwrap();
        let named = nats.subscribe("wasmbus.evt.default.>").await.unwrap();
        nats.flush().await.unwrap();
        Self { general, named }
    }

    /// The next event called `name` (skipping others), checked to have arrived on both
    /// subjects with the same bytes; with its JSON text.
    async fn next(&mut self, name: &str) -> (CloudEvent, String) {
        let msg = loop {
            let msg = timeout(WAIT, self.named.next()).await.unwrap_or_else(|_| panic!("no {name} event")).unwrap();
            if msg.subject.as_str() == format!("wasmbus.evt.default.{name}") {
                break msg;
            }
        };
        loop {
            let g = timeout(WAIT, self.general.next()).await.expect("the same event on the general subject").unwrap();
            if g.payload == msg.payload {
                break;
            }
        }
        let event = CloudEvent::from_json(&msg.payload).unwrap();
        assert_eq!(event.name(), Some(name));
        (event, String::from_utf8(msg.payload.to_vec()).unwrap())
    }
}

#[tokio::test]
async fn host_started_and_heartbeats_carry_the_082_envelope_and_data() {
    let server = NatsServer::start();
    let msgs = transcript();
    let (fake, _calls) = Fake::new(&msgs, HOST);
    let watcher = async_nats::connect(server.url()).await.unwrap();
    let mut watch = EventWatch::new(&watcher).await;
    let ctl = async_nats::connect(server.url()).await.unwrap();
    let handle = ControlServer::builder(ctl, lattice(), host_key(HOST), fake)
        .heartbeat_interval(Duration::from_millis(300))
        .start(std::future::pending())
        .await
        .unwrap();
    let transcript_event = |name: &str| -> Value {
        let m = msgs.iter().find(|m| m.subject == format!("wasmbus.evt.default.{name}")).unwrap();
        serde_json::from_str(&m.payload).unwrap()
    };

    // host_started: the envelope's keys in 0.82's order, the data as 0.82's.
    let (started, text) = watch.next("host_started").await;
    assert_eq!(key_order(&text), ["specversion", "id", "type", "source", "datacontenttype", "time", "data"]);
    assert_eq!(started.specversion, "1.0");
    assert_eq!(started.ty, "com.wasmcloud.lattice.host_started");
    assert_eq!(started.source, HOST);
    assert_eq!(started.datacontenttype.as_deref(), Some("application/json"));
    assert!(started.timestamp().is_some(), "time is RFC 3339");
    uuid::Uuid::parse_str(&started.id).unwrap();
    assert_eq!(started.data, transcript_event("host_started")["data"]);

    // host_heartbeat: the inventory, every interval, ids growing with time.
    let (first, _) = watch.next("host_heartbeat").await;
    let (second, _) = watch.next("host_heartbeat").await;
    assert!(second.id > first.id, "{} then {}", first.id, second.id);
    let LatticeEvent::HostHeartbeat(inv) = second.event().unwrap() else { panic!("not a heartbeat") };
    assert_eq!(inv.host_id, HOST);
    assert_eq!(inv.actors[0].instances[0].max_instances, 2);

    // The transcript's heartbeat came after `labels.put capture=yes`: do the same, then
    // compare a heartbeat that carries it.
    let label = format!("wasmbus.ctl.default.labels.{HOST}.put");
    assert_eq!(reply(&watcher, &label, r#"{"key":"capture","value":"yes"}"#).await, ACCEPTED);
    let beat = loop {
        let (beat, _) = watch.next("host_heartbeat").await;
        if beat.data["labels"].get("capture").is_some() {
            break beat;
        }
    };
    let mut got = beat.data.clone();
    let want = transcript_event("host_heartbeat")["data"].clone();
    // Uptime differs; everything else is the transcript host's.
    got["uptime_human"] = want["uptime_human"].clone();
    got["uptime_seconds"] = want["uptime_seconds"].clone();
    assert_eq!(got, want);
    handle.stop().await;
}

#[tokio::test]
async fn host_core_events_and_host_stopped_go_out_on_both_subjects() {
    let server = NatsServer::start();
    let msgs = transcript();
    let (fake, _calls) = Fake::new(&msgs, HOST);
    let watcher = async_nats::connect(server.url()).await.unwrap();
    let mut watch = EventWatch::new(&watcher).await;
    let ctl = async_nats::connect(server.url()).await.unwrap();
    let events = EventPublisher::new(ctl.clone(), lattice(), host_key(HOST));
    let handle = ControlServer::builder(ctl, lattice(), host_key(HOST), fake)
        .heartbeat_interval(Duration::ZERO)
        .events(events.clone())
        .start(std::future::pending())
        .await
        .unwrap();
    watch.next("host_started").await;

    let ld = LinkDefinition {
        actor_id: ACTOR.into(),
        provider_id: PROVIDER.into(),
        link_name: "default".into(),
        contract_id: "wasmcloud:httpserver".into(),
        values: [("address".to_owned(), "127.0.0.1:39673".to_owned())].into_iter().collect(),
    };
    events.publish(&LatticeEvent::LinkdefSet((&ld).into())).await.unwrap();
    let (set, _) = watch.next("linkdef_set").await;
    let want = msgs.iter().find(|m| m.subject == "wasmbus.evt.default.linkdef_set").unwrap();
    assert_eq!(set.data, serde_json::from_str::<Value>(&want.payload).unwrap()["data"]);
    handle.events().emit(LatticeEvent::LinkdefDeleted((&ld).into())).await;
    watch.next("linkdef_deleted").await;

    // host_stopped on stop, with the labels, flushed before stop returns.
    handle.stop().await;
    let (stopped, _) = watch.next("host_stopped").await;
    assert_eq!(
        stopped.data,
        serde_json::json!({"labels": {
            "hostcore.arch": "x86_64", "hostcore.os": "linux", "hostcore.osfamily": "unix", "zone": "capture"
        }})
    );
}

#[tokio::test]
async fn shutdown_future_stops_the_server_and_unsubscribes() {
    let server = NatsServer::start();
    let msgs = transcript();
    let (fake, _calls) = Fake::new(&msgs, HOST);
    let ctl = async_nats::connect(server.url()).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = ControlServer::builder(ctl, lattice(), host_key(HOST), fake)
        .announce(false)
        .start(async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    let nats = async_nats::connect(server.url()).await.unwrap();
    assert!(matches!(ask(&nats, "wasmbus.ctl.default.ping.hosts", "").await, Answer::Reply(_)));
    tx.send(()).unwrap();
    timeout(WAIT, handle.wait()).await.expect("the server stops when its shutdown future resolves");
    nats.flush().await.unwrap();
    assert_eq!(ask(&nats, "wasmbus.ctl.default.ping.hosts", "").await, Answer::NoResponders);
}
