//! Forged invocations, one per alert kind — for tests of the monitor and of receivers.
//!
//! Only compiled for tests (feature `forge`). Each [`Forgery`] starts from a genuine
//! invocation and breaks exactly one rule, so the first failed check is the one named by
//! [`Forgery::kind`]. Most are what a forger *without* the cluster seed can make from a
//! captured invocation (tamper with the body, the operation, the origin, the host id or
//! the id; flip signature bits; sign with their own key; send garbage). Three need claims
//! that only a seed holder signs — `exp` in the past, `nbf` in the future, `iat` outside
//! the window — and stand for an old capture or a misconfigured signer: the tests make
//! them with the trusted seed.

use data_encoding::BASE64URL_NOPAD;
use lattice_proto::claims::{HEADER_B64, WASCAP_REVISION};
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{ClusterSeed, HostKey, Invocation, WasmCloudEntity};

/// One way to break an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// Signature bits flipped.
    BadSignature,
    /// Signed by a cluster key nobody trusts.
    UnknownIssuer,
    /// Body changed after signing.
    HashMismatch,
    /// Operation changed after signing (the claims' target URL names the operation).
    TargetMismatch,
    /// Origin swapped for another actor.
    OriginMismatch,
    /// Claims with `exp` in the past.
    Expired,
    /// Claims with `nbf` in the future.
    NotYetValid,
    /// Claims issued twice the window ago.
    Stale,
    /// `host_id` that is not a host key.
    BadHostId,
    /// `id` rewritten (no longer the claims' `sub`).
    IdMismatch,
    /// Not msgpack at all.
    MalformedMsgpack,
    /// An invocation whose claims are not a JWT.
    MalformedJwt,
}

impl Forgery {
    /// Every forgery.
    pub const ALL: [Forgery; 12] = [
        Forgery::BadSignature,
        Forgery::UnknownIssuer,
        Forgery::HashMismatch,
        Forgery::TargetMismatch,
        Forgery::OriginMismatch,
        Forgery::Expired,
        Forgery::NotYetValid,
        Forgery::Stale,
        Forgery::BadHostId,
        Forgery::IdMismatch,
        Forgery::MalformedMsgpack,
        Forgery::MalformedJwt,
    ];

    /// The alert kind a monitor must report for it.
    pub fn kind(self) -> &'static str {
        match self {
            Forgery::BadSignature => "bad_signature",
            Forgery::UnknownIssuer => "unknown_issuer",
            Forgery::HashMismatch => "hash_mismatch",
            Forgery::TargetMismatch => "target_mismatch",
            Forgery::OriginMismatch => "origin_mismatch",
            Forgery::Expired => "expired",
            Forgery::NotYetValid => "not_yet_valid",
            Forgery::Stale => "stale",
            Forgery::BadHostId => "bad_host_id",
            Forgery::IdMismatch => "id_mismatch",
            Forgery::MalformedMsgpack | Forgery::MalformedJwt => "malformed",
        }
    }
}

/// Makes genuine and forged invocations of one call shape.
#[derive(Clone, Debug)]
pub struct Forge {
    /// The trusted cluster seed (stands for the legitimate signer).
    pub seed: ClusterSeed,
    /// The sending host.
    pub host: HostKey,
    /// The caller.
    pub origin: WasmCloudEntity,
    /// The callee.
    pub target: WasmCloudEntity,
    /// The operation.
    pub operation: String,
}

impl Forge {
    /// A genuine invocation with this `id`, body `msg`, signed at `now`.
    pub fn genuine(&self, id: &str, msg: &[u8], now: u64) -> Invocation {
        self.signed(&self.seed, id, msg, now, None)
    }

    fn signed(&self, seed: &ClusterSeed, id: &str, msg: &[u8], now: u64, expires: Option<u64>) -> Invocation {
        let jti = format!("jti-{id}");
        Invocation::new_signed(
            CallSpec {
                origin: self.origin.clone(),
                target: self.target.clone(),
                operation: self.operation.clone(),
                msg: msg.to_vec(),
                host_id: &self.host,
            },
            seed,
            SignContext { id: id.to_owned(), jti: &jti, now, expires },
        )
    }

    /// The payload of `forgery` with a fresh `id`, at `now`, for a receiver whose window
    /// is `window` seconds.
    pub fn forge(&self, forgery: Forgery, id: &str, now: u64, window: u64) -> Vec<u8> {
        let msg = b"forged payload";
        let mut inv = self.genuine(id, msg, now);
        match forgery {
            Forgery::BadSignature => {
                let (signed, sig) = inv.encoded_claims.rsplit_once('.').unwrap_or_default();
                let mut raw = BASE64URL_NOPAD.decode(sig.as_bytes()).unwrap_or_default();
                if let Some(b) = raw.get_mut(7) {
                    *b ^= 0x40;
                }
                inv.encoded_claims = format!("{signed}.{}", BASE64URL_NOPAD.encode(&raw));
            }
            Forgery::UnknownIssuer => inv = self.signed(&ClusterSeed::generate(), id, msg, now, None),
            Forgery::HashMismatch => inv.msg = b"forged PAYLOAD".to_vec(),
            Forgery::TargetMismatch => inv.operation.push_str("Evil"),
            Forgery::OriginMismatch => inv.origin.public_key = nkeys::KeyPair::new_module().public_key(),
            Forgery::Expired => inv = self.signed(&self.seed, id, msg, now, Some(now.saturating_sub(60))),
            Forgery::NotYetValid => inv.encoded_claims = self.claims_with_nbf(&inv, now, now + 3600),
            Forgery::Stale => inv = self.signed(&self.seed, id, msg, now.saturating_sub(2 * window.max(1)), None),
            Forgery::BadHostId => inv.host_id = "not-a-host-key".into(),
            Forgery::IdMismatch => inv.id = format!("{id}-rewritten"),
            Forgery::MalformedMsgpack => return vec![0xc1, 0x93, 0x01],
            Forgery::MalformedJwt => inv.encoded_claims = "this-is-not-a-jwt".into(),
        }
        inv.encode()
    }

    /// Claims for `inv` with an `nbf`, signed with the trusted seed (wascap layout).
    fn claims_with_nbf(&self, inv: &Invocation, iat: u64, nbf: u64) -> String {
        let digest = inv.digest();
        let claims = serde_json::json!({
            "jti": format!("jti-{}", inv.id),
            "iat": iat,
            "iss": self.seed.public_key().as_str(),
            "sub": inv.id,
            "nbf": nbf,
            "wascap": {"target_url": digest.target_url, "origin_url": digest.origin_url, "hash": digest.hash},
            "wascap_revision": WASCAP_REVISION,
        });
        let mut token = format!("{HEADER_B64}.{}", BASE64URL_NOPAD.encode(claims.to_string().as_bytes()));
        let sig =
            nkeys::KeyPair::from_seed(&self.seed.seed()).and_then(|kp| kp.sign(token.as_bytes())).unwrap_or_default();
        token.push('.');
        token.push_str(&BASE64URL_NOPAD.encode(&sig));
        token
    }
}
