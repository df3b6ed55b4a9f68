//! The host's settings, with the defaults of HOST.md §7–9 and CONVENTIONS.md, and the
//! small parsers the command line needs for them (NATS credentials files, labels).
//!
//! [`HostConfig`] is what a running host holds; [`crate::HostBuilder`] fills it in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lattice_proto::{ClusterKey, ClusterSeed, LatticeName};

use crate::actor::RuntimeConfig;
use crate::error::HostError;

/// Default timeout of the host's outgoing calls, health checks and provider calls
/// (0.82's `--rpc-timeout-ms`).
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_millis(2000);
/// Default time a provider gets between the `.shutdown` request and a kill.
pub const DEFAULT_PROVIDER_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The first health check of a provider, after its start (0.82: 5 s).
pub const DEFAULT_HEALTH_FIRST: Duration = Duration::from_secs(5);
/// The interval between health checks (0.82: 30 s).
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a provider may take to answer its first readiness probe after launch.
pub const DEFAULT_PROVIDER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// The NATS URL handed to providers when none was configured.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Health checks of providers (HOST.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    /// Delay from a provider's start to its first check (default 5 s).
    pub first: Duration,
    /// Interval between checks (default 30 s).
    pub interval: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self { first: DEFAULT_HEALTH_FIRST, interval: DEFAULT_HEALTH_INTERVAL }
    }
}

/// How a crashed provider is restarted: after `initial`, doubling up to `max` for each
/// crash in a row; a provider that ran for `reset_after` counts as healthy again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The first delay (default 250 ms).
    pub initial: Duration,
    /// The longest delay (default 30 s).
    pub max: Duration,
    /// Uptime after which the delay starts over (default 60 s).
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self { initial: Duration::from_millis(250), max: Duration::from_secs(30), reset_after: Duration::from_secs(60) }
    }
}

impl RestartPolicy {
    /// The delay before restart number `attempt` (0-based) of a crash streak.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// NATS user credentials handed to providers (HostData `lattice_rpc_user_jwt` / `_seed`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The user JWT (may be empty when only a seed/nkey is used).
    pub jwt: String,
    /// The user seed (`SU…`).
    pub seed: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("jwt", &!self.jwt.is_empty()).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parse a NATS `.creds` file: the JWT between the `BEGIN NATS USER JWT` markers and the
    /// seed between the `BEGIN USER NKEY SEED` markers.
    pub fn parse_creds(text: &str) -> Result<Self, HostError> {
        fn block(text: &str, begin: &str) -> Option<String> {
            let start = text.find(begin)?;
            let after = &text[start..];
            let body = after.split_once('\n')?.1;
            let end = body.find("------END")?;
            Some(body[..end].trim().to_owned())
        }
        let jwt = block(text, "-----BEGIN NATS USER JWT-----").unwrap_or_default();
        let seed = block(text, "-----BEGIN USER NKEY SEED-----")
            .ok_or_else(|| HostError::Config("credentials file has no `BEGIN USER NKEY SEED` block".into()))?;
        Ok(Self { jwt, seed })
    }
}

/// Everything a running host is configured with.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The lattice (default `default`).
    pub lattice: LatticeName,
    /// The cluster seed invocations are signed with.
    pub cluster_seed: ClusterSeed,
    /// Whether the cluster seed was generated at start (none was given).
    pub cluster_seed_generated: bool,
    /// Trusted issuers: the configured ones plus the host's own cluster key.
    pub cluster_issuers: Vec<ClusterKey>,
    /// Labels given by the operator (the built-in `hostcore.*` ones are added on top).
    pub labels: BTreeMap<String, String>,
    /// Timeout of outgoing calls and health checks; handed to providers.
    pub rpc_timeout: Duration,
    /// Grace between a provider's `.shutdown` request and its kill.
    pub provider_shutdown_grace: Duration,
    /// How long a launched provider may take to answer its first probe.
    pub provider_start_timeout: Duration,
    /// Provider health checks.
    pub health: HealthSettings,
    /// Provider restarts.
    pub restart: RestartPolicy,
    /// Where generated provider keys and unpacked archives are kept.
    pub state_dir: PathBuf,
    /// The RPC NATS URL providers connect to.
    pub rpc_url: String,
    /// The control NATS URL (reported in `ping.hosts`).
    pub ctl_url: String,
    /// Credentials handed to providers for the RPC connection.
    pub rpc_credentials: Option<Credentials>,
    /// JetStream domain of the lattice-data bucket and the chunking object store.
    pub js_domain: Option<String>,
    /// The wasm runtime's settings.
    pub runtime: RuntimeConfig,
    /// Heartbeat interval of the control interface (zero: none).
    pub heartbeat: Duration,
    /// Logging and trace settings handed to providers (HostData's `structured_logging`,
    /// `log_level`, `otel_config`), and how the host re-emits their output.
    pub observability: Observability,
}

/// What the host tells its providers about logs and traces, and how it shows their output.
#[derive(Clone, Debug, Default)]
pub struct Observability {
    /// JSON log lines (HostData `structured_logging`); the host then re-emits each
    /// provider line as one JSON object (the provider's own, with a `provider` field).
    pub structured_logging: bool,
    /// The log level providers get (HostData `log_level`; `None`: theirs).
    pub log_level: Option<String>,
    /// The trace exporter settings providers get (HostData `otel_config`).
    pub otel: lattice_proto::OtelConfig,
}

/// The built-in labels 0.82 gives every host: `hostcore.arch`, `hostcore.os`,
/// `hostcore.osfamily`.
pub fn builtin_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("hostcore.arch".to_owned(), std::env::consts::ARCH.to_owned()),
        ("hostcore.os".to_owned(), std::env::consts::OS.to_owned()),
        ("hostcore.osfamily".to_owned(), std::env::consts::FAMILY.to_owned()),
    ])
}

/// Parse a `key=value` label as `--label` takes it.
pub fn parse_label(text: &str) -> Result<(String, String), HostError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(HostError::Config(format!("label '{text}' is not of the form key=value"))),
    }
}

/// The default state directory: `$LATTICE_STATE_DIR`, else `$XDG_STATE_HOME/lattice`, else
/// `$HOME/.local/state/lattice`, else `lattice-state` in the temp directory.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LATTICE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("lattice");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/state/lattice");
    }
    std::env::temp_dir().join("lattice-state")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn creds_files_parse() {
        let text = "-----BEGIN NATS USER JWT-----\neyJhbGc.abc.def\n------END NATS USER JWT------\n\n\
                    ************************* IMPORTANT *************************\n\n\
                    -----BEGIN USER NKEY SEED-----\nSUAXYZ\n------END USER NKEY SEED------\n";
        let c = Credentials::parse_creds(text).unwrap();
        assert_eq!(c.jwt, "eyJhbGc.abc.def");
        assert_eq!(c.seed, "SUAXYZ");
        assert!(Credentials::parse_creds("nothing").is_err());
    }

    #[test]
    fn restart_delays_double_up_to_the_max() {
        let p =
            RestartPolicy { initial: Duration::from_millis(100), max: Duration::from_secs(1), ..Default::default() };
        assert_eq!(p.delay(0), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(400));
        assert_eq!(p.delay(10), Duration::from_secs(1));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn labels_parse() {
        assert_eq!(parse_label("zone=eu-1").unwrap(), ("zone".into(), "eu-1".into()));
        assert_eq!(parse_label("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
    }
}
