//! wasmCloud 0.82 provider archives (`.par`, `.par.gz`): a tar holding `claims.jwt` (the
//! provider's signed wascap claims) and one executable per target, `{arch}-{os}.bin`
//! (e.g. `x86_64-linux.bin`).
//!
//! [`ProviderArchive::parse`] streams one (gunzipping on the fly when the bytes start with
//! the gzip magic) and keeps only `claims.jwt` and this machine's executable: it stops
//! reading as soon as it has both, so entries after them are never decompressed, and
//! every decompressed byte it does go through (kept or skipped) counts against
//! [`MAX_UNPACKED`] (512 MiB), checked from each entry's header *before* its data is
//! decompressed (a gzip bomb is refused unread). It then verifies the claims JWT (header,
//! Ed25519 signature by the `iss` account key, `exp`/`nbf`, a `V…` subject) and checks the
//! executable against the claims' `target_hashes`. [`ArchiveContents::read`] (for tools
//! that show every target) reads them all, under the same cap. [`pack`] writes one, so
//! `lattice start provider BIN --contract C` can send a bare executable to a host that
//! only takes archives.
//!
//! Every failure is a [`HostError::Archive`] with an [`ArchiveProblem`] saying which kind.
//! The tar reader handles what the `provider-archive` crate writes (ustar/GNU headers,
//! regular files, GNU long names); it refuses anything it does not understand rather than
//! guessing. It is hand-written (≈100 lines) rather than the `tar` crate: it must count
//! and cap every byte before reading it and stop early, which the existing reader already
//! did on a slice; the `tar` crate would add a dependency for the same loop.

use std::collections::BTreeMap;
use std::io::Read;

use data_encoding::HEXUPPER;
use lattice_proto::jwt::{self as envelope, JwtError};
use nkeys::{KeyPair, KeyPairType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::HostError;

/// The tar entry holding the claims.
pub const CLAIMS_ENTRY: &str = "claims.jwt";
const BLOCK: usize = 512;
/// Refuse archives that unpack to more than this (a gzip bomb guard): the decompressed
/// bytes read through, counted from the entry headers before reading.
pub const MAX_UNPACKED: u64 = 512 * 1024 * 1024;
/// The most a `claims.jwt` entry may hold.
const MAX_CLAIMS: u64 = 1024 * 1024;

/// What is wrong with a provider archive (the kind of a [`HostError::Archive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveProblem {
    /// Not a gzip stream or a tar archive, truncated, or an entry it needs is missing or
    /// malformed.
    Malformed,
    /// It unpacks (or an entry claims to unpack) to more than [`MAX_UNPACKED`].
    TooLarge,
    /// It holds no executable for this machine.
    NoTarget,
    /// The claims JWT is malformed, badly signed, expired, not yet valid, or names a
    /// wrong issuer or subject.
    Claims,
    /// An executable does not match the claims' `target_hashes` (modified after signing).
    Tampered,
    /// Packing an archive failed.
    Pack,
}

impl ArchiveProblem {
    /// A short machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveProblem::Malformed => "malformed",
            ArchiveProblem::TooLarge => "too_large",
            ArchiveProblem::NoTarget => "no_target",
            ArchiveProblem::Claims => "claims",
            ArchiveProblem::Tampered => "tampered",
            ArchiveProblem::Pack => "pack",
        }
    }
}

impl std::fmt::Display for ArchiveProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn fail(problem: ArchiveProblem, detail: impl Into<String>) -> HostError {
    HostError::Archive { problem, detail: detail.into() }
}

fn malformed(detail: impl Into<String>) -> HostError {
    fail(ArchiveProblem::Malformed, detail)
}

fn bad_claims(detail: impl Into<String>) -> HostError {
    fail(ArchiveProblem::Claims, detail)
}

/// The provider metadata of wascap claims (`wascap` in the JWT).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The provider's name.
    pub name: Option<String>,
    /// The contract it implements.
    pub capid: String,
    /// Its vendor.
    pub vendor: String,
    /// Revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i32>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// SHA-256 (uppercase hex) of each target's executable.
    #[serde(default)]
    pub target_hashes: BTreeMap<String, String>,
    /// JSON schema of its configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
}

/// A provider's wascap claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderClaims {
    /// Expiry (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Token id.
    #[serde(default)]
    pub jti: String,
    /// Issued at.
    #[serde(default)]
    pub iat: u64,
    /// The signing account (`A…`).
    pub iss: String,
    /// The provider's public key (`V…`).
    pub sub: String,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The provider metadata.
    pub wascap: ProviderMetadata,
    /// wascap's internal revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wascap_revision: Option<u32>,
}

/// A parsed, verified provider archive with this machine's executable.
#[derive(Clone, Debug)]
pub struct ProviderArchive {
    /// The verified claims.
    pub claims: ProviderClaims,
    /// The target picked (`x86_64-linux`).
    pub target: String,
    /// That target's executable.
    pub binary: Vec<u8>,
    /// Lowercase hex SHA-256 of the archive bytes as given.
    pub hash: String,
}

/// This machine's target name, as 0.82 names archive entries: `{arch}-{os}`.
pub fn current_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Whether `reference` names a provider archive (by extension).
pub fn is_archive_path(reference: &str) -> bool {
    reference.ends_with(".par") || reference.ends_with(".par.gz")
}

impl ProviderArchive {
    /// Parse and verify an archive at time `now` (seconds since the epoch), decompressing
    /// only as far as `claims.jwt` and this machine's executable.
    pub fn parse(bytes: &[u8], now: u64) -> Result<Self, HostError> {
        let hash = crate::state_dir::sha256_hex(bytes);
        let target = current_target();
        let wanted = format!("{target}.bin");
        let mut tar = TarStream::new(bytes)?;
        let (mut jwt, mut binary) = (None, None);
        while jwt.is_none() || binary.is_none() {
            let Some(entry) = tar.next_entry()? else { break };
            if entry.name == CLAIMS_ENTRY && jwt.is_none() {
                jwt = Some(claims_text(tar.read_data(&entry, MAX_CLAIMS)?)?);
            } else if entry.name == wanted && binary.is_none() {
                binary = Some(tar.read_data(&entry, MAX_UNPACKED)?);
            } else {
                tar.skip_data(&entry)?;
            }
        }
        let jwt = jwt.ok_or_else(|| malformed(format!("the archive has no {CLAIMS_ENTRY}")))?;
        let claims = verify_jwt(&jwt, now)?;
        let binary = binary.ok_or_else(|| {
            let listed: Vec<_> = claims.wascap.target_hashes.keys().map(String::as_str).collect();
            fail(
                ArchiveProblem::NoTarget,
                format!(
                    "the archive has no executable for this machine ({target}); its claims list: {}",
                    listed.join(", ")
                ),
            )
        })?;
        check_target_hash(&claims, &target, &binary)?;
        Ok(Self { claims, target, binary, hash })
    }
}

/// Everything an archive holds, read but not verified: for tools that show a (possibly
/// tampered) archive before judging it ([`ArchiveContents::verify`]).
#[derive(Clone, Debug)]
pub struct ArchiveContents {
    /// The claims JWT (`claims.jwt`, trimmed).
    pub jwt: String,
    /// Each target's executable, by target name (`x86_64-linux`).
    pub targets: BTreeMap<String, Vec<u8>>,
    /// Lowercase hex SHA-256 of the archive bytes as given.
    pub hash: String,
}

impl ArchiveContents {
    /// Unpack an archive (`.par`, or gzipped `.par.gz`): its claims JWT and every
    /// executable, all together within [`MAX_UNPACKED`].
    pub fn read(bytes: &[u8]) -> Result<Self, HostError> {
        let hash = crate::state_dir::sha256_hex(bytes);
        let mut tar = TarStream::new(bytes)?;
        let mut jwt = None;
        let mut targets = BTreeMap::new();
        while let Some(entry) = tar.next_entry()? {
            if entry.name == CLAIMS_ENTRY {
                jwt = Some(claims_text(tar.read_data(&entry, MAX_CLAIMS)?)?);
            } else if let Some(target) = entry.name.strip_suffix(".bin") {
                let target = target.to_owned();
                targets.insert(target, tar.read_data(&entry, MAX_UNPACKED)?);
            } else {
                tar.skip_data(&entry)?;
            }
        }
        let jwt = jwt.ok_or_else(|| malformed(format!("the archive has no {CLAIMS_ENTRY}")))?;
        if targets.is_empty() {
            return Err(fail(ArchiveProblem::NoTarget, "the archive holds no executable (`{arch}-{os}.bin`)"));
        }
        Ok(Self { jwt, targets, hash })
    }

    /// The claims as written, without checking the signature or the hashes.
    pub fn decode_claims(&self) -> Result<ProviderClaims, HostError> {
        let segments = envelope::split(&self.jwt)
            .map_err(|_| bad_claims("malformed provider claims: a JWT has three segments"))?;
        segments.claims().map_err(|e| bad_claims(format!("malformed provider claims: {e}")))
    }

    /// Verify the claims (signature, issuer, subject, dates) and every executable against
    /// the claims' `target_hashes`.
    pub fn verify(&self, now: u64) -> Result<ProviderClaims, HostError> {
        let claims = verify_jwt(&self.jwt, now)?;
        for (target, binary) in &self.targets {
            check_target_hash(&claims, target, binary)?;
        }
        Ok(claims)
    }
}

fn claims_text(bytes: Vec<u8>) -> Result<String, HostError> {
    let text = String::from_utf8(bytes).map_err(|_| malformed(format!("{CLAIMS_ENTRY} is not UTF-8")))?;
    Ok(text.trim().to_owned())
}

/// The SHA-256 of `binary` must be the one the claims list for `target`: the claims
/// cover every executable (an executable they do not list was added after signing).
fn check_target_hash(claims: &ProviderClaims, target: &str, binary: &[u8]) -> Result<(), HostError> {
    let got = HEXUPPER.encode(&Sha256::digest(binary));
    match claims.wascap.target_hashes.get(target) {
        Some(want) if want.eq_ignore_ascii_case(&got) => Ok(()),
        Some(want) => Err(fail(
            ArchiveProblem::Tampered,
            format!(
                "the {target} executable does not match its claims (hash {got}, claims say {want}): the archive was modified"
            ),
        )),
        None => Err(fail(
            ArchiveProblem::Tampered,
            format!("the claims list no hash for the {target} executable: it was added after the archive was signed"),
        )),
    }
}

/// Decode and verify a provider claims JWT.
pub fn verify_jwt(jwt: &str, now: u64) -> Result<ProviderClaims, HostError> {
    // The one wascap envelope (lattice_proto::jwt): shape, header, claims, signature.
    let segments =
        envelope::split(jwt).map_err(|_| bad_claims("malformed provider claims: a JWT has three segments"))?;
    segments.check_header().map_err(|e| match e {
        JwtError::Algorithm(_) => bad_claims("provider claims are not signed with Ed25519"),
        other => bad_claims(format!("malformed provider claims header: {other}")),
    })?;
    let claims: ProviderClaims =
        segments.claims().map_err(|e| bad_claims(format!("malformed provider claims: {e}")))?;
    let issuer =
        KeyPair::from_public_key(&claims.iss).map_err(|e| bad_claims(format!("bad issuer '{}': {e}", claims.iss)))?;
    if issuer.key_pair_type() != KeyPairType::Account {
        return Err(bad_claims(format!(
            "bad issuer '{}': provider claims are issued by an account key (A…)",
            claims.iss
        )));
    }
    match KeyPair::from_public_key(&claims.sub) {
        Ok(kp) if kp.key_pair_type() == KeyPairType::Service => {}
        _ => return Err(bad_claims(format!("bad subject '{}': not a provider key (V…)", claims.sub))),
    }
    segments.verify_signature(&claims.iss).map_err(|e| match e {
        JwtError::BadSignature => {
            bad_claims(format!("bad signature: the provider claims do not verify against issuer {}", claims.iss))
        }
        other => bad_claims(format!("malformed provider claims signature: {other}")),
    })?;
    if let Some(exp) = claims.exp
        && now > exp
    {
        return Err(bad_claims(format!("provider claims expired at {exp}")));
    }
    if let Some(nbf) = claims.nbf
        && now < nbf
    {
        return Err(bad_claims(format!("provider claims are not valid before {nbf}")));
    }
    Ok(claims)
}

/// Sign `claims` with the account key `issuer` (wascap's JWT layout).
pub fn sign_jwt(claims: &ProviderClaims, issuer: &KeyPair) -> Result<String, HostError> {
    envelope::encode(claims, |input| issuer.sign(input)).map_err(|e| fail(ArchiveProblem::Pack, e.to_string()))
}

/// Build a provider archive holding `binary` for `target` and `claims` (their `sub` is the
/// provider's public key) signed by `issuer`; `target_hashes` is filled in. `gzip` makes a
/// `.par.gz`, otherwise a plain `.par` tar.
pub fn pack(
    binary: &[u8],
    target: &str,
    claims: ProviderClaims,
    issuer: &KeyPair,
    gzip: bool,
) -> Result<Vec<u8>, HostError> {
    pack_targets(&[(target.to_owned(), binary.to_vec())], claims, issuer, gzip)
}

/// [`pack`] with one executable per target (`(target, binary)`, e.g. `("x86_64-linux", …)`).
pub fn pack_targets(
    binaries: &[(String, Vec<u8>)],
    mut claims: ProviderClaims,
    issuer: &KeyPair,
    gzip: bool,
) -> Result<Vec<u8>, HostError> {
    if binaries.is_empty() {
        return Err(fail(ArchiveProblem::Pack, "a provider archive needs at least one executable"));
    }
    claims.iss = issuer.public_key();
    for (target, binary) in binaries {
        claims.wascap.target_hashes.insert(target.clone(), HEXUPPER.encode(&Sha256::digest(binary)));
    }
    if claims.wascap_revision.is_none() {
        claims.wascap_revision = Some(crate::claims::WASCAP_REVISION);
    }
    let jwt = sign_jwt(&claims, issuer)?;
    let mut tar = Vec::new();
    write_tar_entry(&mut tar, CLAIMS_ENTRY, jwt.as_bytes(), 0o644)?;
    for (target, binary) in binaries {
        write_tar_entry(&mut tar, &format!("{target}.bin"), binary, 0o755)?;
    }
    tar.extend_from_slice(&[0u8; BLOCK * 2]);
    if !gzip {
        return Ok(tar);
    }
    let pack_err = |e: std::io::Error| fail(ArchiveProblem::Pack, e.to_string());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).map_err(pack_err)?;
    gz.finish().map_err(pack_err)
}

fn octal(field: &[u8]) -> Result<u64, HostError> {
    let text: String = field.iter().take_while(|b| **b != 0).map(|b| *b as char).collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| malformed(format!("bad tar header field '{text}'")))
}

fn c_string(field: &[u8]) -> String {
    String::from_utf8_lossy(field.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

/// One tar entry's header: its path (a leading `./` dropped) and data size.
#[derive(Debug)]
struct Entry {
    name: String,
    size: u64,
}

/// A tar archive read as a stream (through a gzip decoder when gzipped), entry by entry.
/// Every byte it reads counts against [`MAX_UNPACKED`], checked from each entry's header
/// before its data is read or skipped.
struct TarStream<'a> {
    reader: Box<dyn Read + 'a>,
    gzip: bool,
    /// Decompressed bytes consumed so far (headers, data and padding).
    consumed: u64,
}

impl<'a> TarStream<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, HostError> {
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read + 'a> =
            if gzip { Box::new(flate2::read::GzDecoder::new(bytes)) } else { Box::new(bytes) };
        Ok(Self { reader, gzip, consumed: 0 })
    }

    fn io_err(&self, e: &std::io::Error) -> HostError {
        if self.gzip {
            malformed(format!("not a valid gzip stream: {e}"))
        } else {
            malformed(format!("truncated tar archive: {e}"))
        }
    }

    /// Account for `n` more bytes, refusing to go past the cap (before reading them).
    fn reserve(&mut self, n: u64) -> Result<(), HostError> {
        match self.consumed.checked_add(n) {
            Some(total) if total <= MAX_UNPACKED => {
                self.consumed = total;
                Ok(())
            }
            _ => Err(fail(ArchiveProblem::TooLarge, format!("the archive unpacks to more than {MAX_UNPACKED} bytes"))),
        }
    }

    /// Read one 512-byte block; `None` at the end of the stream.
    fn block(&mut self) -> Result<Option<[u8; BLOCK]>, HostError> {
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.reader.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => return Err(malformed("truncated tar archive")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(&e)),
            }
        }
        self.reserve(BLOCK as u64)?;
        Ok(Some(block))
    }

    /// The next regular file's header; `None` at the end of the archive.
    fn next_entry(&mut self) -> Result<Option<Entry>, HostError> {
        let mut long_name: Option<String> = None;
        loop {
            let Some(header) = self.block()? else { return Ok(None) };
            if header.iter().all(|b| *b == 0) {
                return Ok(None);
            }
            let size = octal(&header[124..136])?;
            let kind = header[156];
            let mut name = c_string(&header[0..100]);
            // POSIX ustar (`ustar\0`) has a name prefix at 345; GNU headers (`ustar `, what
            // provider-archive writes) keep other fields there.
            if &header[257..263] == b"ustar\0" {
                let prefix = c_string(&header[345..500]);
                if !prefix.is_empty() {
                    name = format!("{prefix}/{name}");
                }
            }
            if let Some(long) = long_name.take() {
                name = long;
            }
            let entry = Entry { name: name.trim_start_matches("./").to_owned(), size };
            match kind {
                b'0' | 0 => return Ok(Some(entry)),
                b'L' => {
                    let data = self.read_data(&entry, BLOCK as u64 * 8)?;
                    long_name = Some(c_string(&data));
                }
                // Directories, links and pax headers carry nothing a provider needs.
                _ => self.skip_data(&entry)?,
            }
        }
    }

    fn padded(size: u64) -> u64 {
        size.div_ceil(BLOCK as u64) * BLOCK as u64
    }

    /// Read `entry`'s data (at most `max` bytes, else [`ArchiveProblem::TooLarge`] before
    /// reading any of it) and its padding.
    fn read_data(&mut self, entry: &Entry, max: u64) -> Result<Vec<u8>, HostError> {
        if entry.size > max {
            return Err(fail(
                ArchiveProblem::TooLarge,
                format!(
                    "the archive entry {} holds {} bytes: it unpacks to more than the {max} bytes allowed",
                    entry.name, entry.size
                ),
            ));
        }
        self.reserve(Self::padded(entry.size))?;
        // Grows with what actually arrives: a header claiming much over a short stream
        // allocates no more than the stream holds.
        let mut data = Vec::new();
        (&mut self.reader).take(entry.size).read_to_end(&mut data).map_err(|e| self.io_err(&e))?;
        if data.len() as u64 != entry.size {
            return Err(malformed("truncated tar archive"));
        }
        self.discard(Self::padded(entry.size) - entry.size)?;
        Ok(data)
    }

    /// Skip `entry`'s data (counted against the cap before it is decompressed).
    fn skip_data(&mut self, entry: &Entry) -> Result<(), HostError> {
        let n = Self::padded(entry.size);
        self.reserve(n)?;
        self.discard(n)
    }

    fn discard(&mut self, n: u64) -> Result<(), HostError> {
        let copied =
            std::io::copy(&mut (&mut self.reader).take(n), &mut std::io::sink()).map_err(|e| self.io_err(&e))?;
        if copied != n {
            return Err(malformed("truncated tar archive"));
        }
        Ok(())
    }
}

fn write_tar_entry(out: &mut Vec<u8>, name: &str, data: &[u8], mode: u32) -> Result<(), HostError> {
    if name.len() >= 100 {
        return Err(fail(ArchiveProblem::Pack, format!("tar entry name too long: {name}")));
    }
    let mut header = [0u8; BLOCK];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |range: std::ops::Range<usize>, value: u64| {
        let width = range.len() - 1;
        let text = format!("{value:0width$o}");
        header[range.start..range.start + width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    };
    field(100..108, u64::from(mode));
    field(108..116, 0);
    field(116..124, 0);
    field(124..136, data.len() as u64);
    field(136..148, 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn claims(subject: &str) -> ProviderClaims {
        ProviderClaims {
            jti: "x".into(),
            iat: 1,
            sub: subject.into(),
            wascap: ProviderMetadata {
                name: Some("echo".into()),
                capid: "example:echo".into(),
                vendor: "lattice".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn pack_then_parse() {
        let account = KeyPair::new_account();
        let provider = KeyPair::new_service();
        let target = current_target();
        let par = pack(b"#!/bin/sh\necho hi\n", &target, claims(&provider.public_key()), &account, true).unwrap();
        let archive = ProviderArchive::parse(&par, 100).unwrap();
        assert_eq!(archive.binary, b"#!/bin/sh\necho hi\n");
        assert_eq!(archive.claims.sub, provider.public_key());
        assert_eq!(archive.claims.iss, account.public_key());
        assert_eq!(archive.claims.wascap.capid, "example:echo");
    }

    #[test]
    fn tampered_and_foreign_archives_are_refused() {
        let account = KeyPair::new_account();
        let provider = KeyPair::new_service();
        let par = pack(b"bin", "sparc-plan9", claims(&provider.public_key()), &account, false).unwrap();
        let e = ProviderArchive::parse(&par, 100).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::NoTarget, .. }), "{e}");
        assert!(e.to_string().contains("no executable for this machine"), "{e}");

        let mut c = claims(&provider.public_key());
        c.iss = account.public_key();
        let jwt = sign_jwt(&c, &account).unwrap();
        let header = lattice_proto::jwt::HEADER_B64;
        let forged = jwt.replace(&jwt[header.len() + 1..header.len() + 5], "AAAA");
        assert!(verify_jwt(&forged, 100).is_err());
        assert!(verify_jwt(&jwt, 100).is_ok());
        c.exp = Some(50);
        let e = verify_jwt(&sign_jwt(&c, &account).unwrap(), 100).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::Claims, .. }), "{e}");
        assert!(e.to_string().contains("expired"));
    }

    #[test]
    fn an_executable_the_claims_do_not_list_is_refused() {
        let account = KeyPair::new_account();
        let provider = KeyPair::new_service();
        // Signed for another target only, then this machine's executable slipped in.
        let mut claims = claims(&provider.public_key());
        claims.iss = account.public_key();
        claims.wascap.target_hashes.insert("sparc-plan9".into(), HEXUPPER.encode(&Sha256::digest(b"x")));
        let jwt = sign_jwt(&claims, &account).unwrap();
        let mut tar = Vec::new();
        write_tar_entry(&mut tar, CLAIMS_ENTRY, jwt.as_bytes(), 0o644).unwrap();
        write_tar_entry(&mut tar, "sparc-plan9.bin", b"x", 0o755).unwrap();
        write_tar_entry(&mut tar, &format!("{}.bin", current_target()), b"evil", 0o755).unwrap();
        tar.extend_from_slice(&[0u8; BLOCK * 2]);
        let e = ProviderArchive::parse(&tar, 100).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::Tampered, .. }), "{e}");
        assert!(e.to_string().contains("list no hash"), "{e}");
        let contents = ArchiveContents::read(&tar).unwrap();
        assert_eq!(contents.targets.len(), 2);
        assert!(contents.verify(100).unwrap_err().to_string().contains("list no hash"));
        assert_eq!(contents.decode_claims().unwrap().sub, provider.public_key());
    }

    /// A tar header for `name` claiming `size` bytes, without its data (what a bomb's
    /// header says; the data may follow or not).
    fn header_claiming(name: &str, size: u64) -> Vec<u8> {
        let mut tar = Vec::new();
        write_tar_entry(&mut tar, name, b"", 0o755).unwrap();
        let text = format!("{size:011o}");
        tar[124..135].copy_from_slice(text.as_bytes());
        tar
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        gz.finish().unwrap()
    }

    /// A signed archive for this machine (claims listing it), as a tar without the end
    /// marker, so that more entries can be appended.
    fn signed_tar(binary: &[u8]) -> Vec<u8> {
        signed_tar_for(&current_target(), binary)
    }

    fn signed_tar_for(target: &str, binary: &[u8]) -> Vec<u8> {
        let account = KeyPair::new_account();
        let provider = KeyPair::new_service();
        let mut tar = pack(binary, target, claims(&provider.public_key()), &account, false).unwrap();
        tar.truncate(tar.len() - BLOCK * 2);
        tar
    }

    #[test]
    fn a_huge_entry_for_another_target_after_ours_is_never_decompressed() {
        // This machine's executable, then a 1 GiB gzip bomb under another target's name:
        // 64 MiB of real zeros follow its header (the rest never matters), gzipped.
        let mut tar = signed_tar(b"#!/bin/sh\necho hi\n");
        tar.extend(header_claiming("sparc-plan9.bin", 1 << 30));
        tar.resize(tar.len() + (64 << 20), 0);
        let par = gzip(&tar);
        // Parsing stops once it has the claims and this target: the bomb's header, which
        // alone would trip the cap, is never read.
        let archive = ProviderArchive::parse(&par, 100).unwrap();
        assert_eq!(archive.binary, b"#!/bin/sh\necho hi\n");
        // Reading everything (what `lattice par inspect` does) reaches it and refuses it
        // from its header, before decompressing its data.
        let e = ArchiveContents::read(&par).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::TooLarge, .. }), "{e}");
        assert!(e.to_string().contains("sparc-plan9.bin holds 1073741824 bytes"), "{e}");
    }

    #[test]
    fn a_foreign_entry_before_ours_counts_against_the_cap() {
        let mut tar = header_claiming("sparc-plan9.bin", MAX_UNPACKED);
        tar.extend(signed_tar(b"bin"));
        let e = ProviderArchive::parse(&gzip(&tar), 100).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::TooLarge, .. }), "{e}");
        assert!(e.to_string().contains("unpacks to more than"), "{e}");
    }

    #[test]
    fn this_targets_entry_over_the_cap_is_refused_with_a_typed_error() {
        // This machine's executable claiming 513 MiB, after the claims (and another
        // target) or before them: refused from its header, before its data (16 MiB of
        // zeros here; what follows never matters) is decompressed.
        let mut tar = signed_tar_for("sparc-plan9", b"bin");
        let mut bomb = header_claiming(&format!("{}.bin", current_target()), MAX_UNPACKED + (1 << 20));
        bomb.resize(bomb.len() + (16 << 20), 0);
        let mut bomb_first = bomb.clone();
        bomb_first.extend(&tar);
        tar.extend(bomb);
        for archive in [gzip(&bomb_first), gzip(&tar)] {
            let e = ProviderArchive::parse(&archive, 100).unwrap_err();
            assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::TooLarge, .. }), "{e}");
            assert_eq!(e.kind(), "archive");
        }
        // A header claiming little over a short stream: truncated, typed too.
        let mut short = signed_tar(b"bin");
        short.truncate(short.len() - 100);
        let e = ProviderArchive::parse(&short, 100).unwrap_err();
        assert!(matches!(e, HostError::Archive { problem: ArchiveProblem::Malformed, .. }), "{e}");
    }
}
