//! Module claims: the signed wascap JWT embedded in an actor's wasm module.
//!
//! Byte-compatible with wascap 0.12 (the version wasmCloud 0.82 locks; HOST.md §2), so
//! modules signed by `wash`/wascap load here and modules signed here (`lattice claims
//! sign`) load on a 0.82 host:
//!
//! - The JWT lives in a custom section named [`SECTION_NAME`] (`wasmcloud_jwt`), appended at
//!   the end of the module. The pre-0.9 name [`LEGACY_SECTION_NAME`] (`jwt`) is read and
//!   stripped too.
//! - The module hash ([`module_hash`]) is SHA-256, uppercase hex, over the module *re-encoded*
//!   without those sections: the 8-byte header, then every other section re-emitted with a
//!   minimal LEB128 size (other custom sections such as `name` are kept).
//! - Modules signed before claims revision 3 (wascap < 0.10.1) carry the *legacy* hash
//!   ([`legacy_module_hash`]): the module's own bytes with the claims sections cut out,
//!   nothing re-encoded. wascap 0.12 skips the hash check for them; Lattice checks it with
//!   both algorithms ([`check_module_hash`], [`HashAlgorithm`]) and refuses a module that
//!   matches neither, so a modified legacy module is still refused.
//! - The JWT is `B64URL(header).B64URL(claims).B64URL(sig)` with the header
//!   `{"typ":"jwt","alg":"Ed25519"}`, the claims JSON in wascap's field order
//!   ([`ActorClaims`], [`ActorMetadata`]) and an Ed25519 signature by the issuer (an account
//!   key, `A…`) over `header.claims`.
//!
//! [`extract`] mirrors wascap's `extract_claims` (decode, check the hash, no signature
//! check), except that it checks the hash for every revision. A host uses [`verify`], which is stricter:
//! a claims section must exist, the issuer must be an account key and the subject a module
//! key, the signature must verify, the hash must match whatever the revision, and `exp` /
//! `nbf` must hold at `now`. Every refusal is its own [`ModuleClaimsError`] variant.
//!
//! Only core wasm modules are handled (components are refused with
//! [`ModuleClaimsError::NotAModule`]): Lattice runs core-wasm actors only.

use std::sync::Arc;

use data_encoding::HEXUPPER;
use lattice_proto::jwt::{self as envelope, JwtError};
use lattice_proto::{AccountKey, ActorKey};
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The custom section wascap ≥ 0.9 writes the JWT into.
pub const SECTION_NAME: &str = "wasmcloud_jwt";
/// The custom section wascap < 0.9 used; still read and stripped.
pub const LEGACY_SECTION_NAME: &str = "jwt";
/// The `wascap_revision` written into new claims.
pub const WASCAP_REVISION: u32 = 3;
/// From this `wascap_revision` on, wascap checks the module hash in `extract_claims`, and
/// only the current hash algorithm is accepted ([`HashAlgorithm`]).
pub const MIN_HASHED_REVISION: u32 = 3;

const WASM_MAGIC: [u8; 4] = *b"\0asm";
const MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const SECS_PER_DAY: u64 = 86_400;

/// Why a module's claims could not be read, made or accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModuleClaimsError {
    /// The bytes are not a core wasm module (bad magic, or a component).
    #[error("not a core wasm module: {0}")]
    NotAModule(String),
    /// The module's section structure is malformed.
    #[error("malformed wasm module at byte {offset}: {reason}")]
    MalformedWasm {
        /// Where the problem was found.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The module carries no claims section: it was never signed.
    #[error("unsigned module: no `wasmcloud_jwt` claims section found (sign it with `lattice claims sign`)")]
    Unsigned,
    /// The JWT is not well-formed (segments, base64, UTF-8, JSON, header).
    #[error("malformed module claims: {0}")]
    MalformedJwt(String),
    /// The claims have no `wascap` actor metadata.
    #[error("malformed module claims: no wascap metadata found on claims")]
    MissingMetadata,
    /// The module was changed after it was signed.
    #[error(
        "module hash mismatch: claims say {claimed}, module hashes to {computed} (the module was modified after signing)"
    )]
    HashMismatch {
        /// The hash in the claims.
        claimed: String,
        /// The hash of the module as it is.
        computed: String,
    },
    /// The issuer is not an account public key.
    #[error("bad issuer '{issuer}': {reason}")]
    BadIssuer {
        /// The claimed issuer.
        issuer: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The subject is not a module (actor) public key.
    #[error("bad subject '{subject}': {reason}")]
    BadSubject {
        /// The claimed subject.
        subject: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The signature does not verify against the issuer's key.
    #[error("bad signature: the module claims signature does not verify against issuer {issuer}")]
    BadSignature {
        /// The claimed issuer.
        issuer: String,
    },
    /// `exp` is in the past.
    #[error("expired: module claims expired at {exp}, now is {now}")]
    Expired {
        /// The claims' `exp` (seconds since the epoch).
        exp: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// `nbf` is in the future.
    #[error("not yet valid: module claims are valid from {nbf}, now is {now}")]
    NotYetValid {
        /// The claims' `nbf` (seconds since the epoch).
        nbf: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// A signing key is of the wrong kind or has no seed.
    #[error("cannot sign: {0}")]
    Signing(String),
}

impl ModuleClaimsError {
    /// A short machine-readable name of the failure (for `--json` output and events).
    pub fn kind(&self) -> &'static str {
        match self {
            ModuleClaimsError::NotAModule(_) | ModuleClaimsError::MalformedWasm { .. } => "malformed_wasm",
            ModuleClaimsError::Unsigned => "unsigned",
            ModuleClaimsError::MalformedJwt(_) | ModuleClaimsError::MissingMetadata => "malformed",
            ModuleClaimsError::HashMismatch { .. } => "hash_mismatch",
            ModuleClaimsError::BadIssuer { .. } => "bad_issuer",
            ModuleClaimsError::BadSubject { .. } => "bad_subject",
            ModuleClaimsError::BadSignature { .. } => "bad_signature",
            ModuleClaimsError::Expired { .. } => "expired",
            ModuleClaimsError::NotYetValid { .. } => "not_yet_valid",
            ModuleClaimsError::Signing(_) => "signing",
        }
    }
}

/// The `wascap` object of actor claims (wascap 0.12 `jwt::Actor`), fields in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorMetadata {
    /// A descriptive name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The module hash ([`module_hash`]) at signing time.
    pub hash: String,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Capability contract ids the actor may use (`wasmcloud:httpserver`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    /// Monotonic revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<i32>,
    /// Human-readable version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Alias other actors may call this one by (normalised, see [`normalize_call_alias`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_alias: Option<String>,
    /// Whether the module is a capability provider (always false for actors).
    #[serde(default)]
    pub prov: bool,
}

/// The claims of an actor module JWT (wascap 0.12 `Claims<Actor>`), fields in wire order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaims {
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Unique token id.
    pub jti: String,
    /// Issued-at, seconds since the epoch.
    pub iat: u64,
    /// The signing account (`A…`).
    pub iss: String,
    /// The actor's module key (`M…`).
    pub sub: String,
    /// Not-before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The actor metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wascap: Option<ActorMetadata>,
    /// Claims format revision ([`WASCAP_REVISION`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wascap_revision: Option<u32>,
}

/// A JWT as found in a module, with its decoded claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The JWT text.
    pub jwt: String,
    /// Its decoded claims (not yet verified unless obtained from [`verify`]).
    pub claims: ActorClaims,
}

/// Claims that passed [`verify`]: typed keys and the metadata, ready for a host to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedClaims {
    actor: ActorKey,
    issuer: AccountKey,
    metadata: ActorMetadata,
    token: Token,
    hash_algorithm: HashAlgorithm,
}

impl VerifiedClaims {
    /// Which module-hash algorithm the module matched ([`HashAlgorithm::Legacy`] only for
    /// claims revision < 3).
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash_algorithm
    }
    /// The actor's public key (`sub`).
    pub fn actor(&self) -> &ActorKey {
        &self.actor
    }
    /// The signing account (`iss`).
    pub fn issuer(&self) -> &AccountKey {
        &self.issuer
    }
    /// The `wascap` metadata.
    pub fn metadata(&self) -> &ActorMetadata {
        &self.metadata
    }
    /// The JWT and all of its claims.
    pub fn token(&self) -> &Token {
        &self.token
    }
    /// The actor's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref()
    }
    /// The actor's call alias, if it has one.
    pub fn call_alias(&self) -> Option<&str> {
        self.metadata.call_alias.as_deref()
    }
    /// The capability contract ids the actor was granted.
    pub fn caps(&self) -> &[String] {
        self.metadata.caps.as_deref().unwrap_or_default()
    }
    /// Whether the claims grant `contract_id`.
    pub fn has_cap(&self, contract_id: &str) -> bool {
        self.caps().iter().any(|c| c == contract_id)
    }
}

/// What to put in the claims when signing a module (the arguments of wascap's
/// `sign_buffer_with_claims`, with absolute times instead of days from now).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignOptions {
    /// The actor's name.
    pub name: String,
    /// Capability contract ids to grant.
    pub caps: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Revision.
    pub rev: Option<i32>,
    /// Version string.
    pub ver: Option<String>,
    /// Call alias (normalised as wascap does).
    pub call_alias: Option<String>,
    /// Absolute expiry, seconds since the epoch.
    pub expires: Option<u64>,
    /// Absolute not-before, seconds since the epoch.
    pub not_before: Option<u64>,
}

impl SignOptions {
    /// `now + days` in seconds, as wascap's `days_from_now_to_jwt_time`.
    pub fn days_from(now: u64, days: u64) -> u64 {
        now.saturating_add(days.saturating_mul(SECS_PER_DAY))
    }
}

/// One pass over a module: the module re-encoded without claims sections, and the first
/// top-level claims section's contents.
struct Stripped<'a> {
    module: Vec<u8>,
    jwt_section: Option<&'a [u8]>,
    /// Where the claims sections sit in the original bytes (id byte to end of body), for
    /// the legacy hash ([`legacy_hash`]).
    claims_ranges: Vec<std::ops::Range<usize>>,
}

/// Read an unsigned LEB128 `u32` at `*pos`, as wasmparser's `read_var_u32`.
fn read_var_u32(bytes: &[u8], pos: &mut usize) -> Result<u32, ModuleClaimsError> {
    let start = *pos;
    let mut result: u32 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(*pos).ok_or_else(|| ModuleClaimsError::MalformedWasm {
            offset: *pos,
            reason: "unexpected end of module while reading a LEB128 integer".into(),
        })?;
        *pos += 1;
        if shift == 28 && (byte & 0x70) != 0 {
            return Err(ModuleClaimsError::MalformedWasm {
                offset: start,
                reason: "LEB128 integer too large for u32".into(),
            });
        }
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
        shift += 7;
        if shift > 28 {
            return Err(ModuleClaimsError::MalformedWasm {
                offset: start,
                reason: "LEB128 integer longer than 5 bytes".into(),
            });
        }
    }
}

/// Append `n` as a minimal unsigned LEB128.
fn write_var_u32(out: &mut Vec<u8>, mut n: u32) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn is_claims_section(name: &[u8]) -> bool {
    name == SECTION_NAME.as_bytes() || name == LEGACY_SECTION_NAME.as_bytes()
}

/// Re-encode `wasm` without its claims sections (wascap's `strip_custom_section`).
fn strip(wasm: &[u8]) -> Result<Stripped<'_>, ModuleClaimsError> {
    let header = wasm.get(..8).ok_or_else(|| ModuleClaimsError::NotAModule("shorter than the 8-byte header".into()))?;
    if header[..4] != WASM_MAGIC {
        return Err(ModuleClaimsError::NotAModule("missing the `\\0asm` magic number".into()));
    }
    if header[4..] != MODULE_VERSION {
        return Err(ModuleClaimsError::NotAModule(
            "unsupported version or a component (only core wasm modules are actors)".into(),
        ));
    }
    let mut out = Vec::with_capacity(wasm.len());
    out.extend_from_slice(header);
    let mut jwt_section = None;
    let mut claims_ranges = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let section_start = pos;
        let id = wasm[pos];
        pos += 1;
        // Core module section ids: 0 (custom) to 13 (tag), as wasmparser accepts them.
        if id > 13 {
            return Err(ModuleClaimsError::MalformedWasm {
                offset: section_start,
                reason: format!("unknown section id {id}"),
            });
        }
        let size = read_var_u32(wasm, &mut pos)? as usize;
        let body_start = pos;
        let body = pos.checked_add(size).and_then(|end| wasm.get(body_start..end)).ok_or_else(|| {
            ModuleClaimsError::MalformedWasm {
                offset: section_start,
                reason: format!("section {id} of {size} bytes runs past the end of the module"),
            }
        })?;
        pos = body_start + size;
        if id == 0 {
            let mut npos = 0;
            let name_len = read_var_u32(body, &mut npos).map_err(|_| ModuleClaimsError::MalformedWasm {
                offset: body_start,
                reason: "malformed custom section name".into(),
            })? as usize;
            let name = npos.checked_add(name_len).and_then(|end| body.get(npos..end)).ok_or_else(|| {
                ModuleClaimsError::MalformedWasm {
                    offset: body_start,
                    reason: "custom section name runs past the end of its section".into(),
                }
            })?;
            if std::str::from_utf8(name).is_err() {
                return Err(ModuleClaimsError::MalformedWasm {
                    offset: body_start,
                    reason: "custom section name is not UTF-8".into(),
                });
            }
            if is_claims_section(name) {
                if jwt_section.is_none() {
                    jwt_section = Some(&body[npos + name_len..]);
                }
                claims_ranges.push(section_start..pos);
                continue;
            }
        }
        out.push(id);
        // `size` came from a u32, so it fits.
        write_var_u32(&mut out, size as u32);
        out.extend_from_slice(body);
    }
    Ok(Stripped { module: out, jwt_section, claims_ranges })
}

fn sha256_hex(bytes: &[u8]) -> String {
    HEXUPPER.encode(&Sha256::digest(bytes))
}

/// Which module-hash algorithm a module's `wascap.hash` matched (see [`check_module_hash`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// wascap ≥ 0.10: SHA-256 over the module re-encoded without its claims sections
    /// ([`module_hash`]). The only algorithm accepted for `wascap_revision >= 3`.
    Current,
    /// Older wascap (≤ 0.8's parity-wasm output, 0.9.1–0.9.2's walrus output, 0.10.0):
    /// SHA-256 over the module's own bytes with the claims sections cut out byte for byte,
    /// no re-encoding ([`legacy_module_hash`]). Differs from [`HashAlgorithm::Current`]
    /// when a section size is a padded LEB128 (walrus and LLVM pad to 5 bytes). Accepted
    /// only for `wascap_revision < 3`.
    Legacy,
}

impl HashAlgorithm {
    /// The name shown by `lattice claims inspect` (`current` or `legacy`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Current => "current",
            HashAlgorithm::Legacy => "legacy",
        }
    }
}

impl std::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SHA-256 (uppercase hex) over `wasm` minus the byte ranges of its claims sections.
fn legacy_hash(wasm: &[u8], claims_ranges: &[std::ops::Range<usize>]) -> String {
    let mut hasher = Sha256::new();
    let mut pos = 0;
    for range in claims_ranges {
        // The walk records ranges in order, inside `wasm`, without overlap.
        hasher.update(wasm.get(pos..range.start).unwrap_or_default());
        pos = range.end;
    }
    hasher.update(wasm.get(pos..).unwrap_or_default());
    HEXUPPER.encode(&hasher.finalize())
}

/// The module hash as wascap before 0.10.1 (claims revision < 3) computed it for the
/// modules it signed: SHA-256 (uppercase hex) over the module's bytes with every claims
/// section (`wasmcloud_jwt`, `jwt`) removed byte for byte, nothing re-encoded.
pub fn legacy_module_hash(wasm: &[u8]) -> Result<String, ModuleClaimsError> {
    let stripped = strip(wasm)?;
    Ok(legacy_hash(wasm, &stripped.claims_ranges))
}

/// Which algorithm `claimed` matches for a module with claims revision `revision`:
/// [`HashAlgorithm::Current`] always counts; [`HashAlgorithm::Legacy`] only below
/// revision 3 (wascap 0.12 skips the check there; Lattice checks both and refuses when
/// neither matches). A mismatch reports the current algorithm's hash.
fn match_hash(
    wasm: &[u8],
    stripped: &Stripped<'_>,
    claimed: &str,
    revision: u32,
) -> Result<HashAlgorithm, ModuleClaimsError> {
    let computed = sha256_hex(&stripped.module);
    if claimed == computed {
        return Ok(HashAlgorithm::Current);
    }
    if revision < MIN_HASHED_REVISION && claimed == legacy_hash(wasm, &stripped.claims_ranges) {
        return Ok(HashAlgorithm::Legacy);
    }
    Err(ModuleClaimsError::HashMismatch { claimed: claimed.to_owned(), computed })
}

/// Check the module hash in `claims` against `wasm` (the claims section walk and both
/// hash algorithms, no signature or date check): which algorithm matched, or
/// [`ModuleClaimsError::HashMismatch`]. Revision ≥ 3 accepts only the current algorithm.
pub fn check_module_hash(wasm: &[u8], claims: &ActorClaims) -> Result<HashAlgorithm, ModuleClaimsError> {
    let stripped = strip(wasm)?;
    let meta = claims.wascap.as_ref().ok_or(ModuleClaimsError::MissingMetadata)?;
    match_hash(wasm, &stripped, &meta.hash, claims.wascap_revision.unwrap_or_default())
}

/// The module without claims sections, re-encoded exactly as wascap 0.12 does.
pub fn strip_claims(wasm: &[u8]) -> Result<Vec<u8>, ModuleClaimsError> {
    Ok(strip(wasm)?.module)
}

/// The module hash wascap stores in `wascap.hash`: SHA-256 (uppercase hex) of
/// [`strip_claims`]`(wasm)`.
pub fn module_hash(wasm: &[u8]) -> Result<String, ModuleClaimsError> {
    Ok(sha256_hex(&strip(wasm)?.module))
}

/// Decode a module JWT's claims without checking anything but its shape
/// (wascap `Claims::<Actor>::decode`: three segments, claims JSON), through the one
/// wascap envelope ([`lattice_proto::jwt`]).
pub fn decode_jwt(jwt: &str) -> Result<ActorClaims, ModuleClaimsError> {
    let segments = envelope::split(jwt).map_err(malformed)?;
    segments.claims().map_err(malformed)
}

/// Encode and sign `claims` as a JWT with `issuer` (wascap `Claims::encode`).
pub fn encode_jwt(claims: &ActorClaims, issuer: &KeyPair) -> Result<String, ModuleClaimsError> {
    envelope::encode(claims, |input| issuer.sign(input)).map_err(|e| ModuleClaimsError::Signing(e.to_string()))
}

/// Check a JWT's header and its Ed25519 signature by `iss`.
fn check_signature(jwt: &str, claims: &ActorClaims) -> Result<(), ModuleClaimsError> {
    let segments = envelope::split(jwt).map_err(malformed)?;
    segments.check_header().map_err(malformed)?;
    segments.verify_signature(&claims.iss).map_err(|e| match e {
        JwtError::BadIssuer(_) => {
            ModuleClaimsError::BadIssuer { issuer: claims.iss.clone(), reason: "not a public key".into() }
        }
        JwtError::BadSignature => ModuleClaimsError::BadSignature { issuer: claims.iss.clone() },
        other => malformed(other),
    })
}

fn malformed(e: JwtError) -> ModuleClaimsError {
    ModuleClaimsError::MalformedJwt(e.to_string())
}

/// Find and decode the claims embedded in `wasm` without checking anything (for tools
/// that show a module's claims even when they are invalid). `Ok(None)`: unsigned.
pub fn read(wasm: &[u8]) -> Result<Option<Token>, ModuleClaimsError> {
    let Some(section) = strip(wasm)?.jwt_section else {
        return Ok(None);
    };
    let jwt = String::from_utf8(section.to_vec())
        .map_err(|_| ModuleClaimsError::MalformedJwt("claims section is not UTF-8".into()))?;
    let claims = decode_jwt(&jwt)?;
    Ok(Some(Token { jwt, claims }))
}

/// Find and decode the claims embedded in `wasm` (wascap 0.12 `extract_claims`).
///
/// Returns `Ok(None)` for an unsigned module. Checks the module hash whatever the
/// revision ([`check_module_hash`]: stricter than wascap, which skips the check below
/// revision 3); does **not** check the signature or dates — use [`verify`] for that.
pub fn extract(wasm: &[u8]) -> Result<Option<Token>, ModuleClaimsError> {
    let stripped = strip(wasm)?;
    let Some(section) = stripped.jwt_section else {
        return Ok(None);
    };
    let jwt = String::from_utf8(section.to_vec())
        .map_err(|_| ModuleClaimsError::MalformedJwt("claims section is not UTF-8".into()))?;
    let claims = decode_jwt(&jwt)?;
    let meta = claims.wascap.as_ref().ok_or(ModuleClaimsError::MissingMetadata)?;
    match_hash(wasm, &stripped, &meta.hash, claims.wascap_revision.unwrap_or_default())?;
    Ok(Some(Token { jwt, claims }))
}

/// Everything a host checks before it runs a module: claims present, issuer an account
/// key, subject a module key, signature valid, hash matching whatever the revision (the
/// current algorithm, or for revision < 3 also the legacy one: [`check_module_hash`]),
/// `exp`/`nbf` holding at `now` (seconds since the epoch).
pub fn verify(wasm: &[u8], now: u64) -> Result<VerifiedClaims, ModuleClaimsError> {
    let stripped = strip(wasm)?;
    let section = stripped.jwt_section.ok_or(ModuleClaimsError::Unsigned)?;
    let jwt = std::str::from_utf8(section)
        .map_err(|_| ModuleClaimsError::MalformedJwt("claims section is not UTF-8".into()))?
        .to_owned();
    let claims = decode_jwt(&jwt)?;
    let metadata = claims.wascap.clone().ok_or(ModuleClaimsError::MissingMetadata)?;
    let issuer = AccountKey::parse(&claims.iss)
        .map_err(|e| ModuleClaimsError::BadIssuer { issuer: claims.iss.clone(), reason: e.to_string() })?;
    let actor = ActorKey::parse(&claims.sub)
        .map_err(|e| ModuleClaimsError::BadSubject { subject: claims.sub.clone(), reason: e.to_string() })?;
    check_signature(&jwt, &claims)?;
    let hash_algorithm = match_hash(wasm, &stripped, &metadata.hash, claims.wascap_revision.unwrap_or_default())?;
    check_times(&claims, now)?;
    Ok(VerifiedClaims { actor, issuer, metadata, token: Token { jwt, claims }, hash_algorithm })
}

/// `exp`/`nbf` against `now`, as wascap's `validate_token` judges them.
pub fn check_times(claims: &ActorClaims, now: u64) -> Result<(), ModuleClaimsError> {
    if let Some(exp) = claims.exp
        && exp < now
    {
        return Err(ModuleClaimsError::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf
        && now < nbf
    {
        return Err(ModuleClaimsError::NotYetValid { nbf, now });
    }
    Ok(())
}

/// Embed `claims` into `wasm`, signed by `issuer` (wascap 0.12 `embed_claims`): strips any
/// existing claims section, sets `wascap.hash`, appends a `wasmcloud_jwt` section.
pub fn embed(wasm: &[u8], claims: &ActorClaims, issuer: &KeyPair) -> Result<Vec<u8>, ModuleClaimsError> {
    let mut module = strip(wasm)?.module;
    let hash = sha256_hex(&module);
    let mut claims = claims.clone();
    if let Some(meta) = claims.wascap.as_mut() {
        meta.hash = hash;
    }
    let jwt = encode_jwt(&claims, issuer)?;
    append_custom_section(&mut module, SECTION_NAME, jwt.as_bytes())?;
    Ok(module)
}

fn append_custom_section(module: &mut Vec<u8>, name: &str, content: &[u8]) -> Result<(), ModuleClaimsError> {
    let too_big = || ModuleClaimsError::Signing("claims section larger than 4 GiB".into());
    let name_len = u32::try_from(name.len()).map_err(|_| too_big())?;
    let mut name_leb = Vec::with_capacity(5);
    write_var_u32(&mut name_leb, name_len);
    let size = u32::try_from(name_leb.len() + name.len() + content.len()).map_err(|_| too_big())?;
    module.push(0);
    write_var_u32(module, size);
    module.extend_from_slice(&name_leb);
    module.extend_from_slice(name.as_bytes());
    module.extend_from_slice(content);
    Ok(())
}

/// wascap's call alias normalisation: lowercase, trim, drop non-ASCII, and turn spaces,
/// `-` and `.` into `_`.
pub fn normalize_call_alias(alias: &str) -> String {
    alias
        .to_lowercase()
        .trim()
        .chars()
        .filter(char::is_ascii)
        .map(|c| if matches!(c, ' ' | '-' | '.') { '_' } else { c })
        .collect()
}

/// Build actor claims as wascap's `Claims::<Actor>::with_dates` does (`tags` and `caps`
/// always present, `prov: false`, `wascap_revision: 3`, a fresh `jti`), with an empty hash
/// that [`embed`] fills in.
pub fn actor_claims(opts: &SignOptions, issuer: &str, subject: &str, now: u64) -> ActorClaims {
    ActorClaims {
        exp: opts.expires,
        jti: nuid::next().to_string(),
        iat: now,
        iss: issuer.to_owned(),
        sub: subject.to_owned(),
        nbf: opts.not_before,
        wascap: Some(ActorMetadata {
            name: Some(opts.name.clone()),
            hash: String::new(),
            tags: Some(opts.tags.clone()),
            caps: Some(opts.caps.clone()),
            rev: opts.rev,
            ver: opts.ver.clone(),
            call_alias: opts.call_alias.as_deref().map(normalize_call_alias),
            prov: false,
        }),
        wascap_revision: Some(WASCAP_REVISION),
    }
}

/// Sign `wasm` as an actor: `module` is the actor's key pair (its public key becomes `sub`),
/// `account` the issuer (`iss`). Like wascap's `sign_buffer_with_claims`.
pub fn sign(
    wasm: &[u8],
    opts: &SignOptions,
    module: &KeyPair,
    account: &KeyPair,
    now: u64,
) -> Result<Vec<u8>, ModuleClaimsError> {
    if module.key_pair_type() != nkeys::KeyPairType::Module {
        return Err(ModuleClaimsError::Signing("the subject key must be a module key (seed `SM…`)".into()));
    }
    if account.key_pair_type() != nkeys::KeyPairType::Account {
        return Err(ModuleClaimsError::Signing("the issuer key must be an account key (seed `SA…`)".into()));
    }
    let claims = actor_claims(opts, &account.public_key(), &module.public_key(), now);
    embed(wasm, &claims, account)
}

/// wascap's human rendering of a timestamp relative to `now` ("in 3days", "2h ago"), or
/// `default` when there is none (wascap uses "never" for `exp`, "immediately" for `nbf`).
pub fn human_time(stamp: Option<u64>, now: u64, default: &str) -> String {
    let Some(stamp) = stamp else {
        return default.to_owned();
    };
    let diff = now.abs_diff(stamp);
    let rounded = if diff >= SECS_PER_DAY {
        diff - diff % SECS_PER_DAY
    } else if diff >= 3600 {
        diff - diff % 3600
    } else if diff >= 60 {
        diff - diff % 60
    } else {
        diff
    };
    let text = format_duration(rounded);
    if now > stamp { format!("{text} ago") } else { format!("in {text}") }
}

/// humantime 2's `format_duration` for whole seconds.
fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let years = secs / 31_557_600;
    let ydays = secs % 31_557_600;
    let months = ydays / 2_630_016;
    let mdays = ydays % 2_630_016;
    let days = mdays / 86_400;
    let day_secs = mdays % 86_400;
    let parts = [
        (years, "year", true),
        (months, "month", true),
        (days, "day", true),
        (day_secs / 3600, "h", false),
        (day_secs % 3600 / 60, "m", false),
        (day_secs % 60, "s", false),
    ];
    let mut out = Vec::new();
    for (value, unit, plural) in parts {
        if value > 0 {
            let s = if plural && value > 1 { "s" } else { "" };
            out.push(format!("{value}{unit}{s}"));
        }
    }
    out.join(" ")
}

/// Shared handle to verified claims (what the runtime hands to host calls).
pub type SharedClaims = Arc<VerifiedClaims>;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    /// A module with a padded (non-minimal) LEB128 section size, as LLVM emits:
    /// type section `01` with size `84 80 80 80 00` (= 4) holding one `() -> ()`, plus a
    /// `name` custom section that must be kept.
    fn padded_module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[0x01, 0x84, 0x80, 0x80, 0x80, 0x00, 0x01, 0x60, 0x00, 0x00]);
        // custom "name" section with an empty payload
        m.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'a', b'm', b'e']);
        m
    }

    fn keys() -> (KeyPair, KeyPair) {
        (KeyPair::new_module(), KeyPair::new_account())
    }

    #[test]
    fn strip_reencodes_minimal_leb_and_keeps_other_custom_sections() {
        let stripped = strip_claims(&padded_module()).unwrap();
        let mut expected = b"\0asm\x01\0\0\0".to_vec();
        expected.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
        expected.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'a', b'm', b'e']);
        assert_eq!(stripped, expected);
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (m, a) = keys();
        let opts = SignOptions {
            name: "echo".into(),
            caps: vec!["wasmcloud:httpserver".into()],
            call_alias: Some("My Echo-Actor.v1".into()),
            rev: Some(2),
            ver: Some("0.1.0".into()),
            ..Default::default()
        };
        let signed = sign(&padded_module(), &opts, &m, &a, NOW).unwrap();
        let v = verify(&signed, NOW).unwrap();
        assert_eq!(v.actor().as_str(), m.public_key());
        assert_eq!(v.issuer().as_str(), a.public_key());
        assert_eq!(v.name(), Some("echo"));
        assert!(v.has_cap("wasmcloud:httpserver"));
        assert!(!v.has_cap("wasmcloud:keyvalue"));
        assert_eq!(v.call_alias(), Some("my_echo_actor_v1"));
        assert_eq!(v.metadata().hash, module_hash(&padded_module()).unwrap());
        // extract agrees
        let t = extract(&signed).unwrap().unwrap();
        assert_eq!(t.claims, v.token().claims);
        // the JSON has wascap's field order
        let json = serde_json::to_string(&t.claims).unwrap();
        assert!(json.starts_with("{\"jti\":"), "{json}");
        assert!(json.contains("\"wascap\":{\"name\":\"echo\",\"hash\":"), "{json}");
        assert!(
            json.ends_with(",\"call_alias\":\"my_echo_actor_v1\",\"prov\":false},\"wascap_revision\":3}"),
            "{json}"
        );
    }

    #[test]
    fn resigning_replaces_the_section() {
        let (m, a) = keys();
        let opts = SignOptions { name: "x".into(), ..Default::default() };
        let once = sign(&padded_module(), &opts, &m, &a, NOW).unwrap();
        let twice = sign(&once, &opts, &m, &a, NOW).unwrap();
        assert_eq!(once.len(), twice.len());
        verify(&twice, NOW).unwrap();
    }

    #[test]
    fn refusals_are_typed() {
        let (m, a) = keys();
        assert_eq!(verify(&padded_module(), NOW), Err(ModuleClaimsError::Unsigned));
        assert!(matches!(verify(b"nope", NOW), Err(ModuleClaimsError::NotAModule(_))));
        let opts = SignOptions { name: "x".into(), expires: Some(NOW - 1), ..Default::default() };
        let expired = sign(&padded_module(), &opts, &m, &a, NOW).unwrap();
        assert!(matches!(verify(&expired, NOW), Err(ModuleClaimsError::Expired { .. })));
        let opts = SignOptions { name: "x".into(), not_before: Some(NOW + 10), ..Default::default() };
        let early = sign(&padded_module(), &opts, &m, &a, NOW).unwrap();
        assert!(matches!(verify(&early, NOW), Err(ModuleClaimsError::NotYetValid { .. })));
        // Wrong key kinds cannot sign.
        assert!(matches!(sign(&padded_module(), &opts, &a, &a, NOW), Err(ModuleClaimsError::Signing(_))));
    }

    #[test]
    fn forged_signature_is_refused() {
        let (m, a) = keys();
        let other = KeyPair::new_account();
        // Claims naming `a` as issuer but signed by `other`.
        let mut claims = actor_claims(&SignOptions::default(), &a.public_key(), &m.public_key(), NOW);
        claims.wascap.as_mut().unwrap().hash = module_hash(&padded_module()).unwrap();
        let mut module = strip_claims(&padded_module()).unwrap();
        let jwt = encode_jwt(&claims, &other).unwrap();
        append_custom_section(&mut module, SECTION_NAME, jwt.as_bytes()).unwrap();
        assert!(matches!(verify(&module, NOW), Err(ModuleClaimsError::BadSignature { .. })));
    }

    #[test]
    fn malformed_sections_are_errors_not_panics() {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(module_hash(&m), Err(ModuleClaimsError::MalformedWasm { .. })));
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[0x00, 0x02, 0x09, b'a']);
        assert!(matches!(module_hash(&m), Err(ModuleClaimsError::MalformedWasm { .. })));
        let component = b"\0asm\x0d\0\x01\0".to_vec();
        assert!(matches!(module_hash(&component), Err(ModuleClaimsError::NotAModule(_))));
    }

    /// `wasm` with every section size re-encoded as a padded 5-byte LEB128, as walrus (and
    /// so wascap 0.9.1–0.9.2) wrote modules.
    fn pad_section_sizes(wasm: &[u8]) -> Vec<u8> {
        let mut out = wasm[..8].to_vec();
        let mut pos = 8;
        while pos < wasm.len() {
            let id = wasm[pos];
            pos += 1;
            let size = read_var_u32(wasm, &mut pos).unwrap();
            out.push(id);
            out.extend_from_slice(&[
                (size & 0x7f) as u8 | 0x80,
                ((size >> 7) & 0x7f) as u8 | 0x80,
                ((size >> 14) & 0x7f) as u8 | 0x80,
                ((size >> 21) & 0x7f) as u8 | 0x80,
                (size >> 28) as u8,
            ]);
            out.extend_from_slice(&wasm[pos..pos + size as usize]);
            pos += size as usize;
        }
        out
    }

    /// A module with a code body and a data segment, padded as walrus wrote it.
    fn legacy_layout_module() -> Vec<u8> {
        let wasm = wat::parse_str(
            r#"(module (memory (export "memory") 1) (data (i32.const 16) "hello, legacy")
                 (func (export "__guest_call") (param i32 i32) (result i32) i32.const 1))"#,
        )
        .unwrap();
        pad_section_sizes(&wasm)
    }

    /// Sign `module` the way wascap < 0.10.1 did: hash over the bytes as they are, the JWT
    /// appended with a minimal section size, `wascap_revision` = `revision`.
    fn sign_legacy(module: &[u8], revision: Option<u32>, hash: String) -> Vec<u8> {
        let (m, a) = keys();
        let mut claims = actor_claims(
            &SignOptions { name: "legacy".into(), ..Default::default() },
            &a.public_key(),
            &m.public_key(),
            NOW,
        );
        claims.wascap_revision = revision;
        claims.wascap.as_mut().unwrap().hash = hash;
        let mut out = module.to_vec();
        let jwt = encode_jwt(&claims, &a).unwrap();
        append_custom_section(&mut out, SECTION_NAME, jwt.as_bytes()).unwrap();
        out
    }

    fn raw_sha(bytes: &[u8]) -> String {
        sha256_hex(bytes)
    }

    #[test]
    fn legacy_hash_cuts_the_claims_section_out_byte_for_byte() {
        let module = legacy_layout_module();
        let signed = sign_legacy(&module, Some(2), raw_sha(&module));
        assert_eq!(legacy_module_hash(&signed).unwrap(), raw_sha(&module));
        // The current algorithm re-encodes the padded sizes, so it differs here.
        assert_ne!(module_hash(&signed).unwrap(), raw_sha(&module));
        // A claims section in the middle is cut out too; the bytes around it are kept.
        let mut mid = module[..8].to_vec();
        append_custom_section(&mut mid, LEGACY_SECTION_NAME, b"x.y.z").unwrap();
        mid.extend_from_slice(&module[8..]);
        assert_eq!(legacy_module_hash(&mid).unwrap(), raw_sha(&module));
    }

    #[test]
    fn legacy_revisions_accept_either_algorithm_and_say_which() {
        let module = legacy_layout_module();
        for revision in [None, Some(0), Some(1), Some(2)] {
            let legacy = sign_legacy(&module, revision, raw_sha(&module));
            let v = verify(&legacy, NOW).unwrap();
            assert_eq!(v.hash_algorithm(), HashAlgorithm::Legacy, "{revision:?}");
            assert_eq!(extract(&legacy).unwrap().unwrap().claims, v.token().claims);
            assert_eq!(check_module_hash(&legacy, &v.token().claims), Ok(HashAlgorithm::Legacy));

            let current = sign_legacy(&module, revision, module_hash(&module).unwrap());
            assert_eq!(verify(&current, NOW).unwrap().hash_algorithm(), HashAlgorithm::Current, "{revision:?}");
        }
        // Signed here (revision 3): the current algorithm.
        let (m, a) = keys();
        let signed = sign(&module, &SignOptions::default(), &m, &a, NOW).unwrap();
        assert_eq!(verify(&signed, NOW).unwrap().hash_algorithm(), HashAlgorithm::Current);
    }

    #[test]
    fn revision_3_accepts_only_the_current_algorithm() {
        let module = legacy_layout_module();
        let legacy = sign_legacy(&module, Some(3), raw_sha(&module));
        let err = verify(&legacy, NOW).unwrap_err();
        assert_eq!(err.kind(), "hash_mismatch", "{err}");
        assert_eq!(extract(&legacy).unwrap_err().kind(), "hash_mismatch");
    }

    #[test]
    fn a_modified_legacy_module_is_refused_with_hash_mismatch() {
        let module = legacy_layout_module();
        let data_at = find(&module, b"hello, legacy").unwrap();
        // `i32.const 1` in the code body: opcode 0x41 then 0x01, right before `end` (0x0b).
        let code_at = find(&module, &[0x41, 0x01, 0x0b]).unwrap() + 1;
        for at in [data_at, code_at] {
            for revision in [None, Some(2)] {
                let mut tampered = sign_legacy(&module, revision, raw_sha(&module));
                tampered[at] ^= 0x01;
                let err = verify(&tampered, NOW).unwrap_err();
                assert!(matches!(err, ModuleClaimsError::HashMismatch { .. }), "byte {at}: {err}");
                assert_eq!(extract(&tampered).unwrap_err().kind(), "hash_mismatch");
            }
        }
        // A claimed hash that is neither algorithm's is refused too, whatever the revision.
        let bogus = sign_legacy(&module, Some(1), raw_sha(b"something else"));
        assert_eq!(verify(&bogus, NOW).unwrap_err().kind(), "hash_mismatch");
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn human_times_match_wascap() {
        assert_eq!(human_time(None, NOW, "never"), "never");
        assert_eq!(human_time(Some(NOW + 2 * 86_400 + 5), NOW, "never"), "in 2days");
        assert_eq!(human_time(Some(NOW - 3 * 3600 - 100), NOW, "never"), "3h ago");
        assert_eq!(human_time(Some(NOW + 365 * 86_400), NOW, "never"), "in 11months 30days 3h 50m 24s");
        assert_eq!(human_time(Some(NOW), NOW, "never"), "in 0s");
    }

    #[test]
    fn call_alias_normalisation() {
        assert_eq!(normalize_call_alias("  Hello World-1.0 "), "hello_world_1_0");
        assert_eq!(normalize_call_alias("café"), "caf");
    }
}
