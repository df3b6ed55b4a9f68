//! [`OciError`]: every way resolving, pulling, caching or pushing an OCI artifact fails, one
//! variant per cause an operator has to tell apart (CONVENTIONS "References a host
//! resolves"): a bad reference, `:latest` refused, the registry unreachable, unauthorized,
//! not found, the wrong media type, a digest mismatch, too large. Each message names the
//! reference and fits on one line.

use std::path::PathBuf;

use thiserror::Error;

/// Why an OCI operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OciError {
    /// The text is not an OCI reference Lattice accepts.
    #[error("bad OCI reference '{reference}': {reason}")]
    BadReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `:latest` (or no tag, which means `:latest`) without `--allow-latest`.
    #[error(
        "{reference}: pulling tag 'latest' (or a reference without a tag) is refused; pin a version or a digest, or allow it with --allow-latest"
    )]
    LatestRefused {
        /// The reference.
        reference: String,
    },
    /// The registry did not answer (connection refused, DNS, TLS, timeout).
    #[error("{reference}: registry {registry} unreachable: {reason}")]
    Unreachable {
        /// The reference.
        reference: String,
        /// The registry authority.
        registry: String,
        /// The transport error.
        reason: String,
    },
    /// The registry refused the credentials (or wants some).
    #[error("{reference}: unauthorized by registry {registry} (missing or wrong credentials)")]
    Unauthorized {
        /// The reference.
        reference: String,
        /// The registry authority.
        registry: String,
    },
    /// The repository, tag, digest or a blob does not exist.
    #[error("{reference}: not found in the registry: {reason}")]
    NotFound {
        /// The reference.
        reference: String,
        /// What the registry said.
        reason: String,
    },
    /// The manifest or its layers are not what an actor or provider archive is pushed as.
    #[error("{reference}: wrong media type: {reason}")]
    WrongMediaType {
        /// The reference.
        reference: String,
        /// Which type, and what was expected.
        reason: String,
    },
    /// What was received does not hash to the digest that names it.
    #[error("{reference}: digest mismatch for {what}: expected {expected}, got {actual} (refused, nothing was run)")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The manifest or which layer.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A descriptor (or what the registry sent) is larger than the configured cap.
    #[error("{reference}: {what} is {size} bytes, more than the cap of {cap} bytes")]
    TooLarge {
        /// The reference.
        reference: String,
        /// What was too large.
        what: String,
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The manifest does not parse or breaks the OCI rules.
    #[error("{reference}: invalid manifest: {reason}")]
    BadManifest {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other registry answer (5xx, protocol violations).
    #[error("{reference}: registry error: {reason}")]
    Registry {
        /// The reference.
        reference: String,
        /// The error.
        reason: String,
    },
    /// Reading or writing the local cache failed.
    #[error("OCI cache {path}: {reason}")]
    Cache {
        /// The path involved.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The artifact to push is neither a signed actor module nor a provider archive.
    #[error("{path}: {reason}")]
    BadArtifact {
        /// The file.
        path: PathBuf,
        /// Why it cannot be pushed.
        reason: String,
    },
}

impl OciError {
    /// A short machine-readable name of the cause (`unreachable`, `unauthorized`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            OciError::BadReference { .. } => "bad_reference",
            OciError::LatestRefused { .. } => "latest_refused",
            OciError::Unreachable { .. } => "unreachable",
            OciError::Unauthorized { .. } => "unauthorized",
            OciError::NotFound { .. } => "not_found",
            OciError::WrongMediaType { .. } => "wrong_media_type",
            OciError::DigestMismatch { .. } => "digest_mismatch",
            OciError::TooLarge { .. } => "too_large",
            OciError::BadManifest { .. } => "bad_manifest",
            OciError::Registry { .. } => "registry",
            OciError::Cache { .. } => "cache",
            OciError::BadArtifact { .. } => "bad_artifact",
        }
    }

    /// Whether the registry could not be reached at all (so a cached copy may stand in).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, OciError::Unreachable { .. })
    }

    /// Whether the error is in the request itself (refusable before any network traffic).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, OciError::BadReference { .. } | OciError::LatestRefused { .. })
    }
}

pub(crate) fn cache_err(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> OciError {
    OciError::Cache { path: path.into(), reason: reason.to_string() }
}
