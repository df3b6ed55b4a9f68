//! [`Registries`]: pulling and pushing actors and provider archives, with the settings and
//! credentials of the registries a host talks to.
//!
//! A pull ([`Registries::pull`]):
//! 1. refuses `:latest` unless allowed ([`OciSettings::allow_latest`]);
//! 2. a digest reference already cached is served from the cache — no network at all;
//! 3. otherwise fetches the manifest, checks it against the wanted kind and the size caps
//!    **before** any layer is downloaded ([`crate::manifest::check`]), and compares its
//!    SHA-256 with the reference's digest;
//! 4. serves the artifact from the cache if that manifest digest is there, else streams
//!    each layer, refusing more bytes than its descriptor announced, and verifies each
//!    layer's SHA-256 before anything is written to the cache;
//! 5. for a tag reference whose registry does not answer, falls back to the digest that
//!    tag resolved to last time (from the cache's tag index), with a warning.
//!
//! Credentials are kept per registry authority (`host[:port]`), as 0.82 keeps them: from
//! `--oci-registry`/`--oci-user`/`--oci-password` and the control interface's
//! `registries.put`. Registries listed in [`OciSettings::allowed_insecure`] are spoken to
//! over plain HTTP, all others over HTTPS (rustls on ring).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use lattice_proto::error::chain;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;

use crate::cache::{Cache, sha256_digest, verify_layers};
use crate::error::OciError;
use crate::manifest::{self, ArtifactKind, ManifestProblem, OCI_MANIFEST, Plan, SizeCaps};
use crate::reference::OciRef;

/// Default time to connect to a registry.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit of one whole pull or push (manifest and all layers).
pub const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);

/// How a host or tool talks to registries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciSettings {
    /// Accept `:latest` (and references without a tag). 0.82: `--allow-latest`.
    pub allow_latest: bool,
    /// Registries (`host:port`) spoken to over plain HTTP. 0.82: `--allowed-insecure`.
    pub allowed_insecure: Vec<String>,
    /// Size caps by artifact kind.
    pub caps: SizeCaps,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Limit of one whole pull or push.
    pub transfer_timeout: Duration,
}

impl Default for OciSettings {
    fn default() -> Self {
        Self {
            allow_latest: false,
            allowed_insecure: Vec::new(),
            caps: SizeCaps::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            transfer_timeout: DEFAULT_TRANSFER_TIMEOUT,
        }
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic authentication.
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
    /// A bearer token (0.82 accepted these on the wire but pulled anonymously).
    Token(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Token(_) => f.write_str("Token(***)"),
        }
    }
}

impl Credential {
    fn auth(&self) -> RegistryAuth {
        match self {
            Credential::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
            Credential::Token(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// Where a pulled artifact came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullSource {
    /// Downloaded now.
    Registry,
    /// The cache, after the registry confirmed the digest (or for a digest reference, with
    /// no network at all).
    Cache,
    /// The cache, because the registry did not answer: the tag's last known digest. The
    /// text is the warning to show.
    CacheFallback(String),
}

/// A pulled (or cached), verified artifact.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// The reference asked for.
    pub reference: OciRef,
    /// The manifest digest it resolved to.
    pub digest: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// The cached artifact file.
    pub path: PathBuf,
    /// The artifact's bytes (layers concatenated).
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub source: PullSource,
}

/// What a push stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest (pull `registry/repo@digest` to get exactly this).
    pub digest: String,
    /// The manifest URL the registry reported.
    pub manifest_url: String,
    /// The artifact's size.
    pub size: u64,
}

/// Registry settings, credentials per authority, and the cache.
#[derive(Clone, Debug)]
pub struct Registries {
    settings: OciSettings,
    cache: Cache,
    credentials: Arc<RwLock<BTreeMap<String, Credential>>>,
}

pub(crate) fn problem(reference: &OciRef, p: ManifestProblem) -> OciError {
    let reference = reference.to_string();
    match p {
        ManifestProblem::Invalid(reason) => OciError::BadManifest { reference, reason },
        ManifestProblem::WrongMediaType(reason) => OciError::WrongMediaType { reference, reason },
        ManifestProblem::TooLarge { what, size, cap } => OciError::TooLarge { reference, what, size, cap },
    }
}

/// Map oci-client's error to the cause an operator acts on.
fn classify(reference: &OciRef, e: OciDistributionError) -> OciError {
    let r = reference.to_string();
    let registry = reference.registry().to_owned();
    match e {
        OciDistributionError::RequestError(err) => {
            if err.is_connect() || err.is_timeout() {
                OciError::Unreachable { reference: r, registry, reason: chain(&err) }
            } else {
                OciError::Registry { reference: r, reason: chain(&err) }
            }
        }
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => {
            OciError::Unauthorized { reference: r, registry }
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let text = envelope.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
            if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                OciError::Unauthorized { reference: r, registry }
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                OciError::NotFound { reference: r, reason: text }
            } else {
                OciError::Registry { reference: r, reason: text }
            }
        }
        OciDistributionError::ServerError { code: 401 | 403, .. } => OciError::Unauthorized { reference: r, registry },
        OciDistributionError::ServerError { code: 404, message, .. } => {
            OciError::NotFound { reference: r, reason: message.chars().take(200).collect() }
        }
        OciDistributionError::ImageManifestNotFoundError(reason) => OciError::NotFound { reference: r, reason },
        OciDistributionError::DigestError(err) => OciError::DigestMismatch {
            reference: r,
            what: "the manifest".into(),
            expected: reference.digest().unwrap_or("(the registry's digest header)").to_owned(),
            actual: err.to_string(),
        },
        OciDistributionError::UnsupportedMediaTypeError(mt)
        | OciDistributionError::IncompatibleLayerMediaTypeError(mt) => {
            OciError::WrongMediaType { reference: r, reason: format!("media type {mt:?}") }
        }
        OciDistributionError::ManifestParsingError(reason) | OciDistributionError::VersionedParsingError(reason) => {
            OciError::BadManifest { reference: r, reason }
        }
        OciDistributionError::UnsupportedSchemaVersionError(v) => {
            OciError::BadManifest { reference: r, reason: format!("schema version {v}") }
        }
        other => OciError::Registry { reference: r, reason: chain(&other) },
    }
}

impl Registries {
    /// Registries with `settings`, caching under `{state_dir}/oci`.
    pub fn new(settings: OciSettings, state_dir: &std::path::Path) -> Self {
        let mut settings = settings;
        for host in &mut settings.allowed_insecure {
            *host = host.trim().to_ascii_lowercase();
        }
        Self { settings, cache: Cache::new(state_dir), credentials: Arc::default() }
    }

    /// The settings.
    pub fn settings(&self) -> &OciSettings {
        &self.settings
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Set (or replace) the credentials of the registry `authority` (`host[:port]`, as in
    /// `registries.put`); `None` makes it anonymous again.
    pub fn set_credential(&self, authority: &str, credential: Option<Credential>) {
        let key = authority.trim().to_ascii_lowercase();
        let mut map = self.credentials.write().unwrap_or_else(PoisonError::into_inner);
        match credential {
            Some(c) => map.insert(key, c),
            None => map.remove(&key),
        };
    }

    /// The registries that have credentials.
    pub fn authorities(&self) -> Vec<String> {
        self.credentials.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    fn auth_for(&self, registry: &str) -> RegistryAuth {
        self.credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(registry)
            .map_or(RegistryAuth::Anonymous, Credential::auth)
    }

    fn client(&self, registry: &str) -> oci_client::Client {
        lattice_tls::install_ring();
        let protocol = if self.settings.allowed_insecure.iter().any(|h| h == registry) {
            ClientProtocol::HttpsExcept(vec![registry.to_owned()])
        } else {
            ClientProtocol::Https
        };
        oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(self.settings.connect_timeout),
            read_timeout: Some(self.settings.transfer_timeout),
            platform_resolver: None,
            ..ClientConfig::default()
        })
    }

    /// What can be refused without the network: `:latest` when not allowed.
    pub fn check_request(&self, reference: &OciRef) -> Result<(), OciError> {
        if reference.is_latest() && !self.settings.allow_latest {
            return Err(OciError::LatestRefused { reference: reference.to_string() });
        }
        Ok(())
    }

    /// Pull `reference` (see the module docs); `expect` is the kind wanted (`None`: either,
    /// told by the media types).
    pub async fn pull(&self, reference: &OciRef, expect: Option<ArtifactKind>) -> Result<Pulled, OciError> {
        self.check_request(reference)?;
        let caps = self.settings.caps;
        if let Some(digest) = reference.digest()
            && let Some(hit) = self.cache_load(reference, digest, expect, &caps).await?
        {
            return Ok(self.pulled(reference, hit, PullSource::Cache));
        }
        let limit = self.settings.transfer_timeout;
        let fetched = match tokio::time::timeout(limit, self.fetch(reference, expect)).await {
            Ok(result) => result,
            Err(_) => Err(OciError::Unreachable {
                reference: reference.to_string(),
                registry: reference.registry().to_owned(),
                reason: format!("no complete answer within {limit:?}"),
            }),
        };
        match fetched {
            Ok(pulled) => Ok(pulled),
            Err(e) if e.is_unreachable() && reference.digest().is_none() => {
                let Some(digest) = self.cache.tag_digest(reference) else { return Err(e) };
                let Some(hit) = self.cache_load(reference, &digest, expect, &caps).await? else { return Err(e) };
                let warning = format!("{e}; using {digest}, which this tag resolved to on an earlier pull (cached)");
                tracing::warn!(reference = %reference, digest, "{warning}");
                Ok(self.pulled(reference, hit, PullSource::CacheFallback(warning)))
            }
            Err(e) => Err(e),
        }
    }

    fn pulled(&self, reference: &OciRef, hit: crate::cache::CachedArtifact, source: PullSource) -> Pulled {
        Pulled {
            reference: reference.clone(),
            digest: hit.digest,
            kind: hit.kind,
            path: hit.path,
            bytes: hit.bytes,
            source,
        }
    }

    async fn cache_load(
        &self,
        reference: &OciRef,
        digest: &str,
        expect: Option<ArtifactKind>,
        caps: &SizeCaps,
    ) -> Result<Option<crate::cache::CachedArtifact>, OciError> {
        let (cache, reference, digest, caps) = (self.cache.clone(), reference.clone(), digest.to_owned(), *caps);
        tokio::task::spawn_blocking(move || cache.load(&reference, &digest, expect, &caps))
            .await
            .map_err(|e| crate::error::cache_err(self.cache.root(), format!("cache reader failed: {e}")))?
    }

    async fn fetch(&self, reference: &OciRef, expect: Option<ArtifactKind>) -> Result<Pulled, OciError> {
        let registry = reference.registry();
        let client = self.client(registry);
        let auth = self.auth_for(registry);
        let accepted = [manifest::OCI_MANIFEST, manifest::DOCKER_MANIFEST];
        let (body, _header_digest) = client
            .pull_manifest_raw(reference.client_ref(), &auth, &accepted)
            .await
            .map_err(|e| classify(reference, e))?;
        let digest = sha256_digest(&body);
        if let Some(wanted) = reference.digest()
            && wanted != digest
        {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: "the manifest".into(),
                expected: wanted.to_owned(),
                actual: digest,
            });
        }
        let plan = manifest::check(&body, expect, &self.settings.caps).map_err(|p| problem(reference, p))?;
        let source =
            if let Some(hit) = self.cache_load(reference, &digest, Some(plan.kind), &self.settings.caps).await? {
                self.pulled(reference, hit, PullSource::Cache)
            } else {
                let pinned = reference.with_digest(&digest);
                let bytes = self.download(&client, &pinned, reference, &plan).await?;
                let cache = self.cache.clone();
                let (d, b, body2) = (digest.clone(), bytes.clone(), body.to_vec());
                let path = tokio::task::spawn_blocking(move || cache.store(&d, &body2, &b))
                    .await
                    .map_err(|e| crate::error::cache_err(self.cache.root(), format!("cache writer failed: {e}")))??;
                Pulled {
                    reference: reference.clone(),
                    digest: digest.clone(),
                    kind: plan.kind,
                    path,
                    bytes,
                    source: PullSource::Registry,
                }
            };
        if let Err(e) = self.cache.set_tag(reference, &digest) {
            tracing::warn!(reference = %reference, error = %lattice_proto::chain(&e), "could not record the tag's digest in the cache");
        }
        Ok(source)
    }

    /// Download the plan's layers (bounded by their descriptors) and verify them.
    async fn download(
        &self,
        client: &oci_client::Client,
        pinned: &OciRef,
        reference: &OciRef,
        plan: &Plan,
    ) -> Result<Vec<u8>, OciError> {
        // The total was checked against the cap, so this allocation is bounded.
        let mut bytes = Vec::with_capacity(usize::try_from(plan.total).unwrap_or(0));
        for (i, layer) in plan.layers.iter().enumerate() {
            let descriptor = Plan::descriptor(layer);
            let mut stream =
                client.pull_blob_stream(pinned.client_ref(), &descriptor).await.map_err(|e| classify(reference, e))?;
            if let Some(len) = stream.content_length
                && len > layer.size
            {
                return Err(OciError::TooLarge {
                    reference: reference.to_string(),
                    what: format!("layer {i} as the registry sends it (its descriptor says {} bytes)", layer.size),
                    size: len,
                    cap: layer.size,
                });
            }
            let start = bytes.len();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        let received = (bytes.len() - start) as u64 + chunk.len() as u64;
                        if received > layer.size {
                            return Err(OciError::TooLarge {
                                reference: reference.to_string(),
                                what: format!(
                                    "layer {i} as the registry sends it (its descriptor says {} bytes)",
                                    layer.size
                                ),
                                size: received,
                                cap: layer.size,
                            });
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Err(e) => {
                        // oci-client's own digest check fails the stream's end: report what
                        // the bytes actually are when all of them arrived.
                        let got = &bytes[start..];
                        if got.len() as u64 == layer.size && sha256_digest(got) != layer.digest {
                            return Err(OciError::DigestMismatch {
                                reference: reference.to_string(),
                                what: format!("layer {i}"),
                                expected: layer.digest.clone(),
                                actual: sha256_digest(got),
                            });
                        }
                        return Err(OciError::Registry {
                            reference: reference.to_string(),
                            reason: format!("downloading layer {i}: {}", chain(&e)),
                        });
                    }
                }
            }
        }
        verify_layers(reference, plan, &bytes, "")?;
        Ok(bytes)
    }

    /// Push `artifact` (a signed actor module or a provider archive: the caller checks which)
    /// to `reference` with 0.82's media types and an empty `{}` config, as wash 0.82 does.
    pub async fn push(&self, reference: &OciRef, kind: ArtifactKind, artifact: Vec<u8>) -> Result<Pushed, OciError> {
        let cap = self.settings.caps.for_kind(kind);
        let size = artifact.len() as u64;
        if size > cap {
            return Err(OciError::TooLarge {
                reference: reference.to_string(),
                what: format!("the {}", kind.noun()),
                size,
                cap,
            });
        }
        let limit = self.settings.transfer_timeout;
        match tokio::time::timeout(limit, self.push_now(reference, kind, artifact)).await {
            Ok(result) => result,
            Err(_) => Err(OciError::Unreachable {
                reference: reference.to_string(),
                registry: reference.registry().to_owned(),
                reason: format!("push not done within {limit:?}"),
            }),
        }
    }

    async fn push_now(&self, reference: &OciRef, kind: ArtifactKind, artifact: Vec<u8>) -> Result<Pushed, OciError> {
        let registry = reference.registry();
        let client = self.client(registry);
        client.store_auth_if_needed(registry, &self.auth_for(registry)).await;
        let size = artifact.len() as u64;
        let layer = oci_client::client::ImageLayer::new(artifact, kind.layer_media_type().to_owned(), None);
        let config = oci_client::client::Config::new(b"{}".to_vec(), kind.config_media_type().to_owned(), None);
        let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
        let target = reference.client_ref();
        for descriptor in &manifest.layers {
            client
                .push_blob(target, layer.data.clone(), &descriptor.digest)
                .await
                .map_err(|e| classify(reference, e))?;
        }
        client
            .push_blob(target, config.data.clone(), &manifest.config.digest)
            .await
            .map_err(|e| classify(reference, e))?;
        let body = serde_json::to_vec(&manifest).map_err(|e| OciError::BadManifest {
            reference: reference.to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        let digest = sha256_digest(&body);
        let content_type = http::HeaderValue::from_static(OCI_MANIFEST);
        let manifest_url =
            client.push_manifest_raw(target, body, content_type).await.map_err(|e| classify(reference, e))?;
        Ok(Pushed { digest, manifest_url, size })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[tokio::test]
    async fn latest_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let r = OciRef::parse("localhost:1/echo").unwrap();
        let strict = Registries::new(OciSettings::default(), dir.path());
        assert_eq!(strict.pull(&r, None).await.unwrap_err().kind(), "latest_refused");
        let lax = Registries::new(OciSettings { allow_latest: true, ..OciSettings::default() }, dir.path());
        assert!(lax.check_request(&r).is_ok());
    }

    #[test]
    fn credentials_are_kept_per_authority_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let regs = Registries::new(OciSettings::default(), dir.path());
        regs.set_credential(
            "Registry.Example:5000",
            Some(Credential::Basic { username: "u".into(), password: "secret".into() }),
        );
        assert_eq!(regs.authorities(), vec!["registry.example:5000".to_owned()]);
        assert!(matches!(regs.auth_for("registry.example:5000"), RegistryAuth::Basic(..)));
        assert!(matches!(regs.auth_for("other:5000"), RegistryAuth::Anonymous));
        assert!(!format!("{regs:?}").contains("secret"));
        regs.set_credential("registry.example:5000", None);
        assert!(regs.authorities().is_empty());
    }
}
