//! [`ControlServer`]: the `wasmbus.ctl.{lattice}.…` subjects of one host, answered as 0.82
//! answers them.
//!
//! Subscriptions are exactly [`subjects::host_subscriptions`]: fan-out for `ping.hosts`,
//! `auction.>`, `registries.put` and this host's own `cmd.{id}.*`, `labels.{id}.*` and
//! `get.{id}.inv`; queue groups for the lattice-wide `get.*`, `linkdefs.*`, `config.>` and
//! `get.config.>` (one host answers). No catch-all: a subject that one of those filters
//! matches but that means nothing (`linkdefs.get`, `cmd.{id}.bogus`, `get.bogus`) gets the
//! `unsupported subject` ack; anything else is not ours to answer, so hosts never answer
//! for each other.
//!
//! Every message is handled in its own task (a slow scale never delays a ping), owned by
//! the server's `JoinSet`; a panicking handler is logged and the server keeps serving. On
//! shutdown the server unsubscribes, lets in-flight requests finish (up to
//! [`DRAIN_TIMEOUT`]), stops the heartbeat and publishes `host_stopped`.
//!
//! Replies:
//! - `ping.hosts` → [`Host`], `get.{id}.inv` → [`HostInventory`], `get.links` →
//!   `{"links":[…]}`, `get.claims` → `{"claims":[{…}]}`: plain JSON, no ack wrapper.
//! - commands → [`CtlOperationAck`]: `{"accepted":true,"error":""}` byte for byte, or
//!   `{"accepted":false,"error":"…"}` with the decoder's or the host's reason.
//! - auctions → a bid, or silence when the host's labels do not satisfy the constraints or
//!   the target declines ([`auction`](super::auction)).
//! - `cmd.{id}.stop` → the ack is sent and flushed first, then the host is told to stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::SelectAll;
use lattice_control::storage::StoredClaims;
use lattice_control::subjects::{self, Subscription};
use lattice_control::types::{
    ActorAuctionAck, ActorAuctionRequest, CtlBody, CtlOperationAck, GetClaimsResponse, HostLabel, LinkDefinitionList,
    ProviderAuctionAck, ProviderAuctionRequest, RegistryCredentialMap, RemoveLinkDefinitionRequest, ScaleActorCommand,
    StartProviderCommand, StopActorCommand, StopHostCommand, StopProviderCommand, UpdateActorCommand,
};
use lattice_control::{CtlRequest, decode_body};
use lattice_proto::{HostKey, LatticeName, LinkDefinition};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::auction;
use super::error::ControlServerError;
use super::events::EventPublisher;
use super::target::{CommandError, ControlTarget};

/// How often a host publishes `host_heartbeat` (0.82: every 30 s, the first 30 s after start).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// How long shutdown waits for in-flight requests before abandoning them.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The control server of one host. Start it with [`ControlServer::start`] or, to change the
/// heartbeat or the announcements, [`ControlServer::builder`].
#[derive(Debug)]
pub struct ControlServer;

impl ControlServer {
    /// A builder for the control server of host `host` in `lattice`, on the control
    /// connection `nats`, serving `target`.
    pub fn builder<T: ControlTarget>(
        nats: async_nats::Client,
        lattice: LatticeName,
        host: HostKey,
        target: Arc<T>,
    ) -> ControlServerBuilder<T> {
        ControlServerBuilder {
            nats,
            lattice,
            host,
            target,
            heartbeat: Some(DEFAULT_HEARTBEAT_INTERVAL),
            announce: true,
            events: None,
        }
    }

    /// Start with the defaults (heartbeat every 30 s, `host_started` / `host_stopped`
    /// published); serve until `shutdown` resolves (or [`ControlHandle::stop`]).
    pub async fn start<T: ControlTarget>(
        nats: async_nats::Client,
        lattice: LatticeName,
        host: HostKey,
        target: Arc<T>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ControlHandle, ControlServerError> {
        Self::builder(nats, lattice, host, target).start(shutdown).await
    }
}

/// Builds and starts a [`ControlServer`]; ends in [`ControlServerBuilder::start`].
#[derive(Debug)]
pub struct ControlServerBuilder<T> {
    nats: async_nats::Client,
    lattice: LatticeName,
    host: HostKey,
    target: Arc<T>,
    heartbeat: Option<Duration>,
    announce: bool,
    events: Option<EventPublisher>,
}

impl<T: ControlTarget> ControlServerBuilder<T> {
    /// Publish `host_heartbeat` every `interval`, the first one `interval` after start
    /// (default 30 s). A zero interval turns the heartbeat off.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat = (!interval.is_zero()).then_some(interval);
        self
    }

    /// Publish `host_started` once the subscriptions are live and `host_stopped` after the
    /// drain (default `true`). Turn off when the host core publishes them itself.
    pub fn announce(mut self, announce: bool) -> Self {
        self.announce = announce;
        self
    }

    /// The publisher to use (default: a new one on the control connection). Pass the host
    /// core's so that both share one.
    pub fn events(mut self, events: EventPublisher) -> Self {
        self.events = Some(events);
        self
    }

    /// Subscribe every control subject, flush (so the server knows them when this
    /// returns), announce the host, and serve until `shutdown` resolves.
    pub async fn start(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ControlHandle, ControlServerError> {
        let events = self
            .events
            .unwrap_or_else(|| EventPublisher::new(self.nats.clone(), self.lattice.clone(), self.host.clone()));
        let subscriptions = subjects::host_subscriptions(&self.lattice, &self.host);
        let mut subscribers = futures::stream::select_all(Vec::new());
        for sub in &subscriptions {
            let result = match &sub.queue_group {
                Some(group) => self.nats.queue_subscribe(sub.subject.clone(), group.clone()).await,
                None => self.nats.subscribe(sub.subject.clone()).await,
            };
            let subscriber =
                result.map_err(|e| ControlServerError::Subscribe { subject: sub.subject.clone(), source: e.into() })?;
            subscribers.push(subscriber);
        }
        self.nats.flush().await.map_err(|e| ControlServerError::Flush { source: e.into() })?;
        tracing::info!(host = %self.host, lattice = %self.lattice, "control interface listening");

        let ctx = Arc::new(Ctx {
            target: self.target,
            nats: self.nats,
            lattice: self.lattice,
            host: self.host,
            events: events.clone(),
        });
        if self.announce {
            events.host_started(&ctx.target.host_info().await).await;
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            tokio::select! {
                () = shutdown => {}
                _ = stop_rx => {}
            }
        });
        let task = tokio::spawn(serve(ctx, subscribers, shutdown, self.heartbeat, self.announce));
        Ok(ControlHandle { events, subscriptions, stop: Some(stop_tx), task })
    }
}

/// A running control server. Keep it for as long as the host runs: dropping it stops the
/// server as [`ControlHandle::stop`] would (without waiting for the drain).
#[derive(Debug)]
pub struct ControlHandle {
    events: EventPublisher,
    subscriptions: Vec<Subscription>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ControlHandle {
    /// The publisher the server uses (clone it to publish more events).
    pub fn events(&self) -> &EventPublisher {
        &self.events
    }

    /// The subscriptions the server made.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Stop now: unsubscribe, drain, publish `host_stopped` (if announcing), and return
    /// when done.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be stopping (its shutdown future resolved).
            let _ = stop.send(());
        }
        self.wait().await;
    }

    /// Wait until the server has stopped (after its shutdown future resolved).
    pub async fn wait(self) {
        // Keep the stop sender alive while waiting: dropping it would stop the server.
        let ControlHandle { stop: _stop, task, .. } = self;
        if let Err(e) = task.await {
            tracing::error!(error = %lattice_proto::chain(&e), "the control server task failed");
        }
    }
}

/// What every request handler shares.
struct Ctx<T> {
    target: Arc<T>,
    nats: async_nats::Client,
    lattice: LatticeName,
    host: HostKey,
    events: EventPublisher,
}

/// What to do with a request once it has been understood.
enum Reply {
    /// Send these bytes to the reply subject.
    Json(Vec<u8>),
    /// Send nothing (an auction this host does not bid in).
    Silent,
    /// Ack, flush, then tell the host to stop.
    StopHost(Option<Duration>),
}

impl Reply {
    fn ack(result: Result<(), CommandError>) -> Self {
        match result {
            Ok(()) => Reply::Json(CtlOperationAck::accepted().to_json()),
            Err(e) => Reply::Json(CtlOperationAck::rejected(crate::error::chain(&e)).to_json()),
        }
    }

    fn rejected(error: impl std::fmt::Display) -> Self {
        Reply::Json(CtlOperationAck::rejected(error.to_string()).to_json())
    }
}

/// Control requests handled at once, at most (one task each).
const MAX_CONCURRENT_HANDLERS: usize = 64;

async fn serve<T: ControlTarget>(
    ctx: Arc<Ctx<T>>,
    mut subscribers: SelectAll<async_nats::Subscriber>,
    mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    heartbeat: Option<Duration>,
    announce: bool,
) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let handlers = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HANDLERS));
    let mut ticker = heartbeat.map(|period| {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_task_end(done),
            () = tick(&mut ticker) => {
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let inventory = ctx.target.inventory().await;
                    ctx.events.host_heartbeat(inventory).await;
                });
            }
            msg = subscribers.next() => match msg {
                Some(msg) => {
                    // At most MAX_CONCURRENT_HANDLERS requests are handled at once; the next
                    // one waits here (NATS buffers the rest) unless the host stops.
                    let permit = tokio::select! {
                        () = &mut shutdown => break,
                        p = handlers.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    };
                    let ctx = ctx.clone();
                    tasks.spawn(async move {
                        handle(ctx, msg).await;
                        drop(permit);
                    });
                }
                None => {
                    tracing::warn!("control subscriptions ended (connection closed?)");
                    break;
                }
            },
        }
    }
    // Unsubscribe first so no new requests arrive (explicitly: a dropped subscriber
    // unsubscribes in the background, after a flush could have returned), then drain.
    for mut subscriber in subscribers {
        if let Err(e) = subscriber.unsubscribe().await {
            tracing::debug!(error = %lattice_proto::chain(&e), "could not unsubscribe a control subject");
        }
    }
    // `unsubscribe` only queues the UNSUB; a round trip through the server proves it was
    // processed, so once this returns no other client can reach this host's handlers.
    if let Err(e) = lattice_rpc::barrier::round_trip(&ctx.nats).await {
        tracing::debug!(error = %lattice_proto::chain(&e), "could not confirm the control unsubscribes");
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(done) = tasks.join_next().await {
            log_task_end(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(left = tasks.len(), "control requests still running after the drain timeout; abandoning them");
        tasks.shutdown().await;
    }
    if announce {
        ctx.events.host_stopped(ctx.target.labels().await).await;
    } else if let Err(e) = ctx.nats.flush().await {
        tracing::warn!(error = %lattice_proto::chain(&e), "could not flush the control connection");
    }
    tracing::info!(host = %ctx.host, "control interface stopped");
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %lattice_proto::chain(&e), "a control request handler panicked; the server keeps serving");
    }
}

async fn handle<T: ControlTarget>(ctx: Arc<Ctx<T>>, msg: async_nats::Message) {
    let subject = msg.subject.to_string();
    let request = match CtlRequest::parse(&ctx.lattice, &subject) {
        // Our filters only match our own id; anything else is not ours to act on.
        r if r.host().is_some_and(|h| *h != ctx.host) => CtlRequest::Unsupported { subject: subject.clone() },
        r => r,
    };
    tracing::debug!(%subject, request = ?request, "control request");
    let reply = answer(&ctx, request, &msg.payload).await;
    let Some(reply_to) = msg.reply else {
        if let Reply::StopHost(timeout) = reply {
            ctx.target.stop_host(timeout).await;
        }
        return;
    };
    let (bytes, stop) = match reply {
        Reply::Json(bytes) => (bytes, None),
        Reply::Silent => return,
        Reply::StopHost(timeout) => (CtlOperationAck::accepted().to_json(), Some(timeout)),
    };
    if let Err(e) = ctx.nats.publish(reply_to, bytes.into()).await {
        tracing::warn!(%subject, error = %lattice_proto::chain(&e), "could not send a control reply");
    }
    if let Some(timeout) = stop {
        if let Err(e) = ctx.nats.flush().await {
            tracing::warn!(error = %lattice_proto::chain(&e), "could not flush the stop-host ack");
        }
        ctx.target.stop_host(timeout).await;
    }
}

/// Decode a command body, or the `accepted:false` reply saying why not.
fn body<B: CtlBody>(request: &str, payload: &[u8]) -> Result<B, Reply> {
    decode_body::<B>(payload).map_err(|e| {
        tracing::info!(request, error = %lattice_proto::chain(&e), "refusing a malformed control request");
        Reply::rejected(crate::error::chain(&e))
    })
}

fn json<S: Serialize>(value: &S) -> Reply {
    match serde_json::to_vec(value) {
        Ok(bytes) => Reply::Json(bytes),
        // Our reply types have string keys and plain fields; this would be a bug.
        Err(e) => Reply::rejected(format!("failed to serialize the reply: {e}")),
    }
}

async fn answer<T: ControlTarget>(ctx: &Ctx<T>, request: CtlRequest, payload: &[u8]) -> Reply {
    let target = &*ctx.target;
    macro_rules! command {
        ($ty:ty, |$b:ident| $call:expr) => {{
            match body::<$ty>(request_name(&request), payload) {
                Ok($b) => Reply::ack($call.await),
                Err(reply) => reply,
            }
        }};
    }
    match &request {
        CtlRequest::PingHosts => {
            let mut host = target.host_info().await;
            // The Lattice extension only for clients that ask: 0.82's reply shape otherwise.
            if !lattice_control::types::PingHostsRequest::from_body(payload).lattice_connections {
                host.connections = None;
            }
            json(&host)
        }
        CtlRequest::HostInventory { .. } => json(&target.inventory().await),
        CtlRequest::GetLinks => json(&LinkDefinitionList { links: target.links().await }),
        CtlRequest::GetClaims => {
            let claims = target.claims().await.iter().map(StoredClaims::to_claims_map).collect();
            json(&GetClaimsResponse { claims })
        }
        CtlRequest::LinkPut => command!(LinkDefinition, |b| target.put_link(b)),
        CtlRequest::LinkDel => command!(RemoveLinkDefinitionRequest, |b| target.del_link(b)),
        CtlRequest::ScaleActor { .. } => command!(ScaleActorCommand, |b| target.scale_actor(b)),
        CtlRequest::StopActor { .. } => command!(StopActorCommand, |b| target.stop_actor(b)),
        CtlRequest::StartProvider { .. } => command!(StartProviderCommand, |b| target.start_provider(b)),
        CtlRequest::StopProvider { .. } => command!(StopProviderCommand, |b| target.stop_provider(b)),
        CtlRequest::UpdateActor { .. } => command!(UpdateActorCommand, |b| target.update_actor(b)),
        CtlRequest::LabelPut { .. } => command!(HostLabel, |b| target.put_label(b)),
        CtlRequest::LabelDel { .. } => command!(HostLabel, |b| target.del_label(b.key)),
        CtlRequest::StopHost { .. } => match body::<StopHostCommand>(request_name(&request), payload) {
            Ok(stop) => Reply::StopHost(stop.timeout.map(Duration::from_millis)),
            Err(reply) => reply,
        },
        CtlRequest::RegistriesPut => match body::<RegistryCredentialMap>(request_name(&request), payload) {
            // Credentials per registry authority, used by later OCI pulls (HOST.md §9).
            Ok(registries) => Reply::ack(target.put_registries(registries).await),
            Err(reply) => reply,
        },
        CtlRequest::AuctionActor => match body::<ActorAuctionRequest>(request_name(&request), payload) {
            Ok(req) => {
                let labels = target.labels().await;
                if let Some((key, wanted, found)) = auction::first_unmet(&labels, &req.constraints) {
                    tracing::debug!(actor_ref = %req.actor_ref, key, wanted, ?found, "not bidding: constraint unmet");
                    Reply::Silent
                } else if !target.can_run_actor(&req.actor_ref).await {
                    Reply::Silent
                } else {
                    json(&ActorAuctionAck {
                        actor_ref: req.actor_ref,
                        host_id: ctx.host.to_string(),
                        constraints: req.constraints,
                    })
                }
            }
            Err(reply) => reply,
        },
        CtlRequest::AuctionProvider => match body::<ProviderAuctionRequest>(request_name(&request), payload) {
            Ok(req) => {
                let labels = target.labels().await;
                if let Some((key, wanted, found)) = auction::first_unmet(&labels, &req.constraints) {
                    tracing::debug!(provider_ref = %req.provider_ref, key, wanted, ?found, "not bidding: constraint unmet");
                    Reply::Silent
                } else if !target.can_run_provider(&req.provider_ref, &req.link_name).await {
                    Reply::Silent
                } else {
                    json(&ProviderAuctionAck {
                        host_id: ctx.host.to_string(),
                        link_name: req.link_name,
                        provider_ref: req.provider_ref,
                        constraints: req.constraints,
                    })
                }
            }
            Err(reply) => reply,
        },
        CtlRequest::ConfigPut { entity, key } => {
            Reply::ack(target.put_config(entity.clone(), key.clone(), payload.to_vec()).await)
        }
        CtlRequest::ConfigDel { entity, key } => Reply::ack(target.del_config(entity.clone(), key.clone()).await),
        CtlRequest::ConfigClear { entity } => Reply::ack(target.clear_config(entity.clone()).await),
        CtlRequest::ConfigGet { entity, key: Some(key) } => {
            match target.get_config(entity.clone(), key.clone()).await {
                Ok(found) => json(&found),
                Err(e) => Reply::rejected(crate::error::chain(&e)),
            }
        }
        CtlRequest::ConfigGet { key: None, .. } => Reply::rejected(CommandError::Unsupported("reading a whole config")),
        CtlRequest::Unsupported { subject } => {
            tracing::debug!(%subject, "unsupported control subject");
            Reply::Json(CtlOperationAck::unsupported_subject().to_json())
        }
    }
}

/// A short name of the request, for logs.
fn request_name(request: &CtlRequest) -> &'static str {
    match request {
        CtlRequest::LinkPut => "linkdefs.put",
        CtlRequest::LinkDel => "linkdefs.del",
        CtlRequest::ScaleActor { .. } => "cmd.scale",
        CtlRequest::StopActor { .. } => "cmd.sa",
        CtlRequest::StartProvider { .. } => "cmd.lp",
        CtlRequest::StopProvider { .. } => "cmd.sp",
        CtlRequest::UpdateActor { .. } => "cmd.upd",
        CtlRequest::StopHost { .. } => "cmd.stop",
        CtlRequest::LabelPut { .. } => "labels.put",
        CtlRequest::LabelDel { .. } => "labels.del",
        CtlRequest::RegistriesPut => "registries.put",
        CtlRequest::AuctionActor => "auction.actor",
        CtlRequest::AuctionProvider => "auction.provider",
        _ => "control request",
    }
}
