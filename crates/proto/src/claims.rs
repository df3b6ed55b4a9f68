//! Invocation claims: the JWT that proves a call was made by a holder of the cluster seed.
//!
//! Layout (wascap 0.12, PROTOCOL.md §5): `B64URL(header).B64URL(claims).B64URL(sig)`,
//! base64url without padding, header exactly `{"typ":"jwt","alg":"Ed25519"}`, claims
//! `{exp?, jti, iat, iss, sub, nbf?, wascap: {target_url, origin_url, hash},
//! wascap_revision: 3}`, a raw Ed25519 signature by the cluster key.
//!
//! The phases below are the primitives of [`crate::verify`], the one place that calls
//! them (clippy's `disallowed-methods` forbids calling them anywhere else). They are
//! split so that the expensive one can be batched: [`TrustedIssuers::precheck`] (parse, issuer trusted —
//! cheap, rejects unknown issuers without any crypto), [`SignedToken::verify_signature`]
//! or [`verify_batch`] (Ed25519), then [`check_envelope`] and [`check_hash_with`] (time, URLs,
//! host id, id binding, body hash). Each failure is its own [`ClaimsError`] variant.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hash::{CallDigest, invocation_hash};
use crate::invocation::{Invocation, SignContext};
use crate::jwt::{self, JwtError};
use crate::keys::{ClusterKey, ClusterSeed, HostKey};
use crate::verify::{Rejection, RejectionKind};

pub use crate::jwt::HEADER_B64;

/// The `wascap_revision` every 0.82-era sender writes.
pub const WASCAP_REVISION: u32 = 3;

/// Why an invocation's claims were refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClaimsError {
    /// The token is not a well-formed wascap JWT (segments, base64, JSON, header).
    #[error("malformed claims: {0}")]
    Malformed(String),
    /// The claims carry no `wascap` object with the URLs and hash.
    #[error("malformed claims: no wascap metadata found on claims")]
    MissingWascap,
    /// The issuer (`iss`) is not one of the trusted cluster keys.
    #[error("unknown issuer: {issuer} is not among the trusted cluster issuers")]
    UnknownIssuer {
        /// The claimed issuer.
        issuer: String,
    },
    /// The Ed25519 signature does not verify against the issuer's key.
    #[error("bad signature: the claims signature does not verify against issuer {issuer}")]
    BadSignature {
        /// The claimed issuer.
        issuer: String,
    },
    /// `exp` is in the past.
    #[error("expired: claims expired at {exp}, now is {now}")]
    Expired {
        /// The claims' `exp`.
        exp: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// `nbf` is in the future.
    #[error("not yet valid: claims are valid from {nbf}, now is {now}")]
    NotYetValid {
        /// The claims' `nbf`.
        nbf: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// `iat` is further from the verifier's clock than the allowed age.
    #[error("stale: claims issued at {iat}, now is {now}, more than {max_age} s apart")]
    Stale {
        /// The claims' `iat`.
        iat: u64,
        /// The verifier's clock.
        now: u64,
        /// The allowed distance in seconds.
        max_age: u64,
    },
    /// The claims were made for another target (or operation).
    #[error("target mismatch: claims are for {claimed}, invocation targets {computed}")]
    TargetMismatch {
        /// The claims' `target_url`.
        claimed: String,
        /// The URL recomputed from the invocation.
        computed: String,
    },
    /// The claims were made for another origin.
    #[error("origin mismatch: claims are from {claimed}, invocation comes from {computed}")]
    OriginMismatch {
        /// The claims' `origin_url`.
        claimed: String,
        /// The URL recomputed from the invocation.
        computed: String,
    },
    /// The content (origin, target, operation or body) changed after signing.
    #[error("hash mismatch: claims say {claimed}, invocation hashes to {computed}")]
    HashMismatch {
        /// The claims' `hash`.
        claimed: String,
        /// The hash recomputed from the invocation.
        computed: String,
    },
    /// `host_id` is not a host (server) public key.
    #[error("bad host id: '{host_id}' is not a host public key (N…)")]
    BadHostId {
        /// The invocation's `host_id`.
        host_id: String,
    },
    /// The invocation `id` is not the claims' `sub` (the id was rewritten).
    #[error("id mismatch: invocation id '{id}' is not the claims subject '{sub}'")]
    IdMismatch {
        /// The invocation's `id`.
        id: String,
        /// The claims' `sub`.
        sub: String,
    },
    /// The same invocation id was already accepted within the replay window.
    #[error("replayed: invocation id '{id}' was already seen within the replay window")]
    Replayed {
        /// The repeated id.
        id: String,
    },
}

impl ClaimsError {
    /// A short machine-readable name for the failure (the monitor's alert `kind`).
    pub fn kind(&self) -> &'static str {
        self.rejection_kind().as_str()
    }

    /// The failure kind, typed.
    pub fn rejection_kind(&self) -> RejectionKind {
        match self {
            ClaimsError::Malformed(_) | ClaimsError::MissingWascap => RejectionKind::Malformed,
            ClaimsError::UnknownIssuer { .. } => RejectionKind::UnknownIssuer,
            ClaimsError::BadSignature { .. } => RejectionKind::BadSignature,
            ClaimsError::Expired { .. } => RejectionKind::Expired,
            ClaimsError::NotYetValid { .. } => RejectionKind::NotYetValid,
            ClaimsError::Stale { .. } => RejectionKind::Stale,
            ClaimsError::TargetMismatch { .. } => RejectionKind::TargetMismatch,
            ClaimsError::OriginMismatch { .. } => RejectionKind::OriginMismatch,
            ClaimsError::HashMismatch { .. } => RejectionKind::HashMismatch,
            ClaimsError::BadHostId { .. } => RejectionKind::BadHostId,
            ClaimsError::IdMismatch { .. } => RejectionKind::IdMismatch,
            ClaimsError::Replayed { .. } => RejectionKind::Replayed,
        }
    }
}

/// The `wascap` object of invocation claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WascapInvocation {
    /// `target.url() + "/" + operation`.
    pub target_url: String,
    /// `origin.url()`.
    pub origin_url: String,
    /// The invocation hash (hex upper SHA-256).
    pub hash: String,
}

/// The decoded claims of an invocation JWT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationClaims {
    /// Expiry (seconds since the epoch); 0.82 senders set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Unique token id.
    #[serde(default)]
    pub jti: String,
    /// Issued-at (seconds since the epoch).
    pub iat: u64,
    /// The issuing cluster key (`C…`).
    #[serde(default)]
    pub iss: String,
    /// The subject: the invocation id.
    #[serde(default)]
    pub sub: String,
    /// Not-before (seconds since the epoch); 0.82 senders set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The call's URLs and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wascap: Option<WascapInvocation>,
    /// Claims format revision (3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wascap_revision: Option<u32>,
}

/// Borrowed form of the claims for encoding without copies; same field order.
#[derive(Serialize)]
struct ClaimsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    jti: &'a str,
    iat: u64,
    iss: &'a str,
    sub: &'a str,
    wascap: WascapOut<'a>,
    wascap_revision: u32,
}

#[derive(Serialize)]
struct WascapOut<'a> {
    target_url: &'a str,
    origin_url: &'a str,
    hash: &'a str,
}

/// Encode and sign the claims of a call.
pub(crate) fn encode(seed: &ClusterSeed, ctx: &SignContext<'_>, digest: CallDigest) -> String {
    let claims = ClaimsOut {
        exp: ctx.expires,
        jti: ctx.jti,
        iat: ctx.now,
        iss: seed.public_key().as_str(),
        sub: &ctx.id,
        wascap: WascapOut { target_url: &digest.target_url, origin_url: &digest.origin_url, hash: &digest.hash },
        wascap_revision: WASCAP_REVISION,
    };
    // Serialising plain strings and integers to JSON cannot fail, nor can a seed sign.
    jwt::encode(&claims, |input| Ok::<_, std::convert::Infallible>(seed.sign(input).to_vec())).unwrap_or_default()
}

impl From<JwtError> for ClaimsError {
    fn from(e: JwtError) -> Self {
        ClaimsError::Malformed(e.to_string())
    }
}

fn parse_claims(segments: &jwt::Segments<'_>) -> Result<InvocationClaims, ClaimsError> {
    let claims: InvocationClaims = segments.claims()?;
    if claims.iss.is_empty() {
        return Err(ClaimsError::Malformed("claims have no issuer (iss)".into()));
    }
    if claims.sub.is_empty() {
        return Err(ClaimsError::Malformed("claims have no subject (sub)".into()));
    }
    Ok(claims)
}

/// Decode a token's claims without checking anything but its shape.
pub fn decode_unverified(token: &str) -> Result<InvocationClaims, ClaimsError> {
    let segments = jwt::split(token)?;
    segments.check_header()?;
    parse_claims(&segments)
}

/// What a verifier checks beyond the signature.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// The verifier's clock, seconds since the Unix epoch (for `exp`, `nbf`, `iat`).
    pub now: u64,
    /// Reject claims whose `iat` is more than this many seconds from `now` (the
    /// replay window, PROTOCOL.md §11.5). `None` skips the age check (offline use).
    pub max_age: Option<u64>,
}

impl VerifyOptions {
    /// Check at `now`, without an age limit.
    pub fn at(now: u64) -> Self {
        Self { now, max_age: None }
    }
}

/// A parsed token from a trusted issuer whose signature is still to be checked.
#[derive(Debug)]
pub struct SignedToken<'a> {
    signed_input: &'a [u8],
    signature: Signature,
    key: VerifyingKey,
    claims: InvocationClaims,
}

impl SignedToken<'_> {
    /// The claims (not yet trustworthy until the signature verified).
    pub fn claims(&self) -> &InvocationClaims {
        &self.claims
    }

    /// Verify the Ed25519 signature (the same equation as nkeys/wascap, so exactly the
    /// signatures 0.82 accepts are accepted).
    pub fn verify_signature(&self) -> Result<(), ClaimsError> {
        self.key
            .verify(self.signed_input, &self.signature)
            .map_err(|_| ClaimsError::BadSignature { issuer: self.claims.iss.clone() })
    }

    /// The verified claims (call after the signature checked out).
    pub fn into_claims(self) -> InvocationClaims {
        self.claims
    }
}

/// Verify many signatures at once (faster than one by one: signatures by the same key —
/// on a lattice, the cluster key — share one term of the batch equation, see
/// [`crate::batch`]). Returns `true` when all verify; on `false`, check each with
/// [`SignedToken::verify_signature`] to find the bad ones.
pub fn verify_batch(tokens: &[SignedToken<'_>]) -> bool {
    match tokens {
        [] => true,
        [one] => one.key.verify(one.signed_input, &one.signature).is_ok(),
        many => {
            let items: Vec<crate::batch::Item<'_>> = many
                .iter()
                .map(|t| crate::batch::Item { message: t.signed_input, signature: &t.signature, key: &t.key })
                .collect();
            crate::batch::verify(&items)
        }
    }
}

/// The set of cluster public keys whose claims a receiver accepts.
///
/// The Ed25519 keys are decoded once, here, not per call.
#[derive(Clone, Debug, Default)]
pub struct TrustedIssuers {
    // Shared: every server and verifier of a process holds the same set, cloned cheaply.
    keys: Arc<HashMap<String, VerifyingKey>>,
}

impl TrustedIssuers {
    /// Trust the given cluster keys.
    pub fn new<'a>(issuers: impl IntoIterator<Item = &'a ClusterKey>) -> Self {
        let mut keys = HashMap::new();
        for k in issuers {
            // A ClusterKey was validated on construction, so this decodes; skip defensively.
            if let Ok((_, raw)) = nkeys::from_public_key(k.as_str())
                && let Ok(vk) = VerifyingKey::from_bytes(&raw)
            {
                keys.insert(k.as_str().to_owned(), vk);
            }
        }
        Self { keys: Arc::new(keys) }
    }

    /// Whether `issuer` is trusted.
    pub fn contains(&self, issuer: &str) -> bool {
        self.keys.contains_key(issuer)
    }

    /// Number of trusted issuers.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no issuer is trusted (then nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted keys, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Phase 1: parse the token and check that its issuer is trusted. No crypto yet.
    pub fn precheck<'a>(&self, token: &'a str) -> Result<SignedToken<'a>, ClaimsError> {
        let segments = jwt::split(token)?;
        segments.check_header()?;
        let claims = parse_claims(&segments)?;
        let key =
            *self.keys.get(&claims.iss).ok_or_else(|| ClaimsError::UnknownIssuer { issuer: claims.iss.clone() })?;
        let sig = segments.signature()?;
        let signed_input = segments.signed_input();
        Ok(SignedToken { signed_input, signature: Signature::from_bytes(&sig), key, claims })
    }

    /// Verify an invocation's claims as a receiver does (everything but replay and the
    /// addressee): shape, trusted issuer, signature, time, target and origin URLs, body
    /// hash, host id, and that the id is the claims' subject. The sequence is
    /// [`crate::verify`]'s; this is its offline entry point over the inline `msg`.
    pub fn verify(&self, inv: &Invocation, opts: &VerifyOptions) -> Result<InvocationClaims, ClaimsError> {
        match crate::verify::verify_inline(self, inv, opts) {
            Ok(claims) => Ok(claims),
            Err(Rejection::Claims(e)) => Err(e),
            Err(other) => Err(ClaimsError::Malformed(other.to_string())),
        }
    }
}

/// The origin and target URLs recomputed from an invocation (by [`check_envelope`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallUrls {
    /// `origin.url()`.
    pub origin_url: String,
    /// `target.url() + "/" + operation`.
    pub target_url: String,
}

/// Phase 3a: time claims, URLs, host id and id binding (everything but the body hash).
/// Returns the recomputed URLs so that the hash check need not build them again.
pub fn check_envelope(
    claims: &InvocationClaims,
    inv: &Invocation,
    opts: &VerifyOptions,
) -> Result<CallUrls, ClaimsError> {
    let now = opts.now;
    if let Some(exp) = claims.exp
        && exp < now
    {
        return Err(ClaimsError::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf
        && now < nbf
    {
        return Err(ClaimsError::NotYetValid { nbf, now });
    }
    if let Some(max_age) = opts.max_age
        && claims.iat.abs_diff(now) > max_age
    {
        return Err(ClaimsError::Stale { iat: claims.iat, now, max_age });
    }
    let wascap = claims.wascap.as_ref().ok_or(ClaimsError::MissingWascap)?;
    let target_url = inv.target.target_url(&inv.operation);
    if wascap.target_url != target_url {
        return Err(ClaimsError::TargetMismatch { claimed: wascap.target_url.clone(), computed: target_url });
    }
    let origin_url = inv.origin.url();
    if wascap.origin_url != origin_url {
        return Err(ClaimsError::OriginMismatch { claimed: wascap.origin_url.clone(), computed: origin_url });
    }
    if HostKey::parse(&inv.host_id).is_err() {
        return Err(ClaimsError::BadHostId { host_id: inv.host_id.clone() });
    }
    if claims.sub != inv.id {
        return Err(ClaimsError::IdMismatch { id: inv.id.clone(), sub: claims.sub.clone() });
    }
    Ok(CallUrls { origin_url, target_url })
}

/// Phase 3b: the hash over the full body (after de-chunking), always checked — also
/// for an empty body (PROTOCOL.md §11.1), with the URLs [`check_envelope`] computed.
pub fn check_hash_with(
    claims: &InvocationClaims,
    urls: &CallUrls,
    operation: &str,
    body: &[u8],
) -> Result<(), ClaimsError> {
    let wascap = claims.wascap.as_ref().ok_or(ClaimsError::MissingWascap)?;
    let computed = invocation_hash(&urls.origin_url, &urls.target_url, operation, body);
    if wascap.hash != computed {
        return Err(ClaimsError::HashMismatch { claimed: wascap.hash.clone(), computed });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use data_encoding::BASE64URL_NOPAD;

    use super::*;

    #[test]
    fn split_counts_segments_like_wascap() {
        let e = ClaimsError::from(jwt::split("abc").unwrap_err());
        assert_eq!(e, ClaimsError::Malformed("invalid token format, expected 3 segments, found 1".into()));
    }

    #[test]
    fn header_must_be_wascap() {
        let header = |h: &[u8]| format!("{}.e30.AA", BASE64URL_NOPAD.encode(h));
        let nats = header(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        assert!(jwt::split(&nats).unwrap().check_header().is_err());
        let reordered = header(br#"{"alg":"Ed25519","typ":"jwt"}"#);
        assert!(jwt::split(&reordered).unwrap().check_header().is_ok());
    }
}
