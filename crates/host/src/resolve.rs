//! The one place where a reference an operator gave (manifest `path`, `lattice start`, the
//! control interface's `scale_actor` / `start_provider`) becomes bytes to run.
//!
//! [`classify`] tells the two kinds apart (CONVENTIONS "References a host resolves"):
//! - **OCI references** — `oci://…` and the bare `host[:port]/repo:tag|@sha256:…` forms
//!   ([`lattice_oci::is_oci_reference`]) — are pulled through the host's
//!   [`lattice_oci::Registries`]: digest-verified, size-capped, cached by digest in the state
//!   directory (`{state}/oci/{digest}`), `:latest` refused unless allowed;
//! - everything else is a local file (a path or `file://`, [`crate::provider::local_path`]).
//!
//! [`check`] is what can be refused before a control command is acked (a malformed
//! reference, `:latest` without `--allow-latest`, a missing local file); [`fetch`] does the
//! work. Both return [`HostError`]s whose text names the reference and the cause, on one line.
//! Local files are read through [`crate::load_policy::read_local_file`] (stat and size
//! check first); the control interface's extra rule for them is in `host_target.rs`.
//! Whoever adds another source adds it here.

use std::path::PathBuf;

use lattice_oci::{ArtifactKind, OciRef, PullSource, Registries};

use crate::error::HostError;
use crate::provider;

/// Where a reference points.
#[derive(Clone, Debug)]
pub enum Source {
    /// A local file.
    Local(PathBuf),
    /// An artifact in an OCI registry.
    Oci(OciRef),
}

/// Classify `reference` (no I/O).
pub fn classify(reference: &str) -> Result<Source, HostError> {
    if lattice_oci::is_oci_reference(reference) {
        return Ok(Source::Oci(OciRef::parse(reference)?));
    }
    provider::local_path(reference).map(Source::Local)
}

/// Refuse what can be refused at once: a malformed reference, `:latest` when not allowed,
/// a local file that does not exist.
pub fn check(registries: &Registries, reference: &str) -> Result<Source, HostError> {
    let source = classify(reference)?;
    match &source {
        Source::Oci(r) => registries.check_request(r)?,
        Source::Local(path) => {
            if !path.is_file() {
                return Err(HostError::Reference {
                    reference: reference.to_owned(),
                    reason: format!("no such file: {}", path.display()),
                });
            }
        }
    }
    Ok(source)
}

/// The bytes a reference resolved to.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The file they are in (the local file, or the cached artifact).
    pub path: PathBuf,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// For an OCI reference: the manifest digest.
    pub digest: Option<String>,
}

/// Read a local reference or pull an OCI one (as a `kind`).
pub async fn fetch(registries: &Registries, reference: &str, kind: ArtifactKind) -> Result<Fetched, HostError> {
    match classify(reference)? {
        Source::Local(path) => {
            // Stat and size-check before reading (crate::load_policy).
            let (owned, file) = (reference.to_owned(), path.clone());
            let bytes = tokio::task::spawn_blocking(move || crate::load_policy::read_local_file(&owned, &file))
                .await
                .map_err(|e| HostError::Config(format!("file reader failed: {e}")))??;
            Ok(Fetched { path, bytes, digest: None })
        }
        Source::Oci(r) => {
            let pulled = registries.pull(&r, Some(kind)).await?;
            match &pulled.source {
                PullSource::Registry => {
                    tracing::info!(reference, digest = %pulled.digest, bytes = pulled.bytes.len(), "pulled from the registry");
                }
                PullSource::Cache => tracing::info!(reference, digest = %pulled.digest, "served from the OCI cache"),
                PullSource::CacheFallback(_) => {} // lattice-oci warned already
            }
            Ok(Fetched { path: pulled.path, bytes: pulled.bytes, digest: Some(pulled.digest) })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use std::path::Path;

    #[test]
    fn references_are_told_apart() {
        assert!(matches!(classify("localhost:5000/echo:0.1.0").unwrap(), Source::Oci(_)));
        assert!(matches!(classify("oci://registry.example/echo:0.1.0").unwrap(), Source::Oci(_)));
        assert!(matches!(classify("./echo.wasm").unwrap(), Source::Local(_)));
        assert!(matches!(classify("file:///x/echo.wasm").unwrap(), Source::Local(p) if p == Path::new("/x/echo.wasm")));
        let e = classify("oci://echo").unwrap_err();
        assert_eq!(e.kind(), "oci");
        assert!(e.to_string().contains("name the registry"), "{e}");
    }

    #[test]
    fn latest_and_missing_files_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let regs = Registries::new(lattice_oci::OciSettings::default(), dir.path());
        let e = check(&regs, "localhost:5000/echo").unwrap_err();
        assert!(e.to_string().contains("--allow-latest"), "{e}");
        assert!(check(&regs, "localhost:5000/echo:0.1.0").is_ok());
        let e = check(&regs, "/no/such/file.wasm").unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
    }
}
