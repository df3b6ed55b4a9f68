//! The local artifact cache: pulled artifacts kept by **manifest digest** in the host's
//! state directory, so a second start needs no network.
//!
//! Layout under `{state}/oci/`:
//! - `sha256:{hex}/manifest.json` — the manifest exactly as the registry sent it;
//! - `sha256:{hex}/artifact` — the layers, concatenated (what 0.82 runs);
//! - `tags/{sha256 of "registry/repo:tag"}` — the digest a tag last resolved to (and the
//!   tag, for people reading the directory).
//!
//! Entries are written to temp files and renamed into place, so a crash or a second host
//! sharing the directory never leaves a half-written entry under its final name. Every
//! read **re-verifies**: the manifest must hash to the directory's digest and each layer's
//! bytes to its descriptor's digest, so a cache edited on disk is refused like a registry
//! that sends the wrong bytes.

use std::path::{Path, PathBuf};

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::error::{OciError, cache_err};
use crate::manifest::{self, ArtifactKind, Plan, SizeCaps};
use crate::reference::{OciRef, is_sha256_digest};

/// `sha256:` + lower-case hex of the SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", HEXLOWER.encode(&Sha256::digest(bytes)))
}

/// A verified artifact read from the cache.
#[derive(Clone, Debug)]
pub struct CachedArtifact {
    /// The manifest digest.
    pub digest: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// The artifact file (layers concatenated).
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The cache rooted at `{state}/oci`.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache under `state_dir` (`{state_dir}/oci`); created on first write.
    pub fn new(state_dir: &Path) -> Self {
        Self { root: state_dir.join("oci") }
    }

    /// Its root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the artifact with manifest digest `digest`.
    pub fn entry_dir(&self, digest: &str) -> PathBuf {
        self.root.join(digest)
    }

    fn tag_path(&self, tag_key: &str) -> PathBuf {
        self.root.join("tags").join(HEXLOWER.encode(&Sha256::digest(tag_key.as_bytes())))
    }

    /// The digest `reference`'s tag last resolved to, if any.
    pub fn tag_digest(&self, reference: &OciRef) -> Option<String> {
        let key = reference.tag_key()?;
        let text = std::fs::read_to_string(self.tag_path(&key)).ok()?;
        let digest = text.lines().next()?.trim().to_owned();
        is_sha256_digest(&digest).then_some(digest)
    }

    /// Remember that `reference`'s tag resolved to `digest`.
    pub fn set_tag(&self, reference: &OciRef, digest: &str) -> Result<(), OciError> {
        let Some(key) = reference.tag_key() else { return Ok(()) };
        let path = self.tag_path(&key);
        write_atomic(&path, format!("{digest}\n{key}\n").as_bytes())
    }

    /// Read and verify the artifact with manifest digest `digest`; `Ok(None)` when it is not
    /// cached. A present but damaged entry is an error ([`OciError::DigestMismatch`] or
    /// [`OciError::Cache`]) — never silently used.
    pub fn load(
        &self,
        reference: &OciRef,
        digest: &str,
        expect: Option<ArtifactKind>,
        caps: &SizeCaps,
    ) -> Result<Option<CachedArtifact>, OciError> {
        if !is_sha256_digest(digest) {
            return Ok(None);
        }
        let dir = self.entry_dir(digest);
        let manifest_path = dir.join("manifest.json");
        let artifact_path = dir.join("artifact");
        if !manifest_path.is_file() || !artifact_path.is_file() {
            return Ok(None);
        }
        let manifest_bytes = read_capped(&manifest_path, manifest::MAX_MANIFEST_BYTES as u64)?;
        let actual = sha256_digest(&manifest_bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: format!("the cached manifest {}", manifest_path.display()),
                expected: digest.to_owned(),
                actual,
            });
        }
        let plan = manifest::check(&manifest_bytes, expect, caps).map_err(|p| crate::pull::problem(reference, p))?;
        let bytes = read_capped(&artifact_path, plan.total)?;
        verify_layers(reference, &plan, &bytes, "cached ")?;
        Ok(Some(CachedArtifact { digest: digest.to_owned(), kind: plan.kind, path: artifact_path, bytes }))
    }

    /// Store a verified artifact: its manifest bytes (hashing to `digest`) and the layers'
    /// bytes concatenated. Returns the artifact file.
    pub fn store(&self, digest: &str, manifest_bytes: &[u8], artifact: &[u8]) -> Result<PathBuf, OciError> {
        let dir = self.entry_dir(digest);
        std::fs::create_dir_all(&dir).map_err(|e| cache_err(&dir, e))?;
        let artifact_path = dir.join("artifact");
        write_atomic(&artifact_path, artifact)?;
        // The manifest goes last: an entry counts as present only once both files are there.
        write_atomic(&dir.join("manifest.json"), manifest_bytes)?;
        Ok(artifact_path)
    }
}

/// Check that `bytes` is exactly the plan's layers, each hashing to its digest.
pub(crate) fn verify_layers(reference: &OciRef, plan: &Plan, bytes: &[u8], origin: &str) -> Result<(), OciError> {
    if bytes.len() as u64 != plan.total {
        return Err(OciError::DigestMismatch {
            reference: reference.to_string(),
            what: format!("the {origin}artifact ({} bytes, the manifest says {})", bytes.len(), plan.total),
            expected: plan.layers.first().map(|l| l.digest.clone()).unwrap_or_default(),
            actual: sha256_digest(bytes),
        });
    }
    let mut offset = 0usize;
    for (i, layer) in plan.layers.iter().enumerate() {
        let len = usize::try_from(layer.size).unwrap_or(usize::MAX);
        let end = offset.saturating_add(len).min(bytes.len());
        let actual = sha256_digest(&bytes[offset..end]);
        if actual != layer.digest {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: format!("{origin}layer {i}"),
                expected: layer.digest.clone(),
                actual,
            });
        }
        offset = end;
    }
    Ok(())
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, OciError> {
    let len = std::fs::metadata(path).map_err(|e| cache_err(path, e))?.len();
    if len > cap {
        return Err(cache_err(path, format!("{len} bytes, more than expected ({cap})")));
    }
    std::fs::read(path).map_err(|e| cache_err(path, e))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| cache_err(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    std::fs::write(&tmp, bytes).map_err(|e| cache_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| cache_err(path, e))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::manifest::{ACTOR_CONFIG, ACTOR_LAYER, OCI_MANIFEST};

    fn manifest_for(layer: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": ACTOR_CONFIG, "digest": sha256_digest(b"{}"), "size": 2},
            "layers": [{"mediaType": ACTOR_LAYER, "digest": sha256_digest(layer), "size": layer.len()}],
        }))
        .unwrap()
    }

    #[test]
    fn stored_artifacts_load_verified_and_tags_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let r = OciRef::parse("localhost:5000/echo:0.1.0").unwrap();
        let m = manifest_for(b"\0asm-bytes");
        let digest = sha256_digest(&m);
        assert!(cache.load(&r, &digest, None, &SizeCaps::default()).unwrap().is_none());
        let path = cache.store(&digest, &m, b"\0asm-bytes").unwrap();
        assert_eq!(path, dir.path().join("oci").join(&digest).join("artifact"));
        let got = cache.load(&r, &digest, Some(ArtifactKind::Actor), &SizeCaps::default()).unwrap().unwrap();
        assert_eq!(got.bytes, b"\0asm-bytes");
        assert_eq!(cache.tag_digest(&r), None);
        cache.set_tag(&r, &digest).unwrap();
        assert_eq!(cache.tag_digest(&r).as_deref(), Some(digest.as_str()));
        assert_eq!(cache.tag_digest(&OciRef::parse("localhost:5000/echo:0.2.0").unwrap()), None);
    }

    #[test]
    fn a_cache_edited_on_disk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let r = OciRef::parse("localhost:5000/echo:0.1.0").unwrap();
        let m = manifest_for(b"\0asm-bytes");
        let digest = sha256_digest(&m);
        let path = cache.store(&digest, &m, b"\0asm-bytes").unwrap();
        std::fs::write(&path, b"\0asm-BYTES").unwrap();
        let e = cache.load(&r, &digest, None, &SizeCaps::default()).unwrap_err();
        assert_eq!(e.kind(), "digest_mismatch", "{e}");
        std::fs::write(&path, b"\0asm-bytes").unwrap();
        std::fs::write(cache.entry_dir(&digest).join("manifest.json"), b"{}").unwrap();
        let e = cache.load(&r, &digest, None, &SizeCaps::default()).unwrap_err();
        assert_eq!(e.kind(), "digest_mismatch", "{e}");
    }
}
