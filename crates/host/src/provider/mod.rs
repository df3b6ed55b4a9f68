//! Capability providers: resolving a reference to an executable and a key, launching it,
//! supervising it, stopping it.
//!
//! - [`ProviderSpec`] says what to start: a reference (a native executable, plain path or
//!   `file://`, with its claims given by the caller; or a 0.82 provider archive `.par` /
//!   `.par.gz`, whose signed claims carry them — [`archive`]), a link name, optional
//!   `config_json` and annotations.
//! - [`RunningProvider::start`] launches the process with HostData on stdin ([`launch`]),
//!   waits until it answers a health probe (so its link subscriptions exist), re-publishes
//!   its links (closing the window between building HostData and the provider subscribing),
//!   and hands the child to a supervisor task.
//! - The supervisor health-checks it ([`health`]; first after 5 s, then every 30 s by
//!   default) and, when the process exits without being asked to, **restarts it** with an
//!   exponential backoff and hands it its links again — in HostData and re-published once
//!   it is ready (0.82 did neither).
//! - [`RunningProvider::stop`] sends the `.shutdown` request (`{"host_id":…}`) and kills
//!   the process if it has not exited when the grace period (default 2 s) is over.

pub mod archive;
mod health;
mod launch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lattice_control::LatticeEvent;
use lattice_control::events::{ProviderClaimsData, ProviderStartedData, ProviderStoppedData};
use lattice_control::storage::StoredProviderClaims;
use lattice_proto::shutdown::ShutdownRequest;
use lattice_proto::{ClusterKey, ClusterSeed, HostData, HostKey, LatticeName, LinkName, ProviderKey, WitMap, subject};
use nkeys::{KeyPair, KeyPairType};
use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Credentials, HealthSettings, RestartPolicy};
use crate::control::EventPublisher;
use crate::error::{HostError, ProviderRunError};
use crate::links::LinkStore;
use crate::state_dir::{StateDir, sha256_hex};

/// Claims of a native provider executable, given by whoever starts it (a manifest, a flag).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeClaims {
    /// The contract it implements (required), e.g. `wasmcloud:keyvalue`.
    pub contract_id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its vendor.
    pub vendor: Option<String>,
    /// Its key's seed (`SV…`); when absent the host generates one per binary and keeps it.
    pub seed: Option<String>,
}

/// What provider to start.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    /// The reference: a path or `file://` URL of an executable or a `.par`/`.par.gz`.
    pub reference: String,
    /// The link name it serves (default `default`).
    pub link_name: LinkName,
    /// Claims for a native executable (ignored for archives, which carry their own).
    pub claims: Option<NativeClaims>,
    /// HostData `config_json`.
    pub config_json: Option<String>,
    /// Annotations (reported in the inventory and events).
    pub annotations: BTreeMap<String, String>,
}

impl ProviderSpec {
    /// A spec for `reference` under `link_name`, nothing else set.
    pub fn new(reference: impl Into<String>, link_name: LinkName) -> Self {
        Self { reference: reference.into(), link_name, claims: None, config_json: None, annotations: BTreeMap::new() }
    }
}

/// A reference resolved to something runnable.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) binary: PathBuf,
    pub(crate) key: ProviderKey,
    pub(crate) claims: StoredProviderClaims,
}

fn reference_err(reference: &str, reason: impl Into<String>) -> HostError {
    HostError::Reference { reference: reference.to_owned(), reason: reason.into() }
}

/// The local path a reference names (`file://` stripped); other schemes are refused.
pub fn local_path(reference: &str) -> Result<PathBuf, HostError> {
    if let Some(path) = reference.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if reference.contains("://") || reference.starts_with("oci:") {
        return Err(reference_err(
            reference,
            "not a local file (a path or file://); OCI references are oci://host[:port]/repo:tag or host[:port]/repo:tag",
        ));
    }
    Ok(PathBuf::from(reference))
}

/// Resolve a provider archive given as bytes (`.par` or `.par.gz`, e.g. pulled from a
/// registry): verify its claims and unpack this machine's executable (writes files: call
/// from a blocking context).
pub(crate) fn resolve_archive(
    spec: &ProviderSpec,
    bytes: &[u8],
    state: &StateDir,
    now: u64,
    trusted: Option<&[lattice_proto::AccountKey]>,
) -> Result<Resolved, HostError> {
    let par = archive::ProviderArchive::parse(bytes, now)
        .map_err(|e| HostError::ProviderStart { reference: spec.reference.clone(), reason: e.to_string() })?;
    crate::load_policy::check_issuer(trusted, "provider archive", &spec.reference, &par.claims.iss)?;
    let binary = state.unpacked_binary(&par.hash, &par.target, &par.binary)?;
    let key = ProviderKey::parse(&par.claims.sub).map_err(|e| reference_err(&spec.reference, e.to_string()))?;
    let meta = &par.claims.wascap;
    let claims = StoredProviderClaims {
        contract_id: meta.capid.clone(),
        issuer: par.claims.iss.clone(),
        name: meta.name.clone().unwrap_or_default(),
        revision: meta.rev.unwrap_or_default().to_string(),
        subject: key.as_str().to_owned(),
        version: meta.ver.clone().unwrap_or_default(),
        config_schema: meta.config_schema.as_ref().map(ToString::to_string),
    };
    Ok(Resolved { binary, key, claims })
}

/// Resolve `spec` (reads files: call from a blocking context). Archives must be signed by
/// one of `trusted` when given ([`crate::load_policy`]).
pub(crate) fn resolve(
    spec: &ProviderSpec,
    state: &StateDir,
    now: u64,
    trusted: Option<&[lattice_proto::AccountKey]>,
) -> Result<Resolved, HostError> {
    let path = local_path(&spec.reference)?;
    let bytes = crate::load_policy::read_local_file(&spec.reference, &path)?;
    if archive::is_archive_path(&spec.reference) || bytes.starts_with(&[0x1f, 0x8b]) {
        return resolve_archive(spec, &bytes, state, now, trusted);
    }
    let Some(native) = &spec.claims else {
        return Err(reference_err(
            &spec.reference,
            "a native provider executable needs its claims (at least its contract): give them in the manifest, \
             or pack it as a provider archive (.par)",
        ));
    };
    if native.contract_id.trim().is_empty() {
        return Err(reference_err(&spec.reference, "the provider's contract is empty"));
    }
    let kp = match &native.seed {
        Some(seed) => {
            let kp = KeyPair::from_seed(seed.trim())
                .map_err(|e| reference_err(&spec.reference, format!("bad seed: {e}")))?;
            if kp.key_pair_type() != KeyPairType::Service {
                return Err(reference_err(&spec.reference, "the seed is not a provider (service) seed `SV…`"));
            }
            kp
        }
        None => state.provider_key(&sha256_hex(&bytes))?,
    };
    let key = ProviderKey::parse(&kp.public_key()).map_err(|e| reference_err(&spec.reference, e.to_string()))?;
    let claims = StoredProviderClaims {
        contract_id: native.contract_id.clone(),
        issuer: String::new(),
        name: native.name.clone().unwrap_or_default(),
        revision: "0".into(),
        subject: key.as_str().to_owned(),
        version: String::new(),
        config_schema: None,
    };
    Ok(Resolved { binary: std::fs::canonicalize(&path).unwrap_or(path), key, claims })
}

/// What every provider of one host shares.
#[derive(Clone, Debug)]
pub(crate) struct ProviderEnv {
    pub(crate) rpc: async_nats::Client,
    pub(crate) lattice: LatticeName,
    pub(crate) host: HostKey,
    pub(crate) cluster_seed: ClusterSeed,
    pub(crate) issuers: Vec<ClusterKey>,
    pub(crate) rpc_url: String,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) rpc_timeout: Duration,
    pub(crate) grace: Duration,
    pub(crate) start_timeout: Duration,
    pub(crate) health: HealthSettings,
    pub(crate) restart: RestartPolicy,
    pub(crate) links: LinkStore,
    pub(crate) events: EventPublisher,
    pub(crate) tracker: TaskTracker,
    pub(crate) observability: crate::config::Observability,
    /// JetStream replicas the provider should give the streams it creates.
    pub(crate) js_replicas: lattice_rpc::jetstream::Replicas,
}

/// The parts of a provider the supervisor updates while it runs.
#[derive(Debug, Default)]
struct Live {
    pid: AtomicU32,
    restarts: AtomicU32,
    instance_id: Mutex<String>,
}

/// A provider running on this host, under supervision.
#[derive(Debug)]
pub struct RunningProvider {
    key: ProviderKey,
    link: LinkName,
    reference: String,
    claims: StoredProviderClaims,
    annotations: BTreeMap<String, String>,
    live: Arc<Live>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The HostData `env_values` key telling providers how many JetStream replicas their
/// streams get (issue 17; sent only when more than one, so a default host's HostData stays
/// byte-for-byte 0.82's empty map).
pub const JS_REPLICAS_ENV: &str = "LATTICE_JS_REPLICAS";

fn js_env(replicas: lattice_rpc::jetstream::Replicas) -> WitMap {
    let mut env = WitMap::default();
    if replicas != lattice_rpc::jetstream::Replicas::ONE {
        env.insert(JS_REPLICAS_ENV, replicas.to_string());
    }
    env
}

/// Everything the supervisor needs about one provider.
#[derive(Clone, Debug)]
struct Plan {
    env: ProviderEnv,
    resolved: Resolved,
    link: LinkName,
    config_json: Option<String>,
    label: String,
}

impl Plan {
    fn host_data(&self, instance_id: &str) -> HostData {
        let env = &self.env;
        HostData {
            host_id: env.host.as_str().to_owned(),
            lattice_rpc_prefix: env.lattice.as_str().to_owned(),
            link_name: self.link.as_str().to_owned(),
            lattice_rpc_user_jwt: env.credentials.as_ref().map(|c| c.jwt.clone()).unwrap_or_default(),
            lattice_rpc_user_seed: env.credentials.as_ref().map(|c| c.seed.clone()).unwrap_or_default(),
            lattice_rpc_url: env.rpc_url.trim_end_matches('/').to_owned(),
            provider_key: self.resolved.key.as_str().to_owned(),
            invocation_seed: env.cluster_seed.seed(),
            env_values: js_env(env.js_replicas),
            instance_id: instance_id.to_owned(),
            link_definitions: env.links.links_for_provider(self.resolved.key.as_str(), self.link.as_str()),
            cluster_issuers: env.issuers.iter().map(|k| k.as_str().to_owned()).collect(),
            config_json: self.config_json.clone(),
            default_rpc_timeout_ms: Some(u64::try_from(env.rpc_timeout.as_millis()).unwrap_or(u64::MAX)),
            structured_logging: env.observability.structured_logging,
            log_level: env.observability.log_level.clone(),
            otel_config: env.observability.otel.clone(),
        }
    }

    /// Launch the process and wait until it answers a probe; then re-publish its links.
    async fn launch(&self, live: &Live) -> Result<Child, ProviderRunError> {
        let instance_id = uuid::Uuid::new_v4().to_string();
        let host_data = self.host_data(&instance_id);
        let mut child = launch::spawn(
            &self.resolved.binary,
            &host_data,
            &self.label,
            &self.env.tracker,
            host_data.structured_logging,
        )
        .await
        .map_err(|source| ProviderRunError::Spawn { binary: self.resolved.binary.clone(), source })?;
        live.pid.store(child.id().unwrap_or_default(), Ordering::Relaxed);
        *live.instance_id.lock().unwrap_or_else(PoisonError::into_inner) = instance_id;
        if let Err(e) = self.wait_ready(&mut child).await {
            drop(child.start_kill());
            drop(child.wait().await);
            return Err(e);
        }
        self.env.links.replay_to_provider(self.resolved.key.as_str(), self.link.as_str()).await;
        Ok(child)
    }

    /// Probe `.health` until the provider answers, it exits, or the start timeout passes.
    async fn wait_ready(&self, child: &mut Child) -> Result<(), ProviderRunError> {
        let env = &self.env;
        let deadline = Instant::now() + env.start_timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let probe =
                health::probe(&env.rpc, &env.lattice, &self.resolved.key, &self.link, Duration::from_millis(500));
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    return Err(ProviderRunError::Exited { status });
                }
                answer = probe => if answer.is_ok() { return Ok(()) },
            }
            if Instant::now() >= deadline {
                return Err(ProviderRunError::NotReady(env.start_timeout));
            }
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    return Err(ProviderRunError::Exited { status });
                }
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    fn health_loop(&self) -> health::HealthLoop {
        health::HealthLoop {
            rpc: self.env.rpc.clone(),
            lattice: self.env.lattice.clone(),
            key: self.resolved.key.clone(),
            link: self.link.clone(),
            contract_id: self.resolved.claims.contract_id.clone(),
            events: self.env.events.clone(),
            first: self.env.health.first,
            interval: self.env.health.interval,
            timeout: self.env.rpc_timeout,
        }
    }

    /// Ask the provider to shut down; kill it when the grace period is over.
    async fn shutdown(&self, child: &mut Child) {
        let env = &self.env;
        let deadline = tokio::time::Instant::now() + env.grace;
        let subject = subject::shutdown(&env.lattice, &self.resolved.key, &self.link).into_string();
        let body = ShutdownRequest { host_id: env.host.as_str().to_owned() }.encode();
        match tokio::time::timeout_at(deadline, env.rpc.request(subject, body.into())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(provider = %self.label, error = %lattice_proto::chain(&e), "shutdown request failed")
            }
            Err(_) => tracing::debug!(provider = %self.label, "no answer to the shutdown request"),
        }
        if tokio::time::timeout_at(deadline, child.wait()).await.is_err() {
            tracing::warn!(provider = %self.label, grace = ?env.grace,
                "provider did not shut down within the grace period, killing it");
            drop(child.kill().await);
        }
    }

    /// Watch the running child: restart it when it exits, stop it when told.
    async fn supervise(self, mut child: Child, live: Arc<Live>, stop: CancellationToken) {
        let mut streak = 0u32;
        let mut started = Instant::now();
        loop {
            let checks = CancellationToken::new();
            self.env.tracker.spawn(self.health_loop().run(checks.clone()));
            let exited = tokio::select! {
                status = child.wait() => status,
                () = stop.cancelled() => {
                    checks.cancel();
                    self.shutdown(&mut child).await;
                    return;
                }
            };
            checks.cancel();
            let status = exited.map_or_else(|e| e.to_string(), |s| s.to_string());
            if started.elapsed() >= self.env.restart.reset_after {
                streak = 0;
            }
            // Keep trying until a launch succeeds or we are told to stop.
            loop {
                let delay = self.env.restart.delay(streak);
                streak = streak.saturating_add(1);
                tracing::warn!(provider = %self.label, %status, ?delay, "provider exited unexpectedly; restarting it");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                let launched = tokio::select! {
                    () = stop.cancelled() => return,
                    launched = self.launch(&live) => launched,
                };
                match launched {
                    Ok(c) => {
                        child = c;
                        started = Instant::now();
                        live.restarts.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(provider = %self.label, pid = child.id().unwrap_or_default(),
                            "provider restarted and its links re-delivered");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(provider = %self.label, error = %lattice_proto::chain(&e), "provider restart failed")
                    }
                }
            }
        }
    }
}

impl RunningProvider {
    /// Launch a resolved provider, wait until it is ready, and supervise it.
    pub(crate) async fn start(env: ProviderEnv, spec: &ProviderSpec, resolved: Resolved) -> Result<Self, HostError> {
        let name = if resolved.claims.name.is_empty() {
            resolved.key.as_str()[..8].to_owned()
        } else {
            resolved.claims.name.clone()
        };
        let plan = Plan {
            label: format!("{name} {}", spec.link_name),
            env,
            resolved,
            link: spec.link_name.clone(),
            config_json: spec.config_json.clone(),
        };
        let live = Arc::new(Live::default());
        let child = plan
            .launch(&live)
            .await
            .map_err(|source| HostError::ProviderLaunch { reference: spec.reference.clone(), source })?;
        tracing::info!(provider = %plan.label, key = %plan.resolved.key, pid = child.id().unwrap_or_default(), "provider started");
        let stop = CancellationToken::new();
        let this = Self {
            key: plan.resolved.key.clone(),
            link: plan.link.clone(),
            reference: spec.reference.clone(),
            claims: plan.resolved.claims.clone(),
            annotations: spec.annotations.clone(),
            live: live.clone(),
            stop: stop.clone(),
            task: plan.env.tracker.clone().spawn(plan.clone().supervise(child, live, stop)),
        };
        plan.env.events.emit(LatticeEvent::ProviderStarted(this.started_data(&plan.env.host))).await;
        Ok(this)
    }

    fn started_data(&self, host: &HostKey) -> ProviderStartedData {
        ProviderStartedData {
            annotations: self.annotations.clone(),
            claims: ProviderClaimsData {
                expires_human: lattice_control::events::HUMAN_TIME_PLACEHOLDER.to_owned(),
                issuer: self.claims.issuer.clone(),
                name: Some(self.claims.name.clone()),
                not_before_human: lattice_control::events::HUMAN_TIME_PLACEHOLDER.to_owned(),
                tags: None,
                version: Some(self.claims.version.clone()),
            },
            contract_id: self.claims.contract_id.clone(),
            host_id: host.as_str().to_owned(),
            image_ref: self.reference.clone(),
            instance_id: self.instance_id(),
            link_name: self.link.as_str().to_owned(),
            public_key: self.key.as_str().to_owned(),
        }
    }

    /// The provider's key.
    pub fn key(&self) -> &ProviderKey {
        &self.key
    }

    /// Its link name.
    pub fn link_name(&self) -> &LinkName {
        &self.link
    }

    /// The reference it was started from.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Its claims (as stored under `CLAIMS_{key}`).
    pub fn claims(&self) -> &StoredProviderClaims {
        &self.claims
    }

    /// Its annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The process id of the current process (0 if unknown).
    pub fn pid(&self) -> u32 {
        self.live.pid.load(Ordering::Relaxed)
    }

    /// How often it was restarted after exiting unexpectedly.
    pub fn restarts(&self) -> u32 {
        self.live.restarts.load(Ordering::Relaxed)
    }

    /// The HostData `instance_id` of the current process.
    pub fn instance_id(&self) -> String {
        self.live.instance_id.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stop it (shutdown request, kill after the grace period) and publish
    /// `provider_stopped` with `reason`.
    pub(crate) async fn stop(self, host: &HostKey, events: &EventPublisher, reason: &str) {
        self.stop.cancel();
        let instance_id = self.instance_id();
        if let Err(e) = self.task.await {
            tracing::warn!(provider = %self.key, error = %lattice_proto::chain(&e), "provider supervisor failed");
        }
        let data = ProviderStoppedData {
            annotations: self.annotations.clone(),
            contract_id: self.claims.contract_id.clone(),
            host_id: host.as_str().to_owned(),
            instance_id,
            link_name: self.link.as_str().to_owned(),
            public_key: self.key.as_str().to_owned(),
            reason: reason.to_owned(),
        };
        events.emit(LatticeEvent::ProviderStopped(data)).await;
    }
}
