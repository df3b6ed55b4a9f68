//! The monitor's verdict on one RPC-plane message, as pure functions.
//!
//! [`classify`] takes the subject, the payload bytes, the clock (`now`, seconds since the
//! Unix epoch), the replay memory and the trusted issuers, and says what the message is:
//! a [`Verdict::Valid`] invocation, an [`Verdict::Invalid`] one with the failed check
//! (its [`lattice_proto::Rejection::kind`] is the alert `kind` of CONVENTIONS.md), a provider control
//! message (counted, never verified: PROTOCOL.md §11.8) or something unrouted. No I/O, no
//! clock reads: every rule is unit-tested here with forged invocations.
//!
//! The checks are a receiver's, in a receiver's order: the one sequence of
//! [`lattice_proto::verify`], with the subject the message was published on as the
//! addressee (PROTOCOL.md §11.6), the replay window's length as the allowed `iat` age,
//! and the replay window last (§11.5). Only invocations that passed every other check are
//! remembered, so a forger cannot make a genuine call look like a replay by sending a
//! forged copy of its id first. An RPC server and the monitor give the same verdict on
//! the same bytes (a test in `tests/it` holds them to it).
//!
//! [`classify_batch`] gives exactly the same verdicts for a run of messages, in order, but
//! verifies their Ed25519 signatures in one batch (about twice as fast as one by one): the
//! monitor's workers use it to keep up with the bus.
//!
//! One limit: a chunked invocation's body is in the object store, which the monitor does
//! not read (the receiver deletes the object after fetching it), so for a chunked
//! invocation (`msg` empty, `content_length` above the chunk threshold: the one chunking
//! rule, §11.11) everything but the body hash is checked; the receiver checks the hash.

use lattice_proto::replay::ReplayWindow;
use lattice_proto::subject::{self, RpcSubject};
use lattice_proto::verify::{self, Addressee, Body, Rejection, Verifier};
use lattice_proto::{Invocation, TrustedIssuers};

/// Who called whom, with what: the parts of an invocation an alert or a metric names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The origin's public key.
    pub origin: String,
    /// The target's public key.
    pub target: String,
    /// The target's link name (empty for actors).
    pub target_link: String,
    /// The operation.
    pub operation: String,
    /// The invocation id.
    pub invocation_id: String,
    /// The inline body size in bytes.
    pub size: usize,
    /// The full body size (`content_length`; larger than `size` when chunked).
    pub content_length: u64,
}

impl CallInfo {
    /// Take the identifying parts out of a decoded invocation.
    pub fn from_invocation(inv: Invocation) -> Self {
        Self {
            size: inv.msg.len(),
            content_length: inv.content_length,
            origin: inv.origin.public_key,
            target: inv.target.public_key,
            target_link: inv.target.link_name,
            operation: inv.operation,
            invocation_id: inv.id,
        }
    }
}

/// What a message on the lattice's RPC subjects is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An invocation that passed every check (and was remembered for replay detection).
    Valid(CallInfo),
    /// An invocation that failed a check; `error.kind()` is the alert kind.
    Invalid {
        /// The call's parts, when the payload decoded as an invocation at all.
        call: Option<CallInfo>,
        /// The first check that failed.
        error: Rejection,
    },
    /// A provider control message (`linkdefs.put`, `linkdefs.del`, `health`, `shutdown`):
    /// counted by kind, not verified (PROTOCOL.md §11.8).
    Control {
        /// The subject suffix, e.g. `linkdefs.put`.
        kind: String,
    },
    /// A subject under the lattice prefix that no Lattice or 0.82 receiver listens on
    /// (nobody acts on it, so it is counted, not alerted on).
    Unrouted,
}

impl Verdict {
    /// The metric label: `valid`, the alert kind, `control` or `unrouted`.
    pub fn label(&self) -> &str {
        match self {
            Verdict::Valid(_) => "valid",
            Verdict::Invalid { error, .. } => error.kind().as_str(),
            Verdict::Control { .. } => "control",
            Verdict::Unrouted => "unrouted",
        }
    }

    /// Whether this verdict raises an alert.
    pub fn is_alert(&self) -> bool {
        matches!(self, Verdict::Invalid { .. })
    }
}

/// Where a subject under `wasmbus.rpc.{lattice}.` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// An actor or provider invocation subject: decode and verify.
    Invocation,
    /// A provider control subject, with its kind (`linkdefs.put`, …).
    Control(String),
    /// Anything else.
    Unrouted,
}

/// Route a subject by its shape.
pub fn route(subject: &str) -> Route {
    match subject::parse(subject) {
        RpcSubject::Actor { .. } | RpcSubject::Provider { .. } => Route::Invocation,
        RpcSubject::ProviderControl { kind, .. } => Route::Control(kind.to_owned()),
        RpcSubject::Other => Route::Unrouted,
    }
}

/// Decode a payload as an invocation (a failure is of the `malformed` kind).
pub fn decode(payload: &[u8]) -> Result<Invocation, Rejection> {
    Ok(Invocation::decode(payload)?)
}

/// The alert `reason` for a failed check: the rejection's text.
pub fn reason(error: &Rejection) -> String {
    error.to_string()
}

/// Classify one message published on `subject` with `payload`, at `now` (seconds since
/// the Unix epoch). The replay window's length is also the allowed `iat` age.
pub fn classify(
    subject: &str,
    payload: &[u8],
    now: u64,
    replay: &mut ReplayWindow,
    issuers: &TrustedIssuers,
) -> Verdict {
    match route(subject) {
        Route::Invocation => classify_decoded(subject, decode(payload), now, replay, issuers),
        Route::Control(kind) => Verdict::Control { kind },
        Route::Unrouted => Verdict::Unrouted,
    }
}

/// Classify an invocation (already decoded, or the decode error) published on `subject`.
pub fn classify_decoded(
    subject: &str,
    decoded: Result<Invocation, Rejection>,
    now: u64,
    replay: &mut ReplayWindow,
    issuers: &TrustedIssuers,
) -> Verdict {
    let mut verdicts = classify_batch(vec![(subject.to_owned(), decoded)], now, replay, issuers);
    match verdicts.pop() {
        Some((_, verdict)) => verdict,
        None => Verdict::Unrouted,
    }
}

/// Classify a run of invocations `(subject, decoded)` in arrival order, verifying their
/// signatures as one batch. Gives exactly the verdicts of [`classify_decoded`] called on
/// each in turn, each with its subject handed back.
pub fn classify_batch(
    items: Vec<(String, Result<Invocation, Rejection>)>,
    now: u64,
    replay: &mut ReplayWindow,
    issuers: &TrustedIssuers,
) -> Vec<(String, Verdict)> {
    let verifier = Verifier::new(issuers.clone(), Some(replay.window_secs()));
    // Step 1 for everything that decoded, each addressed to the subject it came on.
    let checked = {
        let batch: Vec<(&Invocation, Addressee<'_>)> = items
            .iter()
            .filter_map(|(subject, decoded)| decoded.as_ref().ok().map(|inv| (inv, Addressee::Subject(subject))))
            .collect();
        verifier.check_batch(&batch, now)
    };
    // Step 3, in order (the replay memory depends on it): the hash, then the window.
    let mut checked = checked.into_iter();
    items
        .into_iter()
        .map(|(subject, decoded)| {
            let verdict = match decoded {
                Err(error) => Verdict::Invalid { call: None, error },
                Ok(inv) => {
                    let outcome = checked.next().unwrap_or(Err(Rejection::BodyNotGiven)).and_then(|c| {
                        let body = if c.is_chunked() { Body::Unavailable } else { Body::Full(&inv.msg) };
                        verify::finish(c, body, Some(replay), now)
                    });
                    let call = CallInfo::from_invocation(inv);
                    match outcome {
                        Ok(_) => Verdict::Valid(call),
                        Err(error) => Verdict::Invalid { call: Some(call), error },
                    }
                }
            };
            (subject, verdict)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use lattice_proto::{ActorKey, ClusterSeed, HostKey, LatticeName, LinkName, ProviderKey, WasmCloudEntity};

    use lattice_proto::chunk::CHUNK_THRESHOLD_BYTES;

    use super::*;
    use crate::forge::{Forge, Forgery};

    const SEED: &str = "SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ";
    const ISSUER: &str = "CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI";
    const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
    const ACTOR_A: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
    const ACTOR_B: &str = "MBXHUHG5FGYLPD6RHL2MKWMP572O6KUXCZXDZJXS4T57ZTMAKBN7CE6S";
    const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
    const NOW: u64 = 1_707_858_000;
    const WINDOW: u64 = 300;

    fn issuers() -> TrustedIssuers {
        TrustedIssuers::new(&[lattice_proto::ClusterKey::parse(ISSUER).unwrap()])
    }

    fn window() -> ReplayWindow {
        ReplayWindow::new(WINDOW, 1000)
    }

    fn actor(key: &str) -> WasmCloudEntity {
        WasmCloudEntity { public_key: key.into(), ..Default::default() }
    }

    /// Calls from actor A to actor B.
    fn forge() -> Forge {
        Forge {
            seed: ClusterSeed::parse(SEED).unwrap(),
            host: HostKey::parse(HOST).unwrap(),
            origin: actor(ACTOR_A),
            target: actor(ACTOR_B),
            operation: "Echo.Ping".into(),
        }
    }

    /// The RPC subject of actor `key` on the default lattice (also for the spy's tests).
    pub(crate) fn actor_subject(key: &str) -> String {
        subject::actor_rpc(&LatticeName::new("default").unwrap(), &ActorKey::parse(key).unwrap()).into_string()
    }

    /// The RPC subject of provider `key` on link `link` of the default lattice.
    pub(crate) fn provider_subject(key: &str, link: &str) -> String {
        subject::provider_rpc(
            &LatticeName::new("default").unwrap(),
            &ProviderKey::parse(key).unwrap(),
            &LinkName::new(link).unwrap(),
        )
        .into_string()
    }

    fn subject_b() -> String {
        actor_subject(ACTOR_B)
    }

    fn kind(v: &Verdict) -> &str {
        v.label()
    }

    #[test]
    fn genuine_call_is_valid_and_named() {
        let inv = forge().genuine("id-1", b"hello", NOW);
        let v = classify(&subject_b(), &inv.encode(), NOW, &mut window(), &issuers());
        let Verdict::Valid(call) = v else { panic!("{v:?}") };
        assert_eq!(call.origin, ACTOR_A);
        assert_eq!(call.target, ACTOR_B);
        assert_eq!(call.operation, "Echo.Ping");
        assert_eq!(call.invocation_id, "id-1");
        assert_eq!(call.size, 5);
    }

    #[test]
    fn every_forgery_gets_its_own_kind() {
        let f = forge();
        for (i, forgery) in Forgery::ALL.into_iter().enumerate() {
            let payload = f.forge(forgery, &format!("forged-{i}"), NOW, WINDOW);
            let v = classify(&subject_b(), &payload, NOW, &mut window(), &issuers());
            assert_eq!(kind(&v), forgery.kind(), "{forgery:?}: {v:?}");
            assert!(v.is_alert());
            // Everything but undecodable bytes still names the call.
            let Verdict::Invalid { call, .. } = &v else { unreachable!() };
            assert_eq!(call.is_some(), forgery != Forgery::MalformedMsgpack, "{forgery:?}");
        }
    }

    #[test]
    fn every_alert_kind_of_the_conventions_is_covered() {
        let mut kinds: Vec<&str> = Forgery::ALL.iter().map(|f| f.kind()).collect();
        kinds.push("replayed");
        kinds.sort_unstable();
        kinds.dedup();
        let mut documented = vec![
            "bad_signature",
            "unknown_issuer",
            "hash_mismatch",
            "target_mismatch",
            "origin_mismatch",
            "expired",
            "not_yet_valid",
            "stale",
            "bad_host_id",
            "id_mismatch",
            "malformed",
            "replayed",
        ];
        documented.sort_unstable();
        assert_eq!(kinds, documented);
    }

    #[test]
    fn a_repeated_invocation_is_replayed() {
        let payload = forge().genuine("id-r", b"x", NOW).encode();
        let (mut w, iss) = (window(), issuers());
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW, &mut w, &iss)), "valid");
        let again = classify(&subject_b(), &payload, NOW + 10, &mut w, &iss);
        assert_eq!(kind(&again), "replayed");
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW + 299, &mut w, &iss)), "replayed");
        // Once the window has passed, the same bytes are stale (and no longer remembered).
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW + 301, &mut w, &iss)), "stale");
        // The next accepted call lets the memory forget the expired id.
        let later = forge().genuine("id-later", b"x", NOW + 301).encode();
        assert_eq!(kind(&classify(&subject_b(), &later, NOW + 301, &mut w, &iss)), "valid");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn forged_copies_cannot_poison_the_replay_memory() {
        let f = forge();
        let (mut w, iss) = (window(), issuers());
        // A tampered copy of the coming call "id-p" (same id, other body) arrives first…
        let mut tampered = f.genuine("id-p", b"real", NOW);
        tampered.msg = b"fake".to_vec();
        assert_eq!(kind(&classify(&subject_b(), &tampered.encode(), NOW, &mut w, &iss)), "hash_mismatch");
        // …and a captured call whose id was rewritten to "id-p"…
        let mut rewritten = f.genuine("id-other", b"x", NOW);
        rewritten.id = "id-p".into();
        assert_eq!(kind(&classify(&subject_b(), &rewritten.encode(), NOW, &mut w, &iss)), "id_mismatch");
        // …and one signed by an untrusted key with that id.
        let rogue = Forge { seed: ClusterSeed::generate(), ..f.clone() }.genuine("id-p", b"real", NOW);
        assert_eq!(kind(&classify(&subject_b(), &rogue.encode(), NOW, &mut w, &iss)), "unknown_issuer");
        // The genuine call is still valid: none of them was remembered.
        let genuine = f.genuine("id-p", b"real", NOW);
        assert_eq!(kind(&classify(&subject_b(), &genuine.encode(), NOW, &mut w, &iss)), "valid");
    }

    #[test]
    fn a_genuine_call_on_another_entitys_subject_is_retargeted() {
        let f = forge();
        let (mut w, iss) = (window(), issuers());
        let payload = f.genuine("id-t", b"x", NOW).encode();
        let subject_a = actor_subject(ACTOR_A);
        let v = classify(&subject_a, &payload, NOW, &mut w, &iss);
        assert_eq!(kind(&v), "target_mismatch");
        let Verdict::Invalid { error, .. } = v else { unreachable!() };
        assert!(error.to_string().contains(&subject_a), "{error}");
        // Not remembered: the same bytes on the right subject are valid.
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW, &mut w, &iss)), "valid");
    }

    #[test]
    fn provider_subjects_bind_the_link_name() {
        let mut f = forge();
        f.target =
            WasmCloudEntity { public_key: PROVIDER.into(), link_name: "default".into(), contract_id: "x:y".into() };
        let (mut w, iss) = (window(), issuers());
        let payload = f.genuine("id-l", b"x", NOW).encode();
        let wrong_link = provider_subject(PROVIDER, "other");
        assert_eq!(kind(&classify(&wrong_link, &payload, NOW, &mut w, &iss)), "target_mismatch");
        let right = provider_subject(PROVIDER, "default");
        assert_eq!(kind(&classify(&right, &payload, NOW, &mut w, &iss)), "valid");
    }

    #[test]
    fn claims_from_the_future_beyond_the_window_are_stale() {
        let payload = forge().genuine("id-f", b"x", NOW + WINDOW + 1).encode();
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW, &mut window(), &issuers())), "stale");
        // Within the window either way is fine (clock skew).
        let payload = forge().genuine("id-g", b"x", NOW + WINDOW).encode();
        assert_eq!(kind(&classify(&subject_b(), &payload, NOW, &mut window(), &issuers())), "valid");
    }

    #[test]
    fn control_messages_are_counted_not_verified() {
        let base = provider_subject(PROVIDER, "default");
        for (suffix, payload) in [
            ("linkdefs.put", &b"\x85garbage"[..]),
            ("linkdefs.del", &b""[..]),
            ("health", &b""[..]),
            ("shutdown", &br#"{"host_id":"N"}"#[..]),
        ] {
            let v = classify(&format!("{base}.{suffix}"), payload, NOW, &mut window(), &issuers());
            assert_eq!(v, Verdict::Control { kind: suffix.into() });
            assert!(!v.is_alert());
        }
    }

    #[test]
    fn other_subjects_are_unrouted() {
        for s in ["wasmbus.rpc.default.NOTAKEY", "wasmbus.rpc.default.X.y.z.w.v.u", "wasmbus.rpc.default"] {
            let v = classify(s, b"\x80", NOW, &mut window(), &issuers());
            assert_eq!(v, Verdict::Unrouted, "{s}");
            assert!(!v.is_alert());
        }
    }

    #[test]
    fn undecodable_payloads_are_malformed() {
        for payload in [&b""[..], b"\xc1", b"\x80", b"not msgpack at all"] {
            let v = classify(&subject_b(), payload, NOW, &mut window(), &issuers());
            assert_eq!(kind(&v), "malformed", "{payload:?}");
            assert!(matches!(v, Verdict::Invalid { call: None, .. }));
        }
        // Half of a genuine invocation.
        let full = forge().genuine("id-h", b"x", NOW).encode();
        let v = classify(&subject_b(), &full[..full.len() / 2], NOW, &mut window(), &issuers());
        assert_eq!(kind(&v), "malformed");
    }

    #[test]
    fn an_honest_chunked_invocation_is_valid_without_its_body() {
        let f = forge();
        let body = vec![7u8; CHUNK_THRESHOLD_BYTES + 1];
        let mut inv = f.genuine("id-c", &body, NOW);
        inv.msg.clear(); // the body went to the object store
        assert_eq!(inv.content_length, body.len() as u64);
        assert_eq!(kind(&classify(&subject_b(), &inv.encode(), NOW, &mut window(), &issuers())), "valid");
        // A small body whose content_length was inflated is malformed (the one chunking
        // rule, PROTOCOL.md §11.11), and so is an empty msg at or under the threshold.
        let mut small = f.genuine("id-d", b"abc", NOW);
        small.msg = b"abd".to_vec();
        small.content_length = CHUNK_THRESHOLD_BYTES as u64 + 10;
        assert_eq!(kind(&classify(&subject_b(), &small.encode(), NOW, &mut window(), &issuers())), "malformed");
        let mut emptied = f.genuine("id-e", b"abc", NOW);
        emptied.msg.clear();
        emptied.content_length = CHUNK_THRESHOLD_BYTES as u64;
        assert_eq!(kind(&classify(&subject_b(), &emptied.encode(), NOW, &mut window(), &issuers())), "malformed");
    }

    /// A mixed stream: the batch gives exactly the sequential verdicts.
    #[test]
    fn batch_verdicts_equal_one_by_one() {
        let f = forge();
        let mut stream: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..20 {
            stream.push((subject_b(), f.genuine(&format!("g-{i}"), b"x", NOW).encode()));
        }
        for (i, forgery) in Forgery::ALL.into_iter().enumerate() {
            stream.insert(i * 2 + 1, (subject_b(), f.forge(forgery, &format!("f-{i}"), NOW, WINDOW)));
        }
        let replay = stream[0].clone();
        stream.push(replay.clone());
        stream.push((actor_subject(ACTOR_A), stream[2].1.clone()));
        stream.push(replay);

        let mut w1 = window();
        let one_by_one: Vec<Verdict> =
            stream.iter().map(|(s, p)| classify_decoded(s, decode(p), NOW, &mut w1, &issuers())).collect();
        let mut w2 = window();
        let batch: Vec<Verdict> =
            classify_batch(stream.iter().map(|(s, p)| (s.clone(), decode(p))).collect(), NOW, &mut w2, &issuers())
                .into_iter()
                .map(|(_, v)| v)
                .collect();
        assert_eq!(batch, one_by_one);
        let alerts = batch.iter().filter(|v| v.is_alert()).count();
        assert_eq!(alerts, Forgery::ALL.len() + 3, "{batch:#?}");
        assert_eq!(batch.iter().filter(|v| v.label() == "replayed").count(), 2);
        // An all-genuine batch takes the fast path and is all valid.
        let genuine: Vec<_> =
            (0..10).map(|i| (subject_b(), decode(&f.genuine(&format!("b-{i}"), b"y", NOW).encode()))).collect();
        assert!(classify_batch(genuine, NOW, &mut w2, &issuers()).iter().all(|(_, v)| v.label() == "valid"));
    }

    fn vector(name: &str) -> serde_json::Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/tests/vectors").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn hex(v: &serde_json::Value) -> Vec<u8> {
        data_encoding::HEXLOWER_PERMISSIVE.decode(v.as_str().unwrap().as_bytes()).unwrap()
    }

    /// The golden vectors made by the 0.82 crates: valid ones are valid at their clock,
    /// the negative ones get the kind of their 0.82 error.
    #[test]
    fn golden_vectors() {
        for case in ["actor_to_provider", "provider_to_actor", "actor_to_actor", "empty_msg"] {
            let v = vector(&format!("invocation_{case}.json"));
            let subject = v["nats_subject"].as_str().unwrap();
            let verdict = classify(subject, &hex(&v["invocation_msgpack_hex"]), NOW, &mut window(), &issuers());
            assert_eq!(kind(&verdict), "valid", "{case}: {verdict:?}");
        }
        let neg = vector("negative.json");
        let subject = vector("invocation_actor_to_provider.json")["nats_subject"].as_str().unwrap().to_owned();
        for case in neg["validation_vectors"].as_array().unwrap() {
            let Some(h) = case.get("invocation_msgpack_hex") else { continue };
            let expected = match case["name"].as_str().unwrap() {
                "tampered_msg" => "hash_mismatch",
                "untrusted_issuer" => "unknown_issuer",
                "bad_signature" => "bad_signature",
                "target_url_mismatch" => "target_mismatch",
                other => panic!("unexpected vector {other}"),
            };
            let verdict = classify(&subject, &hex(h), NOW, &mut window(), &issuers());
            assert_eq!(kind(&verdict), expected, "{}", case["name"]);
        }
        for case in neg["malformed_msgpack_vectors"].as_array().unwrap() {
            let verdict = classify(&subject, &hex(&case["payload_hex"]), NOW, &mut window(), &issuers());
            assert_eq!(kind(&verdict), "malformed", "{}", case["name"]);
        }
    }
}
