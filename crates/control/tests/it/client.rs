//! [`CtlClient`] against a real nats-server and a tiny responder that answers with the
//! replies a real 0.82 host gave in the transcript: every method sends the subject and body
//! the 0.33 client sent (byte for byte where it is the same request) and parses the reply.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use lattice_control::client::CtlClient;
use lattice_control::subjects;
use lattice_control::types::{
    ACCEPTED, ActorAuctionAck, GetClaimsResponse, Host, HostInventory, LinkDefinitionList, ProviderAuctionAck,
    RegistryCredential, RegistryCredentialMap, RemoveLinkDefinitionRequest, StopHostCommand,
};
use lattice_control::{CloudEvent, ControlError, decode_body};
use lattice_proto::{HostKey, LatticeName, LinkDefinition, LinkName};
use lattice_test_support::NatsServer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::support::{ACTOR, HOST, Msg, first, transcript, value};

/// A host key nobody answers for.
const SILENT_HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
const WAIT: Duration = Duration::from_secs(5);

/// A request the responder saw.
#[derive(Debug)]
struct Seen {
    subject: String,
    payload: Vec<u8>,
}

/// Answers `wasmbus.ctl.default.>` with canned replies by subject; records every request.
async fn responder(
    nats: async_nats::Client,
    canned: HashMap<String, String>,
) -> (JoinHandle<()>, mpsc::UnboundedReceiver<Seen>) {
    let mut sub = nats.subscribe("wasmbus.ctl.default.>").await.unwrap();
    nats.flush().await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let subject = msg.subject.to_string();
            if let (Some(reply), Some(body)) = (msg.reply, canned.get(&subject)) {
                nats.publish(reply, body.clone().into()).await.unwrap();
                nats.flush().await.unwrap();
            }
            let _ = tx.send(Seen { subject, payload: msg.payload.to_vec() });
        }
    });
    (task, rx)
}

/// The reply 0.82 gave on `subject`: the last one for queries (a populated lattice), the
/// first one for everything else (the accepted command, the first bid).
fn transcript_reply(msgs: &[Msg], subject: &str) -> Option<String> {
    let mut replies = msgs.iter().filter(|m| m.subject == subject).filter_map(|m| m.replies.first());
    if subject.starts_with("wasmbus.ctl.default.get.") { replies.next_back() } else { replies.next() }.cloned()
}

/// The transcript's replies by subject, plus acks for the commands 0.82 never got.
fn canned_replies(msgs: &[Msg]) -> HashMap<String, String> {
    let mut canned = HashMap::new();
    for msg in msgs {
        if let Some(reply) = transcript_reply(msgs, &msg.subject) {
            canned.insert(msg.subject.clone(), reply);
        }
    }
    let l = LatticeName::new("default").unwrap();
    let h = HostKey::parse(HOST).unwrap();
    canned.insert(subjects::stop_actor(&l, &h), ACCEPTED.to_owned());
    canned.insert(subjects::update_actor(&l, &h), ACCEPTED.to_owned());
    canned.insert(subjects::label_del(&l, &h), r#"{"accepted":false,"error":"no such label \"zone\""}"#.to_owned());
    canned
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    timeout(WAIT, rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn every_method_speaks_the_transcript() {
    let server = NatsServer::start();
    let msgs = transcript();
    let l = LatticeName::new("default").unwrap();
    let host = HostKey::parse(HOST).unwrap();
    let default_link = LinkName::default();

    let (task, mut seen) = responder(async_nats::connect(server.url()).await.unwrap(), canned_replies(&msgs)).await;
    let nats = async_nats::connect(server.url()).await.unwrap();
    let ctl = CtlClient::builder(nats)
        .lattice(l.clone())
        .timeout(Duration::from_millis(500))
        .auction_timeout(Duration::from_millis(300))
        .build();
    assert_eq!(ctl.lattice(), &l);

    // Expect one request on `subject`; return its body.
    macro_rules! sent {
        ($subject:expr) => {{
            let s = next(&mut seen).await;
            assert_eq!(s.subject, $subject);
            s.payload
        }};
    }
    let reply = |subject: &str| transcript_reply(&msgs, subject).unwrap();
    let request_body = |subject: &str| first(&msgs, subject).payload.unwrap();

    // Queries.
    let hosts = ctl.ping_hosts().await.unwrap();
    assert!(sent!(subjects::ping_hosts(&l)).is_empty());
    assert_eq!(hosts, vec![serde_json::from_str::<Host>(&reply(&subjects::ping_hosts(&l))).unwrap()]);

    let inv_subject = subjects::host_inventory(&l, &host);
    let inv = ctl.get_inventory(&host).await.unwrap();
    assert!(sent!(inv_subject.clone()).is_empty());
    assert_eq!(inv, serde_json::from_str::<HostInventory>(&reply(&inv_subject)).unwrap());

    let links = ctl.get_links().await.unwrap();
    assert!(sent!(subjects::get_links(&l)).is_empty());
    assert_eq!(links, serde_json::from_str::<LinkDefinitionList>(&reply(&subjects::get_links(&l))).unwrap().links);

    let claims = ctl.get_claims().await.unwrap();
    assert!(sent!(subjects::get_claims(&l)).is_empty());
    assert_eq!(claims, serde_json::from_str::<GetClaimsResponse>(&reply(&subjects::get_claims(&l))).unwrap().claims);

    // Auctions: the same request bytes as the 0.33 client, the host's bid parsed.
    let bids = ctl.actor_auction("file:///path/to/hello.wasm", Default::default()).await.unwrap();
    let body = sent!(subjects::auction_actor(&l));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::auction_actor(&l)));
    assert_eq!(bids, vec![serde_json::from_str::<ActorAuctionAck>(&reply(&subjects::auction_actor(&l))).unwrap()]);

    let bids =
        ctl.provider_auction("file:///path/to/httpserver.par.gz", &default_link, Default::default()).await.unwrap();
    let body = sent!(subjects::auction_provider(&l));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::auction_provider(&l)));
    assert_eq!(
        bids,
        vec![serde_json::from_str::<ProviderAuctionAck>(&reply(&subjects::auction_provider(&l))).unwrap()]
    );

    // Commands with the same arguments as the transcript: byte-identical bodies.
    ctl.scale_actor(&host, "file:///path/to/hello.wasm", 2, None).await.unwrap();
    let body = sent!(subjects::scale_actor(&l, &host));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::scale_actor(&l, &host)));

    ctl.start_provider(&host, "file:///path/to/httpserver.par.gz", &default_link, None, None).await.unwrap();
    let body = sent!(subjects::start_provider(&l, &host));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::start_provider(&l, &host)));

    let put: LinkDefinition = serde_json::from_str(&request_body(&subjects::linkdefs_put(&l))).unwrap();
    ctl.put_link(&put).await.unwrap();
    let body = sent!(subjects::linkdefs_put(&l));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::linkdefs_put(&l)));

    ctl.put_label(&host, "capture", "yes").await.unwrap();
    let body = sent!(subjects::label_put(&l, &host));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::label_put(&l, &host)));

    ctl.stop_provider(&host, "file:///path/to/httpserver.par.gz", &default_link, "wasmcloud:httpserver", None)
        .await
        .unwrap();
    let body = sent!(subjects::stop_provider(&l, &host));
    assert_eq!(String::from_utf8(body).unwrap(), request_body(&subjects::stop_provider(&l, &host)));

    // Commands whose body differs from the 0.33 client's in form but not in meaning.
    ctl.del_link(ACTOR, "wasmcloud:httpserver", &default_link).await.unwrap();
    let ours: RemoveLinkDefinitionRequest = decode_body(&sent!(subjects::linkdefs_del(&l))).unwrap();
    let theirs: RemoveLinkDefinitionRequest =
        decode_body(request_body(&subjects::linkdefs_del(&l)).as_bytes()).unwrap();
    assert_eq!(ours, theirs);

    ctl.stop_host(&host, Some(Duration::from_secs(1))).await.unwrap();
    let ours: StopHostCommand = decode_body(&sent!(subjects::stop_host(&l, &host))).unwrap();
    assert_eq!(ours, StopHostCommand { host_id: Some(HOST.to_owned()), timeout: Some(1000) });

    // Commands the transcript does not have.
    ctl.stop_actor(&host, ACTOR, None).await.unwrap();
    let body = sent!(subjects::stop_actor(&l, &host));
    assert_eq!(value(&body), serde_json::json!({"actor_ref": ACTOR, "host_id": HOST}));

    ctl.update_actor(&host, ACTOR, "file:///path/to/hello2.wasm", Some([("a".into(), "b".into())].into()))
        .await
        .unwrap();
    let body = sent!(subjects::update_actor(&l, &host));
    assert_eq!(
        value(&body),
        serde_json::json!({
            "actor_id": ACTOR, "annotations": {"a": "b"}, "host_id": HOST,
            "new_actor_ref": "file:///path/to/hello2.wasm",
        })
    );

    let registries: RegistryCredentialMap = [("ghcr.io".to_owned(), RegistryCredential::default())].into();
    ctl.put_registries(&registries).await.unwrap();
    let body = sent!(subjects::registries_put(&l));
    assert_eq!(value(&body), serde_json::json!({"ghcr.io": {"registryType": "oci"}}));

    // A refusal is a typed error carrying the host's reason.
    let err = ctl.del_label(&host, "zone").await.unwrap_err();
    let body = sent!(subjects::label_del(&l, &host));
    assert_eq!(value(&body), serde_json::json!({"key": "zone", "value": ""}));
    match err {
        ControlError::Rejected { subject, error } => {
            assert_eq!(subject, subjects::label_del(&l, &host));
            assert_eq!(error, r#"no such label "zone""#);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }

    // A link that breaks the rules never leaves the client.
    let mut bad = put.clone();
    bad.link_name = "a.b".into();
    assert!(matches!(ctl.put_link(&bad).await, Err(ControlError::Invalid { .. })));

    // Somebody listens but never answers: a timeout, naming the subject.
    let silent = HostKey::parse(SILENT_HOST).unwrap();
    match ctl.get_inventory(&silent).await {
        Err(ControlError::Timeout { subject, after }) => {
            assert_eq!(subject, subjects::host_inventory(&l, &silent));
            assert_eq!(after, Duration::from_millis(500));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    sent!(subjects::host_inventory(&l, &silent));

    // A lattice nobody serves: no responders at once; gathers come back empty at once.
    let nobody = CtlClient::builder(ctl.nats().clone())
        .lattice(LatticeName::new("nobody").unwrap())
        .auction_timeout(Duration::from_secs(30))
        .build();
    assert!(matches!(nobody.get_links().await, Err(ControlError::NoResponders { .. })));
    assert!(matches!(nobody.scale_actor(&host, "x", 1, None).await, Err(ControlError::NoResponders { .. })));
    let started = std::time::Instant::now();
    assert!(nobody.ping_hosts().await.unwrap().is_empty());
    assert!(started.elapsed() < Duration::from_secs(10), "no-responders should end the gather early");

    task.abort();
}

#[tokio::test]
async fn event_stream_parses_the_transcript_events() {
    let server = NatsServer::start();
    let l = LatticeName::new("default").unwrap();
    let ctl = CtlClient::builder(async_nats::connect(server.url()).await.unwrap()).lattice(l).build();
    let mut events = ctl.events().await.unwrap();

    // Replay every event as the 0.82 host published it: twice, general subject first.
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let published: Vec<_> = transcript().into_iter().filter(|m| m.subject.starts_with("wasmbus.evt.")).collect();
    for msg in &published {
        publisher.publish(msg.subject.clone(), msg.payload.clone().unwrap().into()).await.unwrap();
    }
    publisher.publish("wasmbus.evt.default.junk", "not json".into()).await.unwrap();
    publisher.flush().await.unwrap();

    // Each event arrives once (the named subject), typed.
    for msg in published.iter().skip(1).step_by(2) {
        let got = timeout(WAIT, events.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(got, CloudEvent::from_json(msg.payload()).unwrap());
        assert_eq!(msg.subject, format!("wasmbus.evt.default.{}", got.name().unwrap()));
        got.event().unwrap();
    }
    let junk = timeout(WAIT, events.next()).await.unwrap().unwrap();
    assert!(matches!(junk, Err(ControlError::Decode { .. })), "{junk:?}");
}
