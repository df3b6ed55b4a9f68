//! Registry flags shared by `lattice up`, `lattice push` and `lattice pull`, with wasmCloud
//! 0.82's names and environment variables (CONVENTIONS "References a host resolves"), and
//! how an OCI failure maps to an exit code.

use anyhow::anyhow;
use lattice_oci::{Credential, OciError, OciRef, OciSettings, Registries, SizeCaps};

use crate::exit::Failure;

/// `lattice up`'s registry flags (0.82's `wasmcloud_host` names).
#[derive(clap::Args, Debug, Default)]
pub(crate) struct HostRegistryArgs {
    /// Allow OCI references tagged `:latest` (or without a tag).
    #[arg(long, env = "WASMCLOUD_OCI_ALLOW_LATEST")]
    allow_latest: bool,
    /// A registry (`HOST:PORT`) to reach over plain HTTP; repeatable or comma-separated.
    #[arg(
        long = "allowed-insecure",
        env = "WASMCLOUD_OCI_ALLOWED_INSECURE",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    allowed_insecure: Vec<String>,
    /// The registry `--oci-user` / `--oci-password` are for (`HOST[:PORT]`).
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY", value_name = "HOST[:PORT]")]
    oci_registry: Option<String>,
    /// User name for `--oci-registry`.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_USER", requires = "oci_password")]
    oci_user: Option<String>,
    /// Password for `--oci-registry`.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_PASSWORD", hide_env_values = true, requires = "oci_user")]
    oci_password: Option<String>,
    /// Largest actor module pulled, in bytes (sum of its layers) [default: 64 MiB].
    #[arg(long, value_name = "BYTES")]
    oci_max_actor_bytes: Option<u64>,
    /// Largest provider archive pulled, in bytes [default: 256 MiB].
    #[arg(long, value_name = "BYTES")]
    oci_max_archive_bytes: Option<u64>,
}

impl HostRegistryArgs {
    /// The settings, and the credentials for `--oci-registry` if given.
    pub(crate) fn settings(&self) -> Result<(OciSettings, Option<(String, Credential)>), Failure> {
        let defaults = SizeCaps::default();
        let settings = OciSettings {
            allow_latest: self.allow_latest,
            allowed_insecure: self
                .allowed_insecure
                .iter()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
            caps: SizeCaps {
                actor: self.oci_max_actor_bytes.unwrap_or(defaults.actor),
                archive: self.oci_max_archive_bytes.unwrap_or(defaults.archive),
            },
            ..OciSettings::default()
        };
        let credential = match (&self.oci_user, &self.oci_password) {
            (Some(username), Some(password)) => {
                let registry = self.oci_registry.clone().filter(|r| !r.trim().is_empty()).ok_or_else(|| {
                    Failure::bad_input(anyhow!(
                        "--oci-user/--oci-password need --oci-registry (the registry they are for)"
                    ))
                })?;
                Some((registry, Credential::Basic { username: username.clone(), password: password.clone() }))
            }
            _ => None,
        };
        Ok((settings, credential))
    }
}

/// `lattice push` / `lattice pull` registry flags.
#[derive(clap::Args, Debug)]
pub(crate) struct ClientRegistryArgs {
    /// Talk to the registry over plain HTTP (a local or test registry).
    #[arg(long)]
    insecure: bool,
    /// Allow the tag `:latest` (or no tag).
    #[arg(long, env = "WASMCLOUD_OCI_ALLOW_LATEST")]
    allow_latest: bool,
    /// Registry user name.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_USER", requires = "oci_password")]
    oci_user: Option<String>,
    /// Registry password.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_PASSWORD", hide_env_values = true, requires = "oci_user")]
    oci_password: Option<String>,
    /// The state directory whose OCI cache is used (`{dir}/oci`).
    #[arg(long, env = "LATTICE_STATE_DIR", value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,
}

impl ClientRegistryArgs {
    /// Registries set up for `reference`'s registry.
    pub(crate) fn registries(&self, reference: &OciRef) -> Registries {
        let settings = OciSettings {
            allow_latest: self.allow_latest,
            allowed_insecure: if self.insecure { vec![reference.registry().to_owned()] } else { Vec::new() },
            ..OciSettings::default()
        };
        let state = self.state_dir.clone().unwrap_or_else(lattice_host::config::default_state_dir);
        let registries = Registries::new(settings, &state);
        if let (Some(username), Some(password)) = (&self.oci_user, &self.oci_password) {
            registries.set_credential(
                reference.registry(),
                Some(Credential::Basic { username: username.clone(), password: password.clone() }),
            );
        }
        registries
    }
}

/// The exit code of an OCI failure: 2 for a bad request (malformed, `:latest`), 3 when the
/// registry or the cache could not be used (I/O), 1 when the registry answered no
/// (unauthorized, not found, wrong media type, digest mismatch, too large).
pub(crate) fn oci_failure(e: OciError) -> Failure {
    match e.kind() {
        "bad_reference" | "latest_refused" | "bad_artifact" => Failure::bad_input(e),
        "unreachable" | "registry" | "cache" => Failure::from(anyhow::Error::from(e)),
        _ => Failure::no(e),
    }
}
