//! The one verification sequence of an invocation, as pure functions (time passed in).
//!
//! Every receiver (the RPC server of `lattice-rpc`, hence hosts and providers), the
//! monitor and `lattice bench` verify invocations through this module and nowhere else:
//! clippy's `disallowed-methods` (clippy.toml) forbids calling the signature, envelope and
//! hash checks of [`crate::claims`] anywhere but here, so two copies of the security
//! policy cannot drift apart again. The order, cheap first, crypto batched, body last:
//!
//! 1. [`Verifier::check_batch`] for invocations that arrived together, each with its
//!    [`Addressee`] (the entity a server serves, or the subject a monitor saw it on):
//!    the chunking rule (PROTOCOL.md §11.11: `content_length` equals `msg.len()`, or `msg`
//!    is empty and `content_length` is above [`CHUNK_THRESHOLD_BYTES`]; anything else is
//!    malformed), the JWT's shape and trusted issuer (no crypto), the addressee (§11.6),
//!    every signature in one same-key Ed25519 batch (one by one only when the batch
//!    fails, to find the bad ones), then time claims, URLs, host id and `id` = `sub`
//!    (§11.9). The result is a [`Checked`] or a typed [`Rejection`].
//! 2. Before fetching a chunked body from the object store, a receiver asks the
//!    [`Checked`] two read-only questions: [`Checked::replay_seen`] (is the id already in
//!    the replay window?) and [`Checked::check_size`] (is `content_length` within its
//!    maximum body size?). Forged or replayed invocations so cost no object-store round
//!    trip and no memory.
//! 3. [`finish`] (or its two halves [`Checked::check_body`] and [`BodyChecked::record`]):
//!    the hash over the full body, always (§11.1), then the replay window (§11.5), last,
//!    so that only invocations that passed every other check are remembered: a forged
//!    copy can never make the genuine call look like a replay.
//!
//! Batch verification accepts exactly the signatures single verification accepts, except
//! for deliberately malformed ones (small-order components) that only a holder of the
//! cluster seed could produce; such a holder can sign anything anyway.

// The only place allowed to call the check functions (see clippy.toml).
#![allow(clippy::disallowed_methods, reason = "lattice_proto::verify is the one place verification happens")]

use std::fmt;

use thiserror::Error;

use crate::chunk::CHUNK_THRESHOLD_BYTES;
use crate::claims::{self, CallUrls, ClaimsError, InvocationClaims, SignedToken, TrustedIssuers, VerifyOptions};
use crate::error::DecodeError;
use crate::replay::ReplayWindow;
use crate::subject::{self, RpcSubject};
use crate::{Invocation, WasmCloudEntity};

/// The machine-readable name of a refusal: the `kind` in a server's
/// `invocation rejected [kind]: …` answer and the monitor's alert `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// Not a well-formed invocation (msgpack, JWT shape, `content_length`).
    Malformed,
    /// The claims' issuer is not a trusted cluster key.
    UnknownIssuer,
    /// The claims' signature does not verify.
    BadSignature,
    /// `exp` is in the past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is outside the window.
    Stale,
    /// The invocation is not for the receiver, or the claims are for another target.
    TargetMismatch,
    /// The claims are for another origin.
    OriginMismatch,
    /// The content changed after signing.
    HashMismatch,
    /// `host_id` is not a host key.
    BadHostId,
    /// `id` is not the claims' `sub`.
    IdMismatch,
    /// The id was already accepted within the window.
    Replayed,
    /// The body is larger than the receiver accepts.
    TooLarge,
    /// A provider refused an actor that is not linked to it (not a claims check; the
    /// provider SDK answers with it).
    NotLinked,
}

impl RejectionKind {
    /// Every kind.
    pub const ALL: [RejectionKind; 14] = [
        RejectionKind::Malformed,
        RejectionKind::UnknownIssuer,
        RejectionKind::BadSignature,
        RejectionKind::Expired,
        RejectionKind::NotYetValid,
        RejectionKind::Stale,
        RejectionKind::TargetMismatch,
        RejectionKind::OriginMismatch,
        RejectionKind::HashMismatch,
        RejectionKind::BadHostId,
        RejectionKind::IdMismatch,
        RejectionKind::Replayed,
        RejectionKind::TooLarge,
        RejectionKind::NotLinked,
    ];

    /// The wire name (`bad_signature`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionKind::Malformed => "malformed",
            RejectionKind::UnknownIssuer => "unknown_issuer",
            RejectionKind::BadSignature => "bad_signature",
            RejectionKind::Expired => "expired",
            RejectionKind::NotYetValid => "not_yet_valid",
            RejectionKind::Stale => "stale",
            RejectionKind::TargetMismatch => "target_mismatch",
            RejectionKind::OriginMismatch => "origin_mismatch",
            RejectionKind::HashMismatch => "hash_mismatch",
            RejectionKind::BadHostId => "bad_host_id",
            RejectionKind::IdMismatch => "id_mismatch",
            RejectionKind::Replayed => "replayed",
            RejectionKind::TooLarge => "too_large",
            RejectionKind::NotLinked => "not_linked",
        }
    }

    /// The kind named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for RejectionKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RejectionKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why an invocation was refused before dispatch (or, by the monitor, reported).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The payload is not an invocation.
    #[error(transparent)]
    Undecodable(#[from] DecodeError),
    /// `content_length` does not fit `msg` (PROTOCOL.md §11.11).
    #[error(
        "malformed invocation: content_length {content_length} does not fit a msg of {inline} bytes \
         (inline: equal; chunked: msg empty and content_length above {CHUNK_THRESHOLD_BYTES})"
    )]
    BadContentLength {
        /// The invocation's `content_length`.
        content_length: u64,
        /// The inline `msg` length.
        inline: usize,
    },
    /// A claims check failed.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// The invocation is for another entity than the one it was addressed to (§11.6).
    #[error("target mismatch: the invocation targets {target}, {addressee}")]
    Misaddressed {
        /// The invocation's target, described.
        target: String,
        /// Who it reached: `this server serves …` or `the subject it was published on is …`.
        addressee: String,
    },
    /// The body is larger than the receiver accepts.
    #[error("too large: the body is {content_length} bytes, this receiver accepts at most {max}")]
    TooLarge {
        /// The invocation's `content_length`.
        content_length: u64,
        /// The receiver's limit.
        max: u64,
    },
    /// An inline invocation was finished without its body (a caller's mistake: only a
    /// chunked body may be [`Body::Unavailable`]).
    #[error("malformed invocation: the body of an inline invocation was not given to the verifier")]
    BodyNotGiven,
}

impl Rejection {
    /// The failure kind.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::Undecodable(_) | Rejection::BadContentLength { .. } | Rejection::BodyNotGiven => {
                RejectionKind::Malformed
            }
            Rejection::Claims(e) => e.rejection_kind(),
            Rejection::Misaddressed { .. } => RejectionKind::TargetMismatch,
            Rejection::TooLarge { .. } => RejectionKind::TooLarge,
        }
    }
}

/// Who an invocation reached, which its target must name (PROTOCOL.md §11.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressee<'a> {
    /// A server serving this entity: its key, its link name (empty for an actor) and,
    /// when known, its contract id.
    Entity {
        /// The served public key.
        key: &'a str,
        /// The served link name (empty for an actor).
        link: &'a str,
        /// The contract id, when the server knows it.
        contract: Option<&'a str>,
    },
    /// The RPC subject the invocation was published on (the monitor's view).
    Subject(&'a str),
    /// Nobody in particular: offline verification (`lattice inspect`, tests).
    Anyone,
}

impl Addressee<'_> {
    fn check(&self, target: &WasmCloudEntity) -> Result<(), Rejection> {
        let ok = match *self {
            Addressee::Anyone => true,
            Addressee::Entity { key, link, contract } => {
                target.public_key == key && target.link_name == link && contract.is_none_or(|c| c == target.contract_id)
            }
            Addressee::Subject(s) => match subject::parse(s) {
                RpcSubject::Actor { actor, .. } => target.public_key == actor && target.link_name.is_empty(),
                RpcSubject::Provider { provider, link, .. } => {
                    target.public_key == provider && target.link_name == link
                }
                RpcSubject::ProviderControl { .. } | RpcSubject::Other => false,
            },
        };
        if ok {
            return Ok(());
        }
        let addressee = match *self {
            Addressee::Entity { key, link, contract } => {
                format!("this server serves {}", describe(key, link, contract.unwrap_or_default()))
            }
            Addressee::Subject(s) => format!("the subject it was published on is {s}"),
            Addressee::Anyone => String::new(),
        };
        let target = describe(&target.public_key, &target.link_name, &target.contract_id);
        Err(Rejection::Misaddressed { target, addressee })
    }
}

fn describe(key: &str, link: &str, contract: &str) -> String {
    if link.is_empty() && contract.is_empty() {
        key.to_owned()
    } else {
        format!("{key} (link '{link}', contract '{contract}')")
    }
}

/// Whether an invocation's body is in the object store (PROTOCOL.md §11.11): `Ok(true)`
/// chunked, `Ok(false)` inline, or malformed.
pub fn chunking(inv: &Invocation) -> Result<bool, Rejection> {
    if inv.content_length == inv.msg.len() as u64 {
        return Ok(false);
    }
    if inv.msg.is_empty() && inv.content_length > CHUNK_THRESHOLD_BYTES as u64 {
        return Ok(true);
    }
    Err(Rejection::BadContentLength { content_length: inv.content_length, inline: inv.msg.len() })
}

/// The verification policy of one receiver: whose claims it trusts and how old they may
/// be. Holds no clock and no replay memory: both are arguments.
#[derive(Clone, Debug)]
pub struct Verifier {
    issuers: TrustedIssuers,
    max_age: Option<u64>,
}

impl Verifier {
    /// Trust `issuers`; refuse claims whose `iat` is more than `max_age` seconds from the
    /// clock (the replay window's length; `None`: no age limit, for offline use).
    pub fn new(issuers: TrustedIssuers, max_age: Option<u64>) -> Self {
        Self { issuers, max_age }
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> &TrustedIssuers {
        &self.issuers
    }

    /// The age limit in seconds.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }

    /// Step 1 for invocations that arrived together, each with who it reached: everything
    /// but the body hash and the replay window. One verdict per invocation, in order.
    pub fn check_batch(&self, items: &[(&Invocation, Addressee<'_>)], now: u64) -> Vec<Result<Checked, Rejection>> {
        check_items(&self.issuers, self.max_age, items, now, ChunkRule::Apply)
    }

    /// [`Verifier::check_batch`] for one invocation.
    pub fn check(&self, inv: &Invocation, to: Addressee<'_>, now: u64) -> Result<Checked, Rejection> {
        single(check_items(&self.issuers, self.max_age, &[(inv, to)], now, ChunkRule::Apply))
    }
}

/// Whether step 1 applies the chunking rule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChunkRule {
    /// A receiver or the monitor: `content_length` must fit `msg` (§11.11).
    Apply,
    /// Offline verification of the inline `msg` as given ([`TrustedIssuers::verify`]).
    InlineOnly,
}

fn single(mut verdicts: Vec<Result<Checked, Rejection>>) -> Result<Checked, Rejection> {
    verdicts.pop().unwrap_or(Err(Rejection::BodyNotGiven))
}

/// The sequence of step 1 (see the module docs).
fn check_items(
    issuers: &TrustedIssuers,
    max_age: Option<u64>,
    items: &[(&Invocation, Addressee<'_>)],
    now: u64,
    rule: ChunkRule,
) -> Vec<Result<Checked, Rejection>> {
    let opts = VerifyOptions { now, max_age };
    let mut verdicts: Vec<Result<bool, Rejection>> = Vec::with_capacity(items.len());
    let mut tokens: Vec<SignedToken<'_>> = Vec::with_capacity(items.len());
    for (inv, to) in items {
        let shape = match rule {
            ChunkRule::Apply => chunking(inv),
            ChunkRule::InlineOnly => Ok(false),
        };
        verdicts.push(shape.and_then(|chunked| {
            let token = issuers.precheck(&inv.encoded_claims)?;
            to.check(&inv.target)?;
            tokens.push(token);
            Ok(chunked)
        }));
    }
    let all_good = claims::verify_batch(&tokens);
    let mut tokens = tokens.into_iter();
    items
        .iter()
        .zip(verdicts)
        .map(|((inv, _), verdict)| {
            let chunked = verdict?;
            // One token per item whose verdict is still Ok, in order.
            let token = tokens.next().ok_or(Rejection::BodyNotGiven)?;
            if !all_good {
                token.verify_signature()?;
            }
            let claims = token.into_claims();
            let urls = claims::check_envelope(&claims, inv, &opts)?;
            Ok(Checked { claims, urls, operation: inv.operation.clone(), content_length: inv.content_length, chunked })
        })
        .collect()
}

/// Offline verification over the inline `msg` as given, without the chunking rule, the
/// addressee or a replay window: [`TrustedIssuers::verify`] (`lattice inspect`, tests).
pub(crate) fn verify_inline(
    issuers: &TrustedIssuers,
    inv: &Invocation,
    opts: &VerifyOptions,
) -> Result<InvocationClaims, Rejection> {
    let checked =
        single(check_items(issuers, opts.max_age, &[(inv, Addressee::Anyone)], opts.now, ChunkRule::InlineOnly))?;
    finish(checked, Body::Full(&inv.msg), None, opts.now)
}

/// The body handed to [`finish`].
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// The full body: `msg`, or the chunked body fetched from the object store.
    Full(&'a [u8]),
    /// A chunked body this verifier cannot read (the monitor: the receiver fetches and
    /// deletes it). The hash is then not checked here; the receiver checks it.
    Unavailable,
}

/// An invocation that passed step 1: its verified claims and recomputed URLs.
#[derive(Clone, Debug)]
pub struct Checked {
    claims: InvocationClaims,
    urls: CallUrls,
    operation: String,
    content_length: u64,
    chunked: bool,
}

impl Checked {
    /// The verified claims.
    pub fn claims(&self) -> &InvocationClaims {
        &self.claims
    }

    /// The invocation id (the claims' `sub`, checked equal to the invocation's `id`).
    pub fn id(&self) -> &str {
        &self.claims.sub
    }

    /// Whether the body is in the object store (the §11.11 rule).
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// The full body's length.
    pub fn content_length(&self) -> u64 {
        self.content_length
    }

    /// Read-only replay lookup, before any fetch: refuse an id the window already holds
    /// (or claims outside the window's age). Records nothing; [`BodyChecked::record`] does.
    pub fn replay_seen(&self, replay: &ReplayWindow, now: u64) -> Result<(), Rejection> {
        Ok(replay.check(self.id(), self.claims.iat, now)?)
    }

    /// The maximum body size, before any fetch: refuse a `content_length` above `max`.
    pub fn check_size(&self, max: u64) -> Result<(), Rejection> {
        if self.content_length > max {
            return Err(Rejection::TooLarge { content_length: self.content_length, max });
        }
        Ok(())
    }

    /// Step 3a: the hash over the full body (always, also when empty: §11.1).
    pub fn check_body(self, body: Body<'_>) -> Result<BodyChecked, Rejection> {
        match body {
            Body::Full(body) => claims::check_hash_with(&self.claims, &self.urls, &self.operation, body)?,
            Body::Unavailable if self.chunked => {}
            Body::Unavailable => return Err(Rejection::BodyNotGiven),
        }
        Ok(BodyChecked { claims: self.claims })
    }
}

/// An invocation whose every check but the replay window passed.
#[derive(Clone, Debug)]
pub struct BodyChecked {
    claims: InvocationClaims,
}

impl BodyChecked {
    /// Step 3b: the replay window (when the receiver keeps one), which records the id.
    pub fn record(self, replay: Option<&mut ReplayWindow>, now: u64) -> Result<InvocationClaims, Rejection> {
        if let Some(replay) = replay {
            replay.check_and_record(&self.claims.sub, self.claims.iat, now)?;
        }
        Ok(self.claims)
    }
}

/// Step 3: the body hash, then the replay window. Returns the verified claims.
pub fn finish(
    checked: Checked,
    body: Body<'_>,
    replay: Option<&mut ReplayWindow>,
    now: u64,
) -> Result<InvocationClaims, Rejection> {
    checked.check_body(body)?.record(replay, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_names() {
        for k in RejectionKind::ALL {
            assert_eq!(RejectionKind::parse(k.as_str()), Some(k));
            assert_eq!(k, k.as_str());
        }
        assert_eq!(RejectionKind::parse("nope"), None);
    }

    #[test]
    fn one_chunking_rule() {
        let mut inv = Invocation { msg: vec![1; 10], content_length: 10, ..Default::default() };
        assert_eq!(chunking(&inv), Ok(false));
        inv.content_length = 11;
        assert!(matches!(chunking(&inv), Err(Rejection::BadContentLength { .. })));
        inv.content_length = 9;
        assert!(chunking(&inv).is_err());
        inv.msg.clear();
        inv.content_length = CHUNK_THRESHOLD_BYTES as u64;
        assert!(chunking(&inv).is_err());
        inv.content_length += 1;
        assert_eq!(chunking(&inv), Ok(true));
        inv.content_length = 0;
        assert_eq!(chunking(&inv), Ok(false));
    }
}
