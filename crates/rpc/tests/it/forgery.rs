//! Every kind of forged or replayed invocation is answered with an error response and
//! never reaches the handler.

use std::time::Duration;

use futures::StreamExt;
use lattice_proto::{ClusterSeed, Invocation, InvocationResponse};
use lattice_rpc::{REJECTED_PREFIX, RpcError, Served};

use crate::support::*;

/// A server for actor B with a counting handler, and a raw NATS connection for attacks.
struct Target {
    env: Env,
    a: lattice_proto::ActorKey,
    b: lattice_proto::ActorKey,
    calls: Counter,
    server: lattice_rpc::ServerHandle,
    raw: async_nats::Client,
}

impl Target {
    async fn start() -> Self {
        let env = Env::start();
        let (a, b) = (actor_key(), actor_key());
        let calls = Counter::default();
        let server = env.serve(Served::Actor(b.clone()), echo(&calls)).await;
        let raw = env.connect().await;
        Self { env, a, b, calls, server, raw }
    }

    fn subject(&self) -> String {
        format!("wasmbus.rpc.default.{}", self.b)
    }

    fn valid(&self) -> Invocation {
        self.env.sign(actor(&self.a), actor(&self.b), "Echo.Say", b"hello")
    }

    /// Send `inv` and expect a rejection of `kind`.
    async fn expect_rejected(&self, inv: &Invocation, kind: &str) {
        let resp = raw_request(&self.raw, self.subject(), inv.encode()).await;
        assert_rejected(&resp, kind);
        assert_eq!(resp.invocation_id, inv.id, "the rejection names the invocation");
    }
}

fn assert_rejected(resp: &InvocationResponse, kind: &str) {
    let error = resp.error.as_deref().expect("an error response");
    assert!(error.starts_with(&format!("{REJECTED_PREFIX}{kind}]: ")), "expected a {kind} rejection, got {error:?}");
    assert!(resp.msg.is_empty());
    assert_eq!(resp.content_length, 0);
}

#[tokio::test]
async fn every_forgery_kind_is_rejected_before_dispatch() {
    let t = Target::start().await;

    // Wrong seed: a client signing with another cluster key (unknown issuer).
    let rogue =
        lattice_rpc::RpcClient::builder(t.env.connect().await, lattice(), ClusterSeed::generate(), host_key()).build();
    let err = rogue.call(actor(&t.a), actor(&t.b), "Echo.Say", b"hi".to_vec()).await.unwrap_err();
    assert!(matches!(&err, RpcError::Rejected { kind, .. } if kind == "unknown_issuer"), "{err:?}");

    // Bad signature: a trusted issuer, but the signature bytes are changed.
    let mut inv = t.valid();
    let sig_at = inv.encoded_claims.rfind('.').unwrap() + 10;
    let flipped = if &inv.encoded_claims[sig_at..=sig_at] == "A" { "B" } else { "A" };
    inv.encoded_claims.replace_range(sig_at..=sig_at, flipped);
    t.expect_rejected(&inv, "bad_signature").await;

    // Claims body edited (e.g. the issued-at time), signature left as it was.
    let mut inv = t.valid();
    let claims = inv.claims_unverified().unwrap();
    let mut parts: Vec<String> = inv.encoded_claims.split('.').map(str::to_owned).collect();
    let json = serde_json::to_vec(&serde_json::json!({
        "jti": claims.jti, "iat": claims.iat + 1, "iss": claims.iss, "sub": claims.sub,
        "wascap": claims.wascap, "wascap_revision": 3
    }))
    .unwrap();
    parts[1] = data_encoding::BASE64URL_NOPAD.encode(&json);
    inv.encoded_claims = parts.join(".");
    t.expect_rejected(&inv, "bad_signature").await;

    // Tampered msg (content_length adjusted, as an attacker would).
    let mut inv = t.valid();
    inv.msg = b"evil!".to_vec();
    t.expect_rejected(&inv, "hash_mismatch").await;

    // Emptied msg: 0.82 skips the hash for an empty body; Lattice does not (§11.1).
    let mut inv = t.valid();
    inv.msg.clear();
    inv.content_length = 0;
    t.expect_rejected(&inv, "hash_mismatch").await;

    // Tampered operation: the signed target URL ends with the operation.
    let mut inv = t.valid();
    inv.operation = "Admin.DeleteAll".into();
    t.expect_rejected(&inv, "target_mismatch").await;

    // Re-targeted: valid claims for actor C, sent to B's subject as they are...
    let c = actor_key();
    let for_c = t.env.sign(actor(&t.a), actor(&c), "Echo.Say", b"hello");
    t.expect_rejected(&for_c, "target_mismatch").await;
    // ...and with the target rewritten to B (the claims still name C).
    let mut inv = for_c.clone();
    inv.target = actor(&t.b);
    t.expect_rejected(&inv, "target_mismatch").await;

    // Re-originated: the origin rewritten.
    let mut inv = t.valid();
    inv.origin = actor(&actor_key());
    t.expect_rejected(&inv, "origin_mismatch").await;

    // Claims lifted from another invocation to the same target.
    let other = t.env.sign(actor(&t.a), actor(&t.b), "Echo.Say", b"another body");
    let mut inv = t.valid();
    inv.encoded_claims = other.encoded_claims.clone();
    t.expect_rejected(&inv, "id_mismatch").await;
    // ...even with the id copied too: then the body does not match the hash.
    inv.id = other.id.clone();
    t.expect_rejected(&inv, "hash_mismatch").await;

    // Rewritten id (to dodge the replay cache).
    let mut inv = t.valid();
    inv.id = uuid::Uuid::new_v4().to_string();
    t.expect_rejected(&inv, "id_mismatch").await;

    // Bad host id.
    let mut inv = t.valid();
    inv.host_id = "not-a-host".into();
    t.expect_rejected(&inv, "bad_host_id").await;

    // Stale claims: issued 10 minutes ago (window 300 s).
    let stale = sign_with(&t.env.seed, &t.env.host, actor(&t.a), actor(&t.b), "Echo.Say", b"x", now() - 600);
    t.expect_rejected(&stale, "stale").await;

    // Malformed JWT.
    let mut inv = t.valid();
    inv.encoded_claims = "not.a.jwt".into();
    t.expect_rejected(&inv, "malformed").await;

    // Malformed msgpack and garbage bytes: answered like 0.82 (`UNKNOWN` id).
    let mut truncated = t.valid().encode();
    truncated.truncate(truncated.len() / 2);
    for bytes in [truncated, b"\x00\x01garbage\xff".to_vec(), Vec::new()] {
        let resp = raw_request(&t.raw, t.subject(), bytes).await;
        assert_rejected(&resp, "malformed");
        assert_eq!(resp.invocation_id, InvocationResponse::UNKNOWN_ID);
    }

    assert_eq!(t.calls.get(), 0, "no forged invocation reached the handler");
    let stats = t.server.stats();
    assert_eq!(stats.dispatched, 0);
    for kind in [
        "unknown_issuer",
        "bad_signature",
        "hash_mismatch",
        "target_mismatch",
        "origin_mismatch",
        "id_mismatch",
        "bad_host_id",
        "stale",
        "malformed",
    ] {
        assert!(stats.rejected.get(kind).copied().unwrap_or(0) > 0, "{kind} counted: {stats:?}");
    }

    // And a genuine call still works.
    let resp = raw_request(&t.raw, t.subject(), t.valid().encode()).await;
    assert_eq!(resp.error, None);
    assert_eq!(resp.msg, b"hello");
    assert_eq!(t.calls.get(), 1);
}

#[tokio::test]
async fn a_captured_invocation_replayed_after_the_original_is_rejected() {
    let t = Target::start().await;
    // An eavesdropper with read access to the subject (no queue group) captures a call.
    let mut spy = t.raw.subscribe(t.subject()).await.unwrap();
    t.raw.flush().await.unwrap();
    let client = t.env.client().await;
    assert_eq!(client.call(actor(&t.a), actor(&t.b), "Echo.Say", b"pay 10".to_vec()).await.unwrap(), b"pay 10");
    let captured = tokio::time::timeout(Duration::from_secs(5), spy.next()).await.unwrap().unwrap();
    assert_eq!(t.calls.get(), 1);

    // Re-published verbatim: refused, not run again.
    let resp = raw_request(&t.raw, t.subject(), captured.payload.to_vec()).await;
    assert_rejected(&resp, "replayed");
    assert_eq!(t.calls.get(), 1, "the replay did not reach the handler");
    assert_eq!(t.server.stats().rejected.get("replayed"), Some(&1));
}

#[tokio::test]
async fn replay_protection_can_be_turned_off() {
    let env = Env::start();
    let b = actor_key();
    let calls = Counter::default();
    let server =
        lattice_rpc::RpcServer::builder(env.connect().await, lattice(), env.issuers(), Served::Actor(b.clone()))
            .replay_window(None)
            .start(echo(&calls))
            .await
            .unwrap();
    let raw = env.connect().await;
    let inv = env.sign(actor(&actor_key()), actor(&b), "Echo.Say", b"x");
    for _ in 0..2 {
        let resp = raw_request(&raw, server.subject().to_owned(), inv.encode()).await;
        assert_eq!(resp.error, None);
    }
    assert_eq!(calls.get(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_without_reply_subject_is_processed_and_not_answered() {
    let t = Target::start().await;
    t.raw.publish(t.subject(), t.valid().encode().into()).await.unwrap();
    t.raw.publish(t.subject(), b"garbage".to_vec().into()).await.unwrap();
    t.raw.flush().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while t.server.stats().received < 2 || t.calls.get() < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("both processed");
    let stats = t.server.stats();
    assert_eq!((stats.dispatched, stats.rejected.get("malformed").copied()), (1, Some(1)));
}
