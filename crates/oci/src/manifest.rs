//! Checking an OCI image manifest received from a registry (untrusted bytes) before any
//! layer is downloaded: what kind of artifact it is, by 0.82's media types, and how large.
//!
//! [`check`] decodes the manifest (bounded: [`MAX_MANIFEST_BYTES`]), requires schema
//! version 2, an image manifest (not an index), one to [`MAX_LAYERS`] layers whose media
//! types all belong to one artifact kind, `sha256` digests everywhere, non-negative sizes,
//! and a total layer size within the cap for that kind. The result, [`Plan`], lists the
//! layers to fetch. A cargo-fuzz target (`fuzz/fuzz_targets/oci_manifest.rs`) drives it.
//!
//! Media types (HOST.md §9, wash-lib 0.82 `registry.rs`):
//! - actor: layer [`ACTOR_LAYER`] (or the generic [`OCI_TAR_LAYER`]), config [`ACTOR_CONFIG`];
//! - provider archive: layer [`PROVIDER_LAYER`] (or [`OCI_TAR_LAYER`]), config
//!   [`PROVIDER_CONFIG`].
//!
//! With only the generic tar layer, the config's media type decides; a config of the other
//! kind's type is refused as the wrong media type.

use oci_client::manifest::OciImageManifest;
use serde::Deserialize;

use crate::reference::is_sha256_digest;

/// Layer media type of an actor module (wash 0.82).
pub const ACTOR_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// Config media type of an actor (wash 0.82).
pub const ACTOR_CONFIG: &str = "application/vnd.wasmcloud.actor.archive.config";
/// Layer media type of a provider archive (`.par.gz`, wash 0.82).
pub const PROVIDER_LAYER: &str = "application/vnd.wasmcloud.provider.archive.layer.v1+par";
/// Config media type of a provider archive (wash 0.82).
pub const PROVIDER_CONFIG: &str = "application/vnd.wasmcloud.provider.archive.config";
/// The generic OCI tar layer 0.82 also accepts for both kinds.
pub const OCI_TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The Docker v2 manifest media type (also an image manifest).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest accepted (the distribution registry itself caps them at 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// The most layers an artifact may have (wash pushes one).
pub const MAX_LAYERS: usize = 16;

/// Default cap of an actor module: 64 MiB.
pub const DEFAULT_ACTOR_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default cap of a provider archive: 256 MiB.
pub const DEFAULT_ARCHIVE_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// What an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A signed wasm actor module.
    Actor,
    /// A provider archive (`.par` / `.par.gz`).
    Provider,
}

impl ArtifactKind {
    /// The layer media type pushes use.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            ArtifactKind::Actor => ACTOR_LAYER,
            ArtifactKind::Provider => PROVIDER_LAYER,
        }
    }

    /// The config media type pushes use.
    pub fn config_media_type(self) -> &'static str {
        match self {
            ArtifactKind::Actor => ACTOR_CONFIG,
            ArtifactKind::Provider => PROVIDER_CONFIG,
        }
    }

    /// `actor` or `provider archive`.
    pub fn noun(self) -> &'static str {
        match self {
            ArtifactKind::Actor => "actor",
            ArtifactKind::Provider => "provider archive",
        }
    }

    /// `actor` or `provider` (machine-readable).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Actor => "actor",
            ArtifactKind::Provider => "provider",
        }
    }
}

/// Size caps by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeCaps {
    /// Largest actor module (sum of its layers).
    pub actor: u64,
    /// Largest provider archive (sum of its layers).
    pub archive: u64,
}

impl Default for SizeCaps {
    fn default() -> Self {
        Self { actor: DEFAULT_ACTOR_MAX_BYTES, archive: DEFAULT_ARCHIVE_MAX_BYTES }
    }
}

impl SizeCaps {
    /// The cap for `kind`.
    pub fn for_kind(&self, kind: ArtifactKind) -> u64 {
        match kind {
            ArtifactKind::Actor => self.actor,
            ArtifactKind::Provider => self.archive,
        }
    }
}

/// One layer to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:…`.
    pub digest: String,
    /// Its size from the descriptor.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// A manifest that passed [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What the artifact is.
    pub kind: ArtifactKind,
    /// The layers, in order (the artifact is their concatenation, as 0.82 takes it).
    pub layers: Vec<Layer>,
    /// The sum of the layer sizes.
    pub total: u64,
    /// The config's media type.
    pub config_media_type: String,
}

impl Plan {
    /// The descriptors as oci-client wants them, for fetching.
    pub(crate) fn descriptor(layer: &Layer) -> oci_client::manifest::OciDescriptor {
        oci_client::manifest::OciDescriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: i64::try_from(layer.size).unwrap_or(i64::MAX),
            ..Default::default()
        }
    }
}

/// Why a manifest was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestProblem {
    /// It does not parse or breaks the OCI rules.
    Invalid(String),
    /// Its media types are not an actor's or provider archive's (or not the expected one).
    WrongMediaType(String),
    /// It (or the sum of its layers) is larger than the cap.
    TooLarge {
        /// What.
        what: String,
        /// How large.
        size: u64,
        /// The cap.
        cap: u64,
    },
}

/// Only the key that tells an index from an image manifest.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

fn layer_kind(media_type: &str) -> Option<Option<ArtifactKind>> {
    match media_type {
        ACTOR_LAYER => Some(Some(ArtifactKind::Actor)),
        PROVIDER_LAYER => Some(Some(ArtifactKind::Provider)),
        OCI_TAR_LAYER => Some(None),
        _ => None,
    }
}

fn config_kind(media_type: &str) -> Option<ArtifactKind> {
    match media_type {
        ACTOR_CONFIG => Some(ArtifactKind::Actor),
        PROVIDER_CONFIG => Some(ArtifactKind::Provider),
        _ => None,
    }
}

/// Check a manifest's bytes; `expect` is the kind the caller wants (`None`: either).
pub fn check(bytes: &[u8], expect: Option<ArtifactKind>, caps: &SizeCaps) -> Result<Plan, ManifestProblem> {
    use ManifestProblem::{Invalid, WrongMediaType};
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestProblem::TooLarge {
            what: "the manifest".into(),
            size: bytes.len() as u64,
            cap: MAX_MANIFEST_BYTES as u64,
        });
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Invalid(format!("not a JSON manifest: {e}")))?;
    if probe.manifests.is_some() {
        return Err(WrongMediaType(
            "an image index (multi-platform), not an actor or provider archive manifest".into(),
        ));
    }
    if let Some(mt) = &probe.media_type
        && mt != OCI_MANIFEST
        && mt != DOCKER_MANIFEST
    {
        return Err(WrongMediaType(format!("manifest media type {mt:?} is not an image manifest")));
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(bytes).map_err(|e| Invalid(format!("not an image manifest: {e}")))?;
    if manifest.schema_version != 2 {
        return Err(Invalid(format!("schema version {} (only 2 exists)", manifest.schema_version)));
    }
    if manifest.layers.is_empty() {
        return Err(Invalid("no layers".into()));
    }
    if manifest.layers.len() > MAX_LAYERS {
        return Err(Invalid(format!("{} layers (at most {MAX_LAYERS})", manifest.layers.len())));
    }
    let config_type = manifest.config.media_type.clone();
    if !is_sha256_digest(&manifest.config.digest) {
        return Err(Invalid(format!("config digest {:?} is not sha256:<64 hex>", manifest.config.digest)));
    }
    let mut kind = config_kind(&config_type);
    let mut layers = Vec::with_capacity(manifest.layers.len());
    let mut total: u64 = 0;
    for (i, layer) in manifest.layers.iter().enumerate() {
        let Some(this) = layer_kind(&layer.media_type) else {
            return Err(WrongMediaType(format!(
                "layer {i} has media type {:?}; an actor is {ACTOR_LAYER}, a provider archive {PROVIDER_LAYER}",
                layer.media_type
            )));
        };
        if let Some(this) = this {
            match kind {
                Some(k) if k != this => {
                    return Err(WrongMediaType(format!(
                        "layer {i} is a {} layer but the artifact is a {} (config {config_type:?})",
                        this.noun(),
                        k.noun()
                    )));
                }
                _ => kind = Some(this),
            }
        }
        if !is_sha256_digest(&layer.digest) {
            return Err(Invalid(format!("layer {i} digest {:?} is not sha256:<64 hex>", layer.digest)));
        }
        let size = u64::try_from(layer.size).map_err(|_| Invalid(format!("layer {i} has a negative size")))?;
        total = total.checked_add(size).ok_or_else(|| Invalid("layer sizes overflow".into()))?;
        layers.push(Layer { digest: layer.digest.clone(), size, media_type: layer.media_type.clone() });
    }
    let kind = match (kind, expect) {
        (Some(k), Some(e)) if k != e => {
            return Err(WrongMediaType(format!(
                "this is a {}, not a {} (layer/config media types)",
                k.noun(),
                e.noun()
            )));
        }
        (Some(k), _) => k,
        (None, Some(e)) => e,
        (None, None) => {
            return Err(WrongMediaType(format!(
                "generic tar layers with config {config_type:?}: cannot tell an actor from a provider archive"
            )));
        }
    };
    let cap = caps.for_kind(kind);
    if total > cap {
        return Err(ManifestProblem::TooLarge {
            what: format!("the {} (sum of its layers)", kind.noun()),
            size: total,
            cap,
        });
    }
    Ok(Plan { kind, layers, total, config_media_type: config_type })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn manifest(config: &str, layers: &[(&str, i64)]) -> Vec<u8> {
        let layers: Vec<_> =
            layers.iter().map(|(mt, size)| serde_json::json!({"mediaType": mt, "digest": D2, "size": size})).collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config, "digest": D1, "size": 2},
            "layers": layers,
        }))
        .unwrap()
    }

    #[test]
    fn wash_pushed_manifests_are_recognised() {
        let caps = SizeCaps::default();
        let plan = check(&manifest(ACTOR_CONFIG, &[(ACTOR_LAYER, 10)]), None, &caps).unwrap();
        assert_eq!((plan.kind, plan.total, plan.layers.len()), (ArtifactKind::Actor, 10, 1));
        let plan = check(&manifest(PROVIDER_CONFIG, &[(PROVIDER_LAYER, 20)]), Some(ArtifactKind::Provider), &caps);
        assert_eq!(plan.unwrap().kind, ArtifactKind::Provider);
        // a generic tar layer: the config decides, or the caller's expectation
        let plan = check(
            &manifest("application/vnd.oci.image.config.v1+json", &[(OCI_TAR_LAYER, 1)]),
            Some(ArtifactKind::Actor),
            &caps,
        );
        assert_eq!(plan.unwrap().kind, ArtifactKind::Actor);
    }

    #[test]
    fn the_wrong_kind_is_a_media_type_error() {
        let caps = SizeCaps::default();
        let e =
            check(&manifest(PROVIDER_CONFIG, &[(PROVIDER_LAYER, 1)]), Some(ArtifactKind::Actor), &caps).unwrap_err();
        assert!(
            matches!(e, ManifestProblem::WrongMediaType(ref m) if m.contains("not a actor") || m.contains("not a")),
            "{e:?}"
        );
        let e = check(&manifest(ACTOR_CONFIG, &[("application/vnd.oci.image.layer.v1.tar+gzip", 1)]), None, &caps);
        assert!(matches!(e, Err(ManifestProblem::WrongMediaType(_))));
        let e = check(&manifest(ACTOR_CONFIG, &[(PROVIDER_LAYER, 1)]), None, &caps);
        assert!(matches!(e, Err(ManifestProblem::WrongMediaType(_))));
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(check(index, None, &caps), Err(ManifestProblem::WrongMediaType(_))));
    }

    #[test]
    fn sizes_are_capped_before_download() {
        let caps = SizeCaps { actor: 100, archive: 1000 };
        let e = check(&manifest(ACTOR_CONFIG, &[(ACTOR_LAYER, 60), (ACTOR_LAYER, 41)]), None, &caps).unwrap_err();
        assert_eq!(e, ManifestProblem::TooLarge { what: "the actor (sum of its layers)".into(), size: 101, cap: 100 });
        assert!(check(&manifest(PROVIDER_CONFIG, &[(PROVIDER_LAYER, 101)]), None, &caps).is_ok());
        let e = check(&manifest(ACTOR_CONFIG, &[(ACTOR_LAYER, -1)]), None, &caps).unwrap_err();
        assert!(matches!(e, ManifestProblem::Invalid(_)));
        let e = check(
            &manifest(ACTOR_CONFIG, &[(ACTOR_LAYER, i64::MAX), (ACTOR_LAYER, i64::MAX), (ACTOR_LAYER, i64::MAX)]),
            None,
            &caps,
        );
        assert!(matches!(e, Err(ManifestProblem::Invalid(_))));
    }

    #[test]
    fn malformed_manifests_are_invalid() {
        let caps = SizeCaps::default();
        for bytes in [&b""[..], b"[]", b"{}", br#"{"schemaVersion":1,"config":{},"layers":[]}"#] {
            assert!(matches!(check(bytes, None, &caps), Err(ManifestProblem::Invalid(_))), "{bytes:?}");
        }
        let no_layers = manifest(ACTOR_CONFIG, &[]);
        assert!(matches!(check(&no_layers, None, &caps), Err(ManifestProblem::Invalid(_))));
    }
}
