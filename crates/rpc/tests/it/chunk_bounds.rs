//! Chunked bodies are bounded (issue 16 item 4): `content_length` is not signed, and anyone
//! who may publish on `$O.{lattice}.>` can put an object under any name. A replayed or
//! oversized claim is refused before any object-store traffic, an object that does not
//! hold the claimed length is refused without being read, objects have a TTL, and a
//! caller whose chunked call times out deletes its object. Each attack runs against a
//! real nats-server and a real server, next to the legitimate path that still works.

use std::time::Duration;

use futures::StreamExt;
use lattice_proto::chunk::{self, DEFAULT_CHUNK_TTL};
use lattice_proto::{Invocation, InvocationResponse};
use lattice_rpc::jetstream::{Replicas, open_object_store};
use lattice_rpc::{CallOptions, RpcError, Served};

use crate::support::*;

const MIB: usize = 1024 * 1024;

/// Every message in the account, recorded until a sentinel arrives: shows exactly which
/// JetStream API calls and object-store messages an attack caused.
struct Spy {
    nats: async_nats::Client,
    sub: async_nats::Subscriber,
}

impl Spy {
    async fn start(env: &Env) -> Self {
        let nats = env.connect().await;
        let sub = nats.subscribe(">").await.unwrap();
        lattice_rpc::barrier::round_trip(&nats).await.unwrap();
        Self { nats, sub }
    }

    /// The subjects seen since the last call (everything the server routed before now).
    async fn subjects(&mut self) -> Vec<String> {
        let sentinel = format!("spy.sentinel.{}", nuid::next());
        self.nats.publish(sentinel.clone(), Vec::new().into()).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.sub.next())
                .await
                .expect("the sentinel comes back")
                .expect("subscription open");
            if msg.subject.as_str() == sentinel {
                return seen;
            }
            seen.push(msg.subject.to_string());
        }
    }
}

fn object_store_traffic(subjects: &[String]) -> Vec<&String> {
    subjects.iter().filter(|s| s.starts_with("$JS.API.") || s.starts_with("$O.")).collect()
}

async fn store(env: &Env) -> async_nats::jetstream::object_store::ObjectStore {
    let js = async_nats::jetstream::new(env.connect().await);
    open_object_store(&js, lattice().as_str(), Replicas::ONE).await.unwrap()
}

fn body(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_or_oversized_chunked_claim_causes_no_object_store_traffic() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let calls = Counter::default();
    let server = env.serve(Served::Actor(b.clone()), echo(&calls)).await;
    let client = env.client().await;
    let subject = Served::Actor(b.clone()).subject(&lattice()).into_string();

    // A genuine chunked call, captured on the wire by a plain subscriber.
    let wiretap = env.connect().await;
    let mut tap = wiretap.subscribe(subject.clone()).await.unwrap();
    lattice_rpc::barrier::round_trip(&wiretap).await.unwrap();
    let genuine = body(2 * MIB, 0);
    assert_eq!(client.call(actor(&a), actor(&b), "Blob.Put", genuine.clone()).await.unwrap(), genuine);
    let captured = tap.next().await.unwrap().payload.to_vec();
    assert_eq!(calls.get(), 1);

    let mut spy = Spy::start(&env).await;
    let nats = env.connect().await;
    // The replay, edited to claim a huge body: refused by the replay lookup.
    let mut replay = Invocation::decode(&captured).unwrap();
    assert!(replay.msg.is_empty() && replay.content_length == genuine.len() as u64, "it was chunked");
    replay.content_length = 1 << 40;
    let resp = raw_request(&nats, subject.clone(), replay.encode()).await;
    assert_rejected(&resp, "replayed");
    // A fresh, genuinely signed call (never seen) claiming more than the maximum body size.
    let mut oversized = env.sign(actor(&a), actor(&b), "Blob.Put", &genuine);
    oversized.msg.clear();
    oversized.content_length = chunk::DEFAULT_MAX_BODY_BYTES + 1;
    let resp = raw_request(&nats, subject.clone(), oversized.encode()).await;
    assert_rejected(&resp, "too_large");
    let seen = spy.subjects().await;
    assert!(seen.iter().any(|s| s == &subject), "the spy saw the attacks: {seen:?}");
    assert_eq!(object_store_traffic(&seen), Vec::<&String>::new(), "no JetStream call, no object read");
    assert_eq!(calls.get(), 1, "neither reached the handler");
    assert_eq!(server.stats().rejected.get("replayed"), Some(&1));
    assert_eq!(server.stats().rejected.get("too_large"), Some(&1));

    // The legitimate path still works, and the spy does see its object-store traffic.
    assert_eq!(client.call(actor(&a), actor(&b), "Blob.Put", genuine.clone()).await.unwrap(), genuine);
    let seen = spy.subjects().await;
    assert!(
        seen.iter().any(|s| s.starts_with("$JS.API.CONSUMER.CREATE.OBJ_default")),
        "a real chunked call reads its object: {seen:?}"
    );
    assert_eq!(calls.get(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_does_not_hold_the_claimed_length_is_refused_unread() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let calls = Counter::default();
    let server = env.serve(Served::Actor(b.clone()), echo(&calls)).await;
    let store = store(&env).await;
    let nats = env.connect().await;
    let subject = Served::Actor(b.clone()).subject(&lattice()).into_string();
    let claimed = body(MIB, 1);

    // 1. The object's metadata says 8 MiB where 1 MiB is claimed: refused from the
    // metadata alone, no chunk fetched (no consumer created on the object stream).
    let mut inv = env.sign(actor(&a), actor(&b), "Blob.Put", &claimed);
    store.put(chunk::request_object(&inv.id).as_str(), &mut body(8 * MIB, 2).as_slice()).await.unwrap();
    inv.msg.clear();
    inv.content_length = claimed.len() as u64;
    let mut spy = Spy::start(&env).await;
    let resp = raw_request(&nats, subject.clone(), inv.encode()).await;
    let error = resp.error.expect("refused");
    assert!(error.contains("holds 8388608 bytes, content_length says 1048576"), "{error}");
    let seen = spy.subjects().await;
    assert!(!seen.iter().any(|s| s.starts_with("$JS.API.CONSUMER.CREATE")), "no chunk was read: {seen:?}");
    assert_eq!(calls.get(), 0);

    // 2. The metadata lies (rewritten to say 1 MiB over 8 MiB of chunks): the read stops
    // one byte past the claimed length.
    let mut inv = env.sign(actor(&a), actor(&b), "Blob.Put", &claimed);
    let name = chunk::request_object(&inv.id);
    let mut meta_tap = nats.subscribe("$O.default.M.>").await.unwrap();
    lattice_rpc::barrier::round_trip(&nats).await.unwrap();
    store.put(name.as_str(), &mut body(8 * MIB, 3).as_slice()).await.unwrap();
    let meta = meta_tap.next().await.unwrap();
    let mut info: serde_json::Value = serde_json::from_slice(&meta.payload).unwrap();
    info["size"] = serde_json::json!(MIB);
    let js = async_nats::jetstream::new(nats.clone());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Rollup", "sub");
    js.publish_with_headers(meta.subject.clone(), headers, serde_json::to_vec(&info).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(store.info(name.as_str()).await.unwrap().size, MIB, "the metadata now lies");
    inv.msg.clear();
    inv.content_length = claimed.len() as u64;
    let resp = raw_request(&nats, subject.clone(), inv.encode()).await;
    let error = resp.error.expect("refused");
    assert!(error.contains(&format!("holds {} bytes", MIB + 1)), "read capped at the claim + 1: {error}");
    assert_eq!(calls.get(), 0);

    // The legitimate path: the right object under the right name is read and deleted.
    let mut inv = env.sign(actor(&a), actor(&b), "Blob.Put", &claimed);
    let name = chunk::request_object(&inv.id);
    store.put(name.as_str(), &mut claimed.as_slice()).await.unwrap();
    inv.msg.clear();
    inv.content_length = claimed.len() as u64;
    let resp: InvocationResponse = raw_request(&nats, subject, inv.encode()).await;
    assert_eq!(resp.error, None);
    assert_eq!(calls.get(), 1);
    assert!(store.get(name.as_str()).await.is_err(), "read and deleted");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_objects_have_a_ttl_and_a_timed_out_call_deletes_its_object() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let client = env.client().await;
    // A receiver that takes the message and never answers.
    let silent = env.connect().await;
    let mut sub = silent.subscribe(Served::Actor(b.clone()).subject(&lattice()).into_string()).await.unwrap();
    lattice_rpc::barrier::round_trip(&silent).await.unwrap();

    let call = tokio::spawn(async move {
        let options = CallOptions::timeout(Duration::from_millis(1));
        client.call_with(actor(&a), actor(&b), "Blob.Put", body(2 * MIB, 4), options).await
    });
    let inv = Invocation::decode(&sub.next().await.unwrap().payload).unwrap();
    let store = store(&env).await;
    let name = chunk::request_object(&inv.id);
    // While the call waits, its object is there, in a store whose objects expire.
    assert_eq!(store.info(name.as_str()).await.unwrap().size, 2 * MIB);
    let js = async_nats::jetstream::new(env.connect().await);
    let mut stream = js.get_stream("OBJ_default").await.unwrap();
    assert_eq!(stream.info().await.unwrap().config.max_age, DEFAULT_CHUNK_TTL);

    // 1 ms + the 13 s chunked extra time later: a timeout, and the object is gone.
    let result = call.await.unwrap();
    assert!(matches!(result, Err(RpcError::Timeout { .. })), "{result:?}");
    assert!(store.get(name.as_str()).await.is_err(), "the timed-out call deleted its object");
    assert!(store.info(name.as_str()).await.map(|i| i.deleted).unwrap_or(true));
}

#[tokio::test]
async fn an_existing_store_without_a_ttl_gets_one() {
    let env = Env::start();
    // As a 0.82 host creates it: default configuration, no max age.
    let js = async_nats::jetstream::new(env.connect().await);
    let config = async_nats::jetstream::object_store::Config { bucket: "default".into(), ..Default::default() };
    js.create_object_store(config).await.unwrap();
    assert_eq!(js.get_stream("OBJ_default").await.unwrap().info().await.unwrap().config.max_age, Duration::ZERO);
    open_object_store(&js, "default", Replicas::ONE).await.unwrap();
    assert_eq!(js.get_stream("OBJ_default").await.unwrap().info().await.unwrap().config.max_age, DEFAULT_CHUNK_TTL);
}

fn assert_rejected(resp: &InvocationResponse, kind: &str) {
    let error = resp.error.as_deref().expect("an error response");
    assert!(
        error.starts_with(&format!("{}{kind}]: ", lattice_rpc::REJECTED_PREFIX)),
        "expected a {kind} rejection, got {error:?}"
    );
}
