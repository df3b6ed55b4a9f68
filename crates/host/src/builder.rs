//! [`HostBuilder`]: every setting of a host, ending in [`HostBuilder::start`], which
//! brings up the wasm runtime, the link store (read whole, then watched), the control
//! interface, and re-publishes existing links to their providers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use lattice_proto::{ClusterKey, ClusterSeed, HostKey, LatticeName, TrustedIssuers};
use lattice_rpc::RpcClient;
use nkeys::{KeyPair, KeyPairType};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actor::{ActorRuntime, HostCalls, RuntimeConfig};
use crate::calls::ActorCalls;
use crate::config::{self, Credentials, HealthSettings, HostConfig, RestartPolicy};
use crate::control::{ControlServer, EventPublisher};
use crate::error::HostError;
use crate::host::{Host, HostInner};
use crate::links::LinkStore;
use crate::state_dir::StateDir;

/// Builds and starts a [`Host`]; ends in [`HostBuilder::start`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    lattice: Option<LatticeName>,
    host_seed: Option<String>,
    cluster_seed: Option<String>,
    cluster_issuers: Vec<ClusterKey>,
    rpc_nats: Option<async_nats::Client>,
    ctl_nats: Option<async_nats::Client>,
    rpc_url: Option<String>,
    ctl_url: Option<String>,
    rpc_credentials: Option<Credentials>,
    labels: BTreeMap<String, String>,
    rpc_timeout: Option<Duration>,
    provider_shutdown_grace: Option<Duration>,
    provider_start_timeout: Option<Duration>,
    health: Option<HealthSettings>,
    restart: Option<RestartPolicy>,
    state_dir: Option<PathBuf>,
    js_domain: Option<String>,
    js_replicas: Option<lattice_rpc::jetstream::Replicas>,
    rpc_state: Option<lattice_rpc::ConnWatch>,
    ctl_state: Option<lattice_rpc::ConnWatch>,
    runtime: Option<RuntimeConfig>,
    heartbeat: Option<Duration>,
    observability: config::Observability,
    allow_file_load: bool,
    trusted_issuers: Option<Vec<lattice_proto::AccountKey>>,
    oci: Option<lattice_oci::OciSettings>,
    registry_credentials: Vec<(String, lattice_oci::Credential)>,
}

impl HostBuilder {
    /// A builder with every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lattice (default `default`).
    pub fn lattice(mut self, lattice: LatticeName) -> Self {
        self.lattice = Some(lattice);
        self
    }

    /// The host's seed (`SN…`); a fresh key is generated when none is given.
    pub fn host_seed(mut self, seed: impl Into<String>) -> Self {
        self.host_seed = Some(seed.into());
        self
    }

    /// The cluster seed (`SC…`) invocations are signed with; generated when none is given.
    pub fn cluster_seed(mut self, seed: impl Into<String>) -> Self {
        self.cluster_seed = Some(seed.into());
        self
    }

    /// Further trusted cluster issuers (the host's own cluster key is always trusted).
    pub fn cluster_issuers(mut self, issuers: impl IntoIterator<Item = ClusterKey>) -> Self {
        self.cluster_issuers.extend(issuers);
        self
    }

    /// The RPC connection (required).
    pub fn rpc_nats(mut self, client: async_nats::Client) -> Self {
        self.rpc_nats = Some(client);
        self
    }

    /// The control connection (default: the RPC connection).
    pub fn ctl_nats(mut self, client: async_nats::Client) -> Self {
        self.ctl_nats = Some(client);
        self
    }

    /// The RPC URL handed to providers in HostData (default `nats://127.0.0.1:4222`).
    pub fn rpc_url(mut self, url: impl Into<String>) -> Self {
        self.rpc_url = Some(url.into());
        self
    }

    /// The control URL, reported in `ping.hosts` (default: the RPC URL).
    pub fn ctl_url(mut self, url: impl Into<String>) -> Self {
        self.ctl_url = Some(url.into());
        self
    }

    /// NATS credentials handed to providers for the RPC connection.
    pub fn rpc_credentials(mut self, credentials: Credentials) -> Self {
        self.rpc_credentials = Some(credentials);
        self
    }

    /// Labels (the built-in `hostcore.*` labels are added).
    pub fn labels(mut self, labels: impl IntoIterator<Item = (String, String)>) -> Self {
        self.labels.extend(labels);
        self
    }

    /// Timeout of outgoing calls and health checks (default 2000 ms).
    pub fn rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = Some(timeout);
        self
    }

    /// Time between a provider's shutdown request and its kill (default 2 s).
    pub fn provider_shutdown_grace(mut self, grace: Duration) -> Self {
        self.provider_shutdown_grace = Some(grace);
        self
    }

    /// How long a launched provider may take to become ready (default 30 s).
    pub fn provider_start_timeout(mut self, timeout: Duration) -> Self {
        self.provider_start_timeout = Some(timeout);
        self
    }

    /// Provider health checks: first after `first`, then every `interval` (default 5 s / 30 s).
    pub fn health_checks(mut self, first: Duration, interval: Duration) -> Self {
        self.health = Some(HealthSettings { first, interval });
        self
    }

    /// How crashed providers are restarted.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart = Some(policy);
        self
    }

    /// The state directory (default [`config::default_state_dir`]).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The JetStream domain of the lattice-data bucket.
    pub fn js_domain(mut self, domain: impl Into<String>) -> Self {
        self.js_domain = Some(domain.into());
        self
    }

    /// The RPC connection's live state ([`lattice_rpc::Nats::state`]): actors' calls to
    /// providers then fail at once while it is down instead of waiting out their timeout.
    pub fn rpc_connection_state(mut self, state: lattice_rpc::ConnWatch) -> Self {
        self.rpc_state = Some(state);
        self
    }

    /// The control connection's live state: `ping.hosts` replies and `/healthz` report
    /// both connections (see [`Host::connections`]).
    pub fn ctl_connection_state(mut self, state: lattice_rpc::ConnWatch) -> Self {
        self.ctl_state = Some(state);
        self
    }

    /// How many copies JetStream keeps of the lattice's streams (default 1): the
    /// lattice-data bucket and the chunking object store are created with it, existing ones
    /// (also a 0.82 host's) updated to it at start, and providers are told (HostData
    /// `env_values` `LATTICE_JS_REPLICAS`, when more than 1).
    pub fn js_replicas(mut self, replicas: lattice_rpc::jetstream::Replicas) -> Self {
        self.js_replicas = Some(replicas);
        self
    }

    /// The wasm runtime's settings.
    pub fn runtime_config(mut self, config: RuntimeConfig) -> Self {
        self.runtime = Some(config);
        self
    }

    /// Let the control interface start local files (`--allow-file-load`; default off, as
    /// 0.82). Manifests and [`crate::Host`] calls may always name files.
    pub fn allow_file_load(mut self, allow: bool) -> Self {
        self.allow_file_load = allow;
        self
    }

    /// Load only modules and provider archives signed by these accounts (default: any
    /// valid signature, with a warning at start).
    pub fn trusted_issuers(mut self, issuers: impl IntoIterator<Item = lattice_proto::AccountKey>) -> Self {
        self.trusted_issuers = Some(issuers.into_iter().collect());
        self
    }

    /// The `host_heartbeat` interval (default 30 s; zero turns it off).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// Logging and trace settings handed to providers in HostData (default: human logs,
    /// the providers' own level, no trace export).
    pub fn observability(mut self, settings: config::Observability) -> Self {
        self.observability = settings;
        self
    }

    /// How OCI references are pulled (default: HTTPS only, `:latest` refused, 64 MiB actors,
    /// 256 MiB provider archives).
    pub fn oci_settings(mut self, settings: lattice_oci::OciSettings) -> Self {
        self.oci = Some(settings);
        self
    }

    /// Credentials for the registry `authority` (`host[:port]`; 0.82's `--oci-registry` with
    /// `--oci-user` / `--oci-password`). The control interface's `registries.put` can
    /// replace them later.
    pub fn registry_credential(mut self, authority: impl Into<String>, credential: lattice_oci::Credential) -> Self {
        self.registry_credentials.push((authority.into(), credential));
        self
    }

    fn config(&mut self) -> Result<(HostConfig, KeyPair), HostError> {
        let host_kp = match self.host_seed.take() {
            Some(seed) => {
                let kp = KeyPair::from_seed(seed.trim()).map_err(|e| HostError::Config(format!("host seed: {e}")))?;
                if kp.key_pair_type() != KeyPairType::Server {
                    return Err(HostError::Config("the host seed must be a server seed (`SN…`)".into()));
                }
                kp
            }
            None => KeyPair::new_server(),
        };
        let (cluster_seed, generated) = match self.cluster_seed.take() {
            Some(seed) => {
                (ClusterSeed::parse(&seed).map_err(|e| HostError::Config(format!("cluster seed: {e}")))?, false)
            }
            None => (ClusterSeed::generate(), true),
        };
        let mut issuers = std::mem::take(&mut self.cluster_issuers);
        if !issuers.contains(cluster_seed.public_key()) {
            issuers.push(cluster_seed.public_key().clone());
        }
        let rpc_url = self.rpc_url.take().unwrap_or_else(|| config::DEFAULT_NATS_URL.to_owned());
        let config = HostConfig {
            lattice: self.lattice.take().unwrap_or_else(default_lattice),
            cluster_seed,
            cluster_seed_generated: generated,
            cluster_issuers: issuers,
            labels: std::mem::take(&mut self.labels),
            rpc_timeout: self.rpc_timeout.unwrap_or(config::DEFAULT_RPC_TIMEOUT),
            provider_shutdown_grace: self.provider_shutdown_grace.unwrap_or(config::DEFAULT_PROVIDER_SHUTDOWN_GRACE),
            provider_start_timeout: self.provider_start_timeout.unwrap_or(config::DEFAULT_PROVIDER_START_TIMEOUT),
            health: self.health.unwrap_or_default(),
            restart: self.restart.unwrap_or_default(),
            state_dir: self.state_dir.take().unwrap_or_else(config::default_state_dir),
            ctl_url: self.ctl_url.take().unwrap_or_else(|| rpc_url.clone()),
            rpc_url,
            rpc_credentials: self.rpc_credentials.take(),
            js_domain: self.js_domain.take(),
            js_replicas: self.js_replicas.unwrap_or_default(),
            runtime: self.runtime.take().unwrap_or_default(),
            heartbeat: self.heartbeat.unwrap_or(crate::control::DEFAULT_HEARTBEAT_INTERVAL),
            observability: std::mem::take(&mut self.observability),
            allow_file_load: self.allow_file_load,
            trusted_issuers: self.trusted_issuers.take(),
            oci: self.oci.take().unwrap_or_default(),
        };
        Ok((config, host_kp))
    }

    /// Start the host: the wasm runtime, the link store (read whole, then watched), the
    /// control interface; existing links are re-published to their providers. Returns once
    /// the host answers on the lattice.
    pub async fn start(mut self) -> Result<Host, HostError> {
        let (config, host_kp) = self.config()?;
        let rpc_nats = self.rpc_nats.take().ok_or_else(|| HostError::Config("no RPC NATS connection given".into()))?;
        let ctl_nats = self.ctl_nats.take().unwrap_or_else(|| rpc_nats.clone());
        let key = HostKey::parse(&host_kp.public_key()).map_err(|e| HostError::Config(e.to_string()))?;
        let runtime = ActorRuntime::new(config.runtime.clone()).map_err(|e| HostError::Config(e.to_string()))?;
        let events = EventPublisher::new(ctl_nats.clone(), config.lattice.clone(), key.clone());
        let links = LinkStore::open(
            ctl_nats.clone(),
            rpc_nats.clone(),
            config.lattice.clone(),
            config.js_domain.as_deref(),
            config.js_replicas,
            events.clone(),
        )
        .await?;
        crate::storage::ensure_lattice_storage(&ctl_nats, &config).await?;
        let mut rpc =
            RpcClient::builder(rpc_nats.clone(), config.lattice.clone(), config.cluster_seed.clone(), key.clone())
                .timeout(config.rpc_timeout);
        if let Some(domain) = &config.js_domain {
            rpc = rpc.jetstream_domain(domain.clone());
        }
        let rpc_state = self.rpc_state.take();
        let ctl_state = self.ctl_state.take();
        if let Some(state) = &rpc_state {
            rpc = rpc.connection_state(state.clone());
        }
        let rpc = rpc.build();
        let calls: Arc<dyn HostCalls> = Arc::new(ActorCalls::new(links.clone(), rpc.clone()));
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        links.watch(&tracker, stop.clone());

        let mut labels = config::builtin_labels();
        labels.extend(config.labels.clone());
        let friendly_name = format!("lattice-{}", key.as_str()[1..7].to_ascii_lowercase());
        let state = StateDir::new(&config.state_dir);
        state.prepare()?;
        let registries = lattice_oci::Registries::new(config.oci.clone(), &config.state_dir);
        for (authority, credential) in std::mem::take(&mut self.registry_credentials) {
            registries.set_credential(&authority, Some(credential));
        }
        let inner = Arc::new(HostInner {
            registries,
            issuers: TrustedIssuers::new(&config.cluster_issuers),
            state,
            config,
            key,
            friendly_name,
            rpc_nats,
            ctl_nats: ctl_nats.clone(),
            rpc_state,
            ctl_state,
            runtime,
            links,
            events: events.clone(),
            calls,
            actors: tokio::sync::Mutex::default(),
            providers: tokio::sync::Mutex::default(),
            starting_providers: std::sync::Mutex::default(),
            control_starts: std::sync::Arc::new(tokio::sync::Semaphore::new(crate::host::MAX_CONTROL_STARTS)),
            labels: RwLock::new(labels),
            started: Instant::now(),
            tracker,
            stop,
            stop_requested: CancellationToken::new(),
            control: Mutex::new(None),
        });
        let host = Host { inner };
        host.inner.links.replay_to_providers().await;
        let control =
            ControlServer::builder(ctl_nats, host.lattice().clone(), host.key().clone(), Arc::new(host.clone()))
                .events(events)
                .heartbeat_interval(host.inner.config.heartbeat)
                .start(host.inner.stop.clone().cancelled_owned())
                .await
                .map_err(|e| HostError::nats("start the control interface", e))?;
        *host.inner.control.lock().unwrap_or_else(PoisonError::into_inner) = Some(control);
        if host.config().trusted_issuers.is_none() {
            tracing::warn!("{}", crate::load_policy::UNRESTRICTED_ISSUERS_WARNING);
        }
        tracing::info!(host = %host.key(), lattice = %host.lattice(), issuer = %host.cluster_key(), "host started");
        Ok(host)
    }
}

fn default_lattice() -> LatticeName {
    // "default" is a valid lattice name.
    LatticeName::new("default").unwrap_or_else(|_| unreachable!("`default` is a valid lattice name"))
}
