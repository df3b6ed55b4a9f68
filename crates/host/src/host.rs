//! [`Host`]: a running Lattice host (built by [`crate::HostBuilder`]).
//!
//! A host has its own key (`N…`), a lattice, a cluster seed (generated when none is given:
//! [`Host::cluster_seed_generated`] tells the caller to show it) and a list of trusted
//! cluster issuers (the given ones plus its own cluster key). It holds **two NATS
//! connections**, as 0.82 does: the RPC connection carries invocations, provider links,
//! health checks and shutdowns; the control connection carries the control interface,
//! lattice events and the lattice-data KV bucket (HOST.md §3–4).
//!
//! What runs inside:
//! - actors ([`Host::scale_actor`], [`Host::stop_actor`]; [`crate::serve`]), whose outgoing
//!   calls go through [`crate::calls::ActorCalls`];
//! - providers ([`Host::start_provider`], [`Host::stop_provider`]; [`crate::provider`]);
//! - the link store ([`Host::put_link`], [`Host::del_link`]; [`crate::links`]);
//! - the control interface ([`crate::control::ControlServer`], served by this host through
//!   its [`crate::control::ControlTarget`] implementation in `host_target.rs`).
//!
//! [`Host::stop`] drains everything: the control interface says goodbye, actors answer the
//! calls they already received, providers get their shutdown request (and a kill after
//! the grace period), and both connections are flushed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lattice_control::LatticeEvent;
use lattice_control::events::{ActorClaimsData, ActorScaledData, ActorsStartedData, ActorsStoppedData};
use lattice_control::storage::{StoredActorClaims, StoredClaims};
use lattice_proto::{ActorKey, ClusterKey, ClusterSeed, HostKey, LatticeName, LinkDefinition, TrustedIssuers};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actor::{ActorModule, ActorRuntime, HostCalls};
use crate::claims::VerifiedClaims;
use crate::config::HostConfig;
use crate::control::{ControlHandle, EventPublisher};
use crate::error::HostError;
use crate::links::LinkStore;
use crate::provider::{self, ProviderEnv, ProviderSpec, RunningProvider};
use crate::serve::ServedActor;
use crate::state_dir::StateDir;

/// One actor on this host.
pub(crate) struct ActorEntry {
    pub(crate) served: ServedActor,
    pub(crate) image_ref: String,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) instance_id: String,
}

pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    pub(crate) key: HostKey,
    pub(crate) friendly_name: String,
    pub(crate) rpc_nats: async_nats::Client,
    pub(crate) ctl_nats: async_nats::Client,
    /// The connections' live states, when the builder was given them.
    pub(crate) rpc_state: Option<lattice_rpc::ConnWatch>,
    pub(crate) ctl_state: Option<lattice_rpc::ConnWatch>,
    pub(crate) issuers: TrustedIssuers,
    pub(crate) state: StateDir,
    pub(crate) registries: lattice_oci::Registries,
    pub(crate) runtime: ActorRuntime,
    pub(crate) links: LinkStore,
    pub(crate) events: EventPublisher,
    pub(crate) calls: Arc<dyn HostCalls>,
    pub(crate) actors: tokio::sync::Mutex<BTreeMap<String, ActorEntry>>,
    pub(crate) providers: tokio::sync::Mutex<BTreeMap<(String, String), RunningProvider>>,
    /// Providers being started (key, link name): reserved without holding `providers`
    /// across the start, so inventory, heartbeats and stops are never blocked by one.
    pub(crate) starting_providers: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
    /// Starts requested over the control interface and still running, at most
    /// [`MAX_CONTROL_STARTS`] (more are refused at once).
    pub(crate) control_starts: Arc<tokio::sync::Semaphore>,
    pub(crate) labels: RwLock<BTreeMap<String, String>>,
    pub(crate) started: Instant,
    pub(crate) tracker: TaskTracker,
    pub(crate) stop: CancellationToken,
    pub(crate) stop_requested: CancellationToken,
    pub(crate) control: Mutex<Option<ControlHandle>>,
}

/// A running host. Cheap to clone; call [`Host::stop`] to shut it down.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("key", &self.inner.key).field("lattice", &self.inner.config.lattice).finish()
    }
}

/// What a running actor looks like from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorStatus {
    /// Its public key.
    pub key: ActorKey,
    /// The reference it was started from.
    pub image_ref: String,
    /// Its name (from its claims).
    pub name: Option<String>,
    /// The concurrency limit.
    pub max_instances: u32,
    /// Calls accepted by its RPC server so far.
    pub calls_dispatched: u64,
}

/// The longest one step of [`Host::stop`] may take.
const STOP_STEP: Duration = Duration::from_secs(5);
/// The longest a final flush may take.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// Await `fut` for at most `limit`, logging when it did not finish.
async fn bounded<T>(what: &str, limit: Duration, fut: impl std::future::Future<Output = T>) {
    if tokio::time::timeout(limit, fut).await.is_err() {
        tracing::warn!(?limit, "{what} did not finish in time; going on");
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn claims_data(claims: &VerifiedClaims) -> ActorClaimsData {
    let meta = claims.metadata();
    let token = &claims.token().claims;
    let now = unix_now();
    ActorClaimsData {
        call_alias: meta.call_alias.clone(),
        caps: meta.caps.clone(),
        expires_human: crate::claims::human_time(token.exp, now, "never"),
        issuer: claims.issuer().as_str().to_owned(),
        name: meta.name.clone(),
        not_before_human: crate::claims::human_time(token.nbf, now, "immediately"),
        revision: meta.rev,
        tags: meta.tags.clone(),
        version: meta.ver.clone(),
    }
}

fn stored_claims(claims: &VerifiedClaims) -> StoredClaims {
    let meta = claims.metadata();
    StoredClaims::Actor(StoredActorClaims {
        call_alias: meta.call_alias.clone().unwrap_or_default(),
        capabilities: meta.caps.clone().unwrap_or_default(),
        issuer: claims.issuer().as_str().to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        revision: meta.rev.unwrap_or_default().to_string(),
        subject: claims.actor().as_str().to_owned(),
        tags: meta.tags.clone().unwrap_or_default(),
        version: meta.ver.clone().unwrap_or_default(),
    })
}

/// One connection's report, from its state watch when there is one.
fn connection_report(
    watch: Option<&lattice_rpc::ConnWatch>,
    client: &async_nats::Client,
) -> lattice_control::types::ConnectionReport {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match watch {
        Some(watch) => {
            let status = watch.status();
            lattice_control::types::ConnectionReport {
                connected: status.state == lattice_rpc::ConnState::Connected,
                state_ms: millis(status.since.elapsed()),
                disconnects: status.disconnects,
                last_outage_ms: status.last_outage.map(millis),
            }
        }
        None => lattice_control::types::ConnectionReport {
            connected: client.connection_state() == async_nats::connection::State::Connected,
            ..Default::default()
        },
    }
}

impl Host {
    /// The host's public key (`N…`).
    pub fn key(&self) -> &HostKey {
        &self.inner.key
    }

    /// The lattice.
    pub fn lattice(&self) -> &LatticeName {
        &self.inner.config.lattice
    }

    /// The configuration in force.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The cluster seed invocations are signed with.
    pub fn cluster_seed(&self) -> &ClusterSeed {
        &self.inner.config.cluster_seed
    }

    /// The cluster public key (the issuer of this host's invocations).
    pub fn cluster_key(&self) -> &ClusterKey {
        self.inner.config.cluster_seed.public_key()
    }

    /// Whether the cluster seed was generated at start (so the operator must be shown it
    /// for other hosts to join).
    pub fn cluster_seed_generated(&self) -> bool {
        self.inner.config.cluster_seed_generated
    }

    /// Both NATS connections as they are now, with their history (reported in
    /// `ping.hosts` replies, so `lattice get hosts` shows a dropped connection, and by
    /// `lattice up --metrics-addr`'s `/healthz`). Without a state watch from the builder a
    /// connection reports only whether the client says it is connected.
    pub fn connections(&self) -> lattice_control::types::HostConnections {
        lattice_control::types::HostConnections {
            rpc: connection_report(self.inner.rpc_state.as_ref(), &self.inner.rpc_nats),
            ctl: connection_report(self.inner.ctl_state.as_ref(), &self.inner.ctl_nats),
        }
    }

    /// The human-friendly name reported in `ping.hosts`.
    pub fn friendly_name(&self) -> &str {
        &self.inner.friendly_name
    }

    /// The labels now (built-in and given).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.inner.labels.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Set a label.
    pub fn put_label(&self, key: impl Into<String>, value: impl Into<String>) {
        self.inner.labels.write().unwrap_or_else(PoisonError::into_inner).insert(key.into(), value.into());
    }

    /// Remove a label; `false` if it was not set.
    pub fn del_label(&self, key: &str) -> bool {
        self.inner.labels.write().unwrap_or_else(PoisonError::into_inner).remove(key).is_some()
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The link store.
    pub fn links(&self) -> &LinkStore {
        &self.inner.links
    }

    /// The event publisher (the control connection).
    pub fn events(&self) -> &EventPublisher {
        &self.inner.events
    }

    /// The RPC connection.
    pub fn rpc_nats(&self) -> &async_nats::Client {
        &self.inner.rpc_nats
    }

    /// The control connection.
    pub fn ctl_nats(&self) -> &async_nats::Client {
        &self.inner.ctl_nats
    }

    fn check_running(&self) -> Result<(), HostError> {
        if self.inner.stop.is_cancelled() { Err(HostError::Stopping) } else { Ok(()) }
    }

    // ---- actors ------------------------------------------------------------------------

    /// Read (or pull, for an OCI reference), verify and compile the actor module at
    /// `reference` (a path, `file://`, or an OCI reference; [`crate::resolve`]).
    pub async fn load_actor(&self, reference: &str) -> Result<ActorModule, HostError> {
        let fetched =
            crate::resolve::fetch(&self.inner.registries, reference, lattice_oci::ArtifactKind::Actor).await?;
        self.load_actor_bytes(reference, fetched.bytes).await
    }

    /// The registries this host pulls OCI references from (settings, credentials, cache).
    pub fn registries(&self) -> &lattice_oci::Registries {
        &self.inner.registries
    }

    /// Verify and compile an actor module given as bytes; `reference` names it in errors.
    pub async fn load_actor_bytes(&self, reference: &str, wasm: Vec<u8>) -> Result<ActorModule, HostError> {
        let runtime = self.inner.runtime.clone();
        let module = tokio::task::spawn_blocking(move || runtime.load(&wasm))
            .await
            .map_err(|e| HostError::Config(format!("actor loader failed: {e}")))?
            .map_err(|source| HostError::ActorRefused { reference: reference.to_owned(), source })?;
        let issuer = module.claims().issuer().as_str().to_owned();
        crate::load_policy::check_issuer(
            self.inner.config.trusted_issuers.as_deref(),
            "actor module",
            reference,
            &issuer,
        )?;
        Ok(module)
    }

    /// Set the actor at `reference` (a path, a `file://` URL, or the key of a running
    /// actor) to `max_instances` concurrent calls on this host: start it if it is not
    /// running, rescale it if it is, stop it for 0. Returns the actor's key.
    pub async fn scale_actor(
        &self,
        reference: &str,
        max_instances: u32,
        annotations: BTreeMap<String, String>,
    ) -> Result<ActorKey, HostError> {
        self.check_running()?;
        if let Some(key) = self.running_actor_key(reference).await {
            if max_instances == 0 {
                self.stop_actor(key.as_str()).await?;
            } else {
                self.rescale(&key, max_instances, annotations).await;
            }
            return Ok(key);
        }
        let module = self.load_actor(reference).await?;
        if max_instances == 0 {
            return Ok(module.key().clone());
        }
        self.run_module(reference, module, max_instances, annotations).await
    }

    /// Start an already loaded module (see [`Host::load_actor_bytes`]) under `reference`,
    /// or rescale it if it runs.
    pub async fn run_module(
        &self,
        reference: &str,
        module: ActorModule,
        max_instances: u32,
        annotations: BTreeMap<String, String>,
    ) -> Result<ActorKey, HostError> {
        self.check_running()?;
        let key = module.key().clone();
        let mut actors = self.inner.actors.lock().await;
        if actors.contains_key(key.as_str()) {
            drop(actors);
            self.rescale(&key, max_instances.max(1), annotations).await;
            return Ok(key);
        }
        let max_instances = max_instances.max(1);
        let served = ServedActor::start(
            self.inner.rpc_nats.clone(),
            self.key(),
            self.lattice().clone(),
            self.inner.issuers.clone(),
            self.inner.config.js_domain.as_deref(),
            module.clone(),
            self.inner.calls.clone(),
            max_instances,
        )
        .await?;
        actors.insert(
            key.as_str().to_owned(),
            ActorEntry {
                served,
                image_ref: reference.to_owned(),
                annotations: annotations.clone(),
                instance_id: uuid::Uuid::new_v4().to_string(),
            },
        );
        drop(actors);
        if let Err(e) = self.inner.links.put_claims(stored_claims(module.claims())).await {
            tracing::warn!(actor = %key, error = %e, "could not store the actor's claims in the lattice data bucket");
        }
        tracing::info!(actor = %key, name = module.claims().name().unwrap_or(""), max_instances, reference, "actor started");
        let claims = claims_data(module.claims());
        let host_id = self.key().as_str().to_owned();
        self.inner
            .events
            .emit(LatticeEvent::ActorsStarted(ActorsStartedData {
                annotations: annotations.clone(),
                claims: claims.clone(),
                count: u64::from(max_instances),
                host_id: host_id.clone(),
                image_ref: reference.to_owned(),
                public_key: key.as_str().to_owned(),
            }))
            .await;
        self.inner
            .events
            .emit(LatticeEvent::ActorScaled(ActorScaledData {
                annotations,
                claims: Some(claims),
                host_id,
                image_ref: reference.to_owned(),
                max_instances: u64::from(max_instances),
                public_key: key.as_str().to_owned(),
            }))
            .await;
        Ok(key)
    }

    async fn rescale(&self, key: &ActorKey, max_instances: u32, annotations: BTreeMap<String, String>) {
        let mut actors = self.inner.actors.lock().await;
        let Some(entry) = actors.get_mut(key.as_str()) else { return };
        entry.served.scale(max_instances);
        entry.annotations = annotations.clone();
        let data = ActorScaledData {
            annotations,
            claims: Some(claims_data(entry.served.module().claims())),
            host_id: self.key().as_str().to_owned(),
            image_ref: entry.image_ref.clone(),
            max_instances: u64::from(max_instances),
            public_key: key.as_str().to_owned(),
        };
        drop(actors);
        tracing::info!(actor = %key, max_instances, "actor scaled");
        self.inner.events.emit(LatticeEvent::ActorScaled(data)).await;
    }

    /// The key of the running actor named by `reference` (its key, or the reference it was
    /// started from).
    pub async fn running_actor_key(&self, reference: &str) -> Option<ActorKey> {
        let actors = self.inner.actors.lock().await;
        if let Some(entry) = actors.get(reference) {
            return Some(entry.served.module().key().clone());
        }
        actors.values().find(|e| e.image_ref == reference).map(|e| e.served.module().key().clone())
    }

    /// Stop the actor named by key or reference: stop reading its calls, answer those
    /// already received.
    pub async fn stop_actor(&self, reference: &str) -> Result<(), HostError> {
        let key = self
            .running_actor_key(reference)
            .await
            .ok_or_else(|| HostError::NotRunning("actor is not running on this host".into()))?;
        let Some(entry) = self.inner.actors.lock().await.remove(key.as_str()) else {
            return Err(HostError::NotRunning("actor is not running on this host".into()));
        };
        let count = u64::from(entry.served.max_instances());
        entry.served.stop().await;
        tracing::info!(actor = %key, "actor stopped");
        let host_id = self.key().as_str().to_owned();
        self.inner
            .events
            .emit(LatticeEvent::ActorsStopped(ActorsStoppedData {
                annotations: entry.annotations.clone(),
                count,
                host_id: host_id.clone(),
                image_ref: entry.image_ref.clone(),
                public_key: key.as_str().to_owned(),
                remaining: 0,
            }))
            .await;
        self.inner
            .events
            .emit(LatticeEvent::ActorScaled(ActorScaledData {
                annotations: entry.annotations,
                claims: None,
                host_id,
                image_ref: entry.image_ref,
                max_instances: 0,
                public_key: key.as_str().to_owned(),
            }))
            .await;
        Ok(())
    }

    /// The actors running here.
    pub async fn actors(&self) -> Vec<ActorStatus> {
        self.inner
            .actors
            .lock()
            .await
            .values()
            .map(|e| ActorStatus {
                key: e.served.module().key().clone(),
                image_ref: e.image_ref.clone(),
                name: e.served.module().claims().name().map(str::to_owned),
                max_instances: e.served.max_instances(),
                calls_dispatched: e.served.stats().dispatched,
            })
            .collect()
    }

    // ---- providers ---------------------------------------------------------------------

    /// A permit for one start requested over the control interface, if one is free.
    pub(crate) fn control_start_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.control_starts.clone().try_acquire_owned().ok()
    }

    fn provider_env(&self) -> ProviderEnv {
        let c = &self.inner.config;
        ProviderEnv {
            rpc: self.inner.rpc_nats.clone(),
            lattice: c.lattice.clone(),
            host: self.inner.key.clone(),
            cluster_seed: c.cluster_seed.clone(),
            issuers: c.cluster_issuers.clone(),
            rpc_url: c.rpc_url.clone(),
            credentials: c.rpc_credentials.clone(),
            rpc_timeout: c.rpc_timeout,
            grace: c.provider_shutdown_grace,
            start_timeout: c.provider_start_timeout,
            health: c.health,
            restart: c.restart,
            links: self.inner.links.clone(),
            events: self.inner.events.clone(),
            tracker: self.inner.tracker.clone(),
            observability: c.observability.clone(),
            js_replicas: c.js_replicas,
        }
    }

    /// Start a provider and wait until it is ready (it answered a health probe and has
    /// its links). Publishes `provider_started`, or `provider_start_failed` on failure.
    pub async fn start_provider(&self, spec: ProviderSpec) -> Result<lattice_proto::ProviderKey, HostError> {
        self.check_running()?;
        let result = self.try_start_provider(&spec).await;
        if let Err(e) = &result {
            self.inner
                .events
                .emit(LatticeEvent::ProviderStartFailed(lattice_control::events::ProviderStartFailedData {
                    error: crate::error::chain(e),
                    link_name: spec.link_name.as_str().to_owned(),
                    provider_ref: spec.reference.clone(),
                }))
                .await;
        }
        result
    }

    async fn try_start_provider(&self, spec: &ProviderSpec) -> Result<lattice_proto::ProviderKey, HostError> {
        let (state, owned) = (self.inner.state.clone(), spec.clone());
        let fetched = match crate::resolve::classify(&spec.reference)? {
            crate::resolve::Source::Oci(_) => Some(
                crate::resolve::fetch(&self.inner.registries, &spec.reference, lattice_oci::ArtifactKind::Provider)
                    .await?,
            ),
            crate::resolve::Source::Local(_) => None,
        };
        let trusted = self.inner.config.trusted_issuers.clone();
        let resolved = tokio::task::spawn_blocking(move || match fetched {
            Some(f) => provider::resolve_archive(&owned, &f.bytes, &state, unix_now(), trusted.as_deref()),
            None => provider::resolve(&owned, &state, unix_now(), trusted.as_deref()),
        })
        .await
        .map_err(|e| HostError::Config(format!("provider resolver failed: {e}")))??;
        let id = (resolved.key.as_str().to_owned(), spec.link_name.as_str().to_owned());
        let already = || HostError::ProviderStart {
            reference: spec.reference.clone(),
            reason: format!("provider {} already runs on this host under link name {}", id.0, id.1),
        };
        // Reserve the id under the lock, then start without it.
        {
            let providers = self.inner.providers.lock().await;
            let mut starting = self.inner.starting_providers.lock().unwrap_or_else(PoisonError::into_inner);
            if providers.contains_key(&id) || !starting.insert(id.clone()) {
                return Err(already());
            }
        }
        let reservation = StartReservation { host: self, id: id.clone() };
        if let Err(e) = self.inner.links.put_claims(StoredClaims::Provider(resolved.claims.clone())).await {
            tracing::warn!(provider = %id.0, error = %e, "could not store the provider's claims in the lattice data bucket");
        }
        let running = RunningProvider::start(self.provider_env(), spec, resolved).await?;
        let key = running.key().clone();
        self.inner.providers.lock().await.insert(id, running);
        drop(reservation);
        Ok(key)
    }

    /// Stop the provider named by key or reference under `link_name`.
    pub async fn stop_provider(&self, reference: &str, link_name: &str) -> Result<(), HostError> {
        let running = {
            let mut providers = self.inner.providers.lock().await;
            let id = providers
                .iter()
                .find(|((key, link), p)| link == link_name && (key == reference || p.reference() == reference))
                .map(|(id, _)| id.clone())
                .ok_or_else(|| {
                    HostError::NotRunning(format!(
                        "provider {reference} is not running on this host under link name {link_name}"
                    ))
                })?;
            providers.remove(&id)
        };
        if let Some(p) = running {
            p.stop(self.key(), &self.inner.events, "provider stop requested").await;
        }
        Ok(())
    }

    /// The process id of the provider `key` under `link_name` (for operators and tests).
    pub async fn provider_pid(&self, key: &str, link_name: &str) -> Option<u32> {
        self.inner.providers.lock().await.get(&(key.to_owned(), link_name.to_owned())).map(RunningProvider::pid)
    }

    /// How often the provider `key` under `link_name` was restarted after a crash.
    pub async fn provider_restarts(&self, key: &str, link_name: &str) -> Option<u32> {
        self.inner.providers.lock().await.get(&(key.to_owned(), link_name.to_owned())).map(RunningProvider::restarts)
    }

    // ---- links -------------------------------------------------------------------------

    /// Store a link in the lattice (every host and the provider learn of it).
    pub async fn put_link(&self, link: LinkDefinition) -> Result<(), HostError> {
        self.inner.links.put(link).await
    }

    /// Delete a link.
    pub async fn del_link(&self, actor: &str, contract: &str, link_name: &str) -> Result<(), HostError> {
        self.inner.links.delete(actor, contract, link_name).await
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// Ask the host to stop (what `cmd.{host}.stop` does); [`Host::stop_requested`] resolves.
    pub fn request_stop(&self) {
        self.inner.stop_requested.cancel();
    }

    /// Resolves once someone asked this host to stop ([`Host::request_stop`]).
    pub async fn stop_requested(&self) {
        self.inner.stop_requested.cancelled().await;
    }

    /// Stop the host: control interface (publishing `host_stopped`), actors (draining),
    /// providers (shutdown request, kill after the grace period), watchers; flush both
    /// connections. Idempotent.
    pub async fn stop(&self) {
        if self.inner.stop.is_cancelled() {
            self.inner.tracker.wait().await;
            return;
        }
        self.inner.stop.cancel();
        // Every step is bounded: when the NATS server is gone (e.g. a terminal's Ctrl-C
        // reached it too), flushes and drains would otherwise wait for a reconnect forever.
        let control = self.inner.control.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(control) = control {
            bounded("stopping the control interface", STOP_STEP, control.stop()).await;
        }
        let actors = std::mem::take(&mut *self.inner.actors.lock().await);
        let draining = futures::future::join_all(actors.into_values().map(|a| a.served.stop()));
        bounded("draining actors", STOP_STEP, draining).await;
        let providers = std::mem::take(&mut *self.inner.providers.lock().await);
        futures::future::join_all(
            providers.into_values().map(|p| p.stop(&self.inner.key, &self.inner.events, "host stopping")),
        )
        .await;
        self.inner.tracker.close();
        bounded("finishing host tasks", STOP_STEP, self.inner.tracker.wait()).await;
        bounded("flushing the control connection", FLUSH_LIMIT, self.inner.ctl_nats.flush()).await;
        bounded("flushing the RPC connection", FLUSH_LIMIT, self.inner.rpc_nats.flush()).await;
        tracing::info!(host = %self.key(), "host stopped");
    }
}

/// At most this many starts requested over the control interface run at once.
pub(crate) const MAX_CONTROL_STARTS: usize = 16;

/// Releases a provider id reserved by `try_start_provider` (on success and on failure).
struct StartReservation<'a> {
    host: &'a Host,
    id: (String, String),
}

impl Drop for StartReservation<'_> {
    fn drop(&mut self) {
        self.host.inner.starting_providers.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}
