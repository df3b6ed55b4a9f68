//! wasmCloud 0.82 provider archives (`.par`, `.par.gz`): a tar holding `claims.jwt` (the
//! provider's signed wascap claims) and one executable per target, `{arch}-{os}.bin`
//! (e.g. `x86_64-linux.bin`).
//!
//! [`ProviderArchive::parse`] reads one (gunzipping first when the bytes start with the gzip
//! magic), verifies the claims JWT (header, Ed25519 signature by the `iss` account key,
//! `exp`/`nbf`, a `V…` subject) and picks this machine's executable, checking it against the
//! claims' `target_hashes` when they list it. [`pack`] writes one, so `lattice start
//! provider BIN --contract C` can send a bare executable to a host that only takes archives.
//!
//! The tar reader handles what the `provider-archive` crate writes (ustar/GNU headers,
//! regular files); it refuses anything it does not understand rather than guessing.

use std::collections::BTreeMap;
use std::io::Read;

use data_encoding::HEXUPPER;
use lattice_proto::jwt::{self as envelope, JwtError};
use nkeys::{KeyPair, KeyPairType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The tar entry holding the claims.
pub const CLAIMS_ENTRY: &str = "claims.jwt";
const BLOCK: usize = 512;
/// Refuse archives that unpack to more than this (a gzip bomb guard).
pub const MAX_UNPACKED: u64 = 512 * 1024 * 1024;

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
    /// Parse and verify an archive at time `now` (seconds since the epoch).
    pub fn parse(bytes: &[u8], now: u64) -> Result<Self, String> {
        let contents = ArchiveContents::read(bytes)?;
        let claims = verify_jwt(&contents.jwt, now)?;
        let target = current_target();
        let binary = contents.targets.get(&target).cloned().ok_or_else(|| {
            let have: Vec<_> = contents.targets.keys().map(String::as_str).collect();
            format!("the archive has no executable for this machine ({target}); it has: {}", have.join(", "))
        })?;
        check_target_hash(&claims, &target, &binary)?;
        Ok(Self { claims, target, binary, hash: contents.hash })
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
    /// Unpack an archive (`.par`, or gzipped `.par.gz`): its claims JWT and executables.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        let hash = crate::state_dir::sha256_hex(bytes);
        let tar = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .take(MAX_UNPACKED + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("not a valid gzip stream: {e}"))?;
            if out.len() as u64 > MAX_UNPACKED {
                return Err(format!("the archive unpacks to more than {MAX_UNPACKED} bytes"));
            }
            out
        } else {
            bytes.to_vec()
        };
        let mut entries = read_tar(&tar)?;
        let jwt = entries
            .remove(CLAIMS_ENTRY)
            .ok_or_else(|| format!("the archive has no {CLAIMS_ENTRY}"))
            .and_then(|b| String::from_utf8(b).map_err(|_| format!("{CLAIMS_ENTRY} is not UTF-8")))?;
        let targets: BTreeMap<String, Vec<u8>> = entries
            .into_iter()
            .filter_map(|(name, data)| name.strip_suffix(".bin").map(|t| (t.to_owned(), data)))
            .collect();
        if targets.is_empty() {
            return Err("the archive holds no executable (`{arch}-{os}.bin`)".into());
        }
        Ok(Self { jwt: jwt.trim().to_owned(), targets, hash })
    }

    /// The claims as written, without checking the signature or the hashes.
    pub fn decode_claims(&self) -> Result<ProviderClaims, String> {
        let segments =
            envelope::split(&self.jwt).map_err(|_| "malformed provider claims: a JWT has three segments".to_owned())?;
        segments.claims().map_err(|e| format!("malformed provider claims: {e}"))
    }

    /// Verify the claims (signature, issuer, subject, dates) and every executable against
    /// the claims' `target_hashes`.
    pub fn verify(&self, now: u64) -> Result<ProviderClaims, String> {
        let claims = verify_jwt(&self.jwt, now)?;
        for (target, binary) in &self.targets {
            check_target_hash(&claims, target, binary)?;
        }
        Ok(claims)
    }
}

/// The SHA-256 of `binary` must be the one the claims list for `target`: the claims
/// cover every executable (an executable they do not list was added after signing).
fn check_target_hash(claims: &ProviderClaims, target: &str, binary: &[u8]) -> Result<(), String> {
    let got = HEXUPPER.encode(&Sha256::digest(binary));
    match claims.wascap.target_hashes.get(target) {
        Some(want) if want.eq_ignore_ascii_case(&got) => Ok(()),
        Some(want) => Err(format!(
            "the {target} executable does not match its claims (hash {got}, claims say {want}): the archive was modified"
        )),
        None => Err(format!(
            "the claims list no hash for the {target} executable: it was added after the archive was signed"
        )),
    }
}

/// Decode and verify a provider claims JWT.
pub fn verify_jwt(jwt: &str, now: u64) -> Result<ProviderClaims, String> {
    // The one wascap envelope (lattice_proto::jwt): shape, header, claims, signature.
    let segments =
        envelope::split(jwt).map_err(|_| "malformed provider claims: a JWT has three segments".to_owned())?;
    segments.check_header().map_err(|e| match e {
        JwtError::Algorithm(_) => "provider claims are not signed with Ed25519".to_owned(),
        other => format!("malformed provider claims header: {other}"),
    })?;
    let claims: ProviderClaims = segments.claims().map_err(|e| format!("malformed provider claims: {e}"))?;
    let issuer = KeyPair::from_public_key(&claims.iss).map_err(|e| format!("bad issuer '{}': {e}", claims.iss))?;
    if issuer.key_pair_type() != KeyPairType::Account {
        return Err(format!("bad issuer '{}': provider claims are issued by an account key (A…)", claims.iss));
    }
    match KeyPair::from_public_key(&claims.sub) {
        Ok(kp) if kp.key_pair_type() == KeyPairType::Service => {}
        _ => return Err(format!("bad subject '{}': not a provider key (V…)", claims.sub)),
    }
    segments.verify_signature(&claims.iss).map_err(|e| match e {
        JwtError::BadSignature => {
            format!("bad signature: the provider claims do not verify against issuer {}", claims.iss)
        }
        other => format!("malformed provider claims signature: {other}"),
    })?;
    if let Some(exp) = claims.exp
        && now > exp
    {
        return Err(format!("provider claims expired at {exp}"));
    }
    if let Some(nbf) = claims.nbf
        && now < nbf
    {
        return Err(format!("provider claims are not valid before {nbf}"));
    }
    Ok(claims)
}

/// Sign `claims` with the account key `issuer` (wascap's JWT layout).
pub fn sign_jwt(claims: &ProviderClaims, issuer: &KeyPair) -> Result<String, String> {
    envelope::encode(claims, |input| issuer.sign(input)).map_err(|e| e.to_string())
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
) -> Result<Vec<u8>, String> {
    pack_targets(&[(target.to_owned(), binary.to_vec())], claims, issuer, gzip)
}

/// [`pack`] with one executable per target (`(target, binary)`, e.g. `("x86_64-linux", …)`).
pub fn pack_targets(
    binaries: &[(String, Vec<u8>)],
    mut claims: ProviderClaims,
    issuer: &KeyPair,
    gzip: bool,
) -> Result<Vec<u8>, String> {
    if binaries.is_empty() {
        return Err("a provider archive needs at least one executable".into());
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
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

fn octal(field: &[u8]) -> Result<u64, String> {
    let text: String = field.iter().take_while(|b| **b != 0).map(|b| *b as char).collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| format!("bad tar header field '{text}'"))
}

fn c_string(field: &[u8]) -> String {
    String::from_utf8_lossy(field.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

/// The regular files of a tar archive, by path (a leading `./` dropped).
fn read_tar(tar: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut entries = BTreeMap::new();
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + BLOCK <= tar.len() {
        let header = &tar[pos..pos + BLOCK];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let size = usize::try_from(octal(&header[124..136])?).map_err(|_| "tar entry too large".to_owned())?;
        let kind = header[156];
        let data_start = pos + BLOCK;
        let data_end = data_start.checked_add(size).filter(|e| *e <= tar.len()).ok_or("truncated tar archive")?;
        let data = &tar[data_start..data_end];
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
        match kind {
            b'0' | 0 => {
                let name = name.trim_start_matches("./").to_owned();
                entries.insert(name, data.to_vec());
            }
            b'L' => long_name = Some(c_string(data)),
            // Directories, links and pax headers carry nothing a provider needs.
            _ => {}
        }
        pos = data_start + size.div_ceil(BLOCK) * BLOCK;
    }
    Ok(entries)
}

fn write_tar_entry(out: &mut Vec<u8>, name: &str, data: &[u8], mode: u32) -> Result<(), String> {
    if name.len() >= 100 {
        return Err(format!("tar entry name too long: {name}"));
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
        assert!(e.contains("no executable for this machine"), "{e}");

        let mut c = claims(&provider.public_key());
        c.iss = account.public_key();
        let jwt = sign_jwt(&c, &account).unwrap();
        let header = lattice_proto::jwt::HEADER_B64;
        let forged = jwt.replace(&jwt[header.len() + 1..header.len() + 5], "AAAA");
        assert!(verify_jwt(&forged, 100).is_err());
        assert!(verify_jwt(&jwt, 100).is_ok());
        c.exp = Some(50);
        assert!(verify_jwt(&sign_jwt(&c, &account).unwrap(), 100).unwrap_err().contains("expired"));
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
        assert!(e.contains("list no hash"), "{e}");
        let contents = ArchiveContents::read(&tar).unwrap();
        assert_eq!(contents.targets.len(), 2);
        assert!(contents.verify(100).unwrap_err().contains("list no hash"));
        assert_eq!(contents.decode_claims().unwrap().sub, provider.public_key());
    }
}
