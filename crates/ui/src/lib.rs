//! # lattice-ui — a live web dashboard of a lattice
//!
//! What runs where, what is linked to what, whether calls flow, and whether anyone forges
//! them, in one browser page: hosts (labels, uptime, heartbeat age; grey when silent, then
//! gone), actors and providers per host with instance counts, links (secret-looking values
//! masked), a call graph with calls/s, error rate and p50/p99 latency per edge over the
//! last N seconds, the monitor's forgery alerts, and the recent lattice events.
//!
//! ```text
//!  control queries ─┐
//!  lattice events ──┤                      every tick            SSE, bounded per browser
//!  RPC traffic ─────┼─► Model (aggregated) ──────► View ─diff─► Feed ─────────► browsers
//!  monitor alerts ──┘   [`model`]                   [`feed`]          [`server`]
//! ```
//!
//! Read [`model`] first (pure: every rule tested without NATS), then [`feed`] (deltas and
//! the per-browser bound), then [`collect`] (the read-only sources) and [`server`].
//! [`Ui::start`] wires them on one NATS connection.
//!
//! What it needs from NATS (a read-only role, the monitor role of `lattice nats-config`):
//! subscribe to `wasmbus.evt.{lattice}.>`, `wasmbus.rpc.{lattice}.>` and the reply
//! prefixes ([`UiConfig::reply_prefixes`]: `_INBOX.>` by default, add `_R_` for the callers
//! of a `lattice nats-config` lattice); publish the control *queries*
//! `wasmbus.ctl.{lattice}.ping.hosts`, `wasmbus.ctl.{lattice}.get.>` (their replies come on
//! its own `_INBOX`). It publishes nothing else: the monitor inside runs with its alert
//! subject off, and no command is ever sent.
//!
//! What it refuses to do: send commands, hold a seed (alerts need only the issuers'
//! public keys), queue messages for a browser that does not read ([`feed::CLIENT_QUEUE`]).

pub mod collect;
pub mod error;
pub mod feed;
pub mod mask;
pub mod model;
pub mod server;
pub mod stats;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::SelectAll;
use lattice_control::CtlClient;
use lattice_monitor::{Monitor, NatsEvents, ReplyPrefixes};
use lattice_proto::{ClusterKey, LatticeName};
use lattice_rpc::ConnWatch;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use error::UiError;
pub use feed::{Feed, FeedStats};
pub use model::{Model, ModelConfig, View};

use crate::collect::SharedModel;

/// How long [`UiHandle::stop`] waits for open HTTP connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Settings of the dashboard.
#[derive(Clone, Debug)]
pub struct UiConfig {
    /// The lattice to show.
    pub lattice: LatticeName,
    /// Trusted cluster issuers; with none, forgery alerts are off.
    pub issuers: Vec<ClusterKey>,
    /// Where to serve HTTP (port 0: any free port).
    pub addr: SocketAddr,
    /// The call graph's window.
    pub window: Duration,
    /// How often browsers get a delta (at least 100 ms).
    pub interval: Duration,
    /// How often hosts, inventories and links are queried again.
    pub refresh: Duration,
    /// How long a control query may take (pings are collected for this long).
    pub query_timeout: Duration,
    /// Where the responses to the invocations seen travel (default `_INBOX`), for pairing
    /// calls with their answers; the monitor inside uses the same.
    pub reply_prefixes: ReplyPrefixes,
}

impl UiConfig {
    /// Defaults for `lattice`: 127.0.0.1:3030, 10 s window, 4 deltas/s, refresh every 5 s.
    pub fn new(lattice: LatticeName) -> Self {
        Self {
            lattice,
            issuers: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 3030)),
            window: Duration::from_secs(10),
            interval: Duration::from_millis(250),
            refresh: Duration::from_secs(5),
            query_timeout: Duration::from_secs(1),
            reply_prefixes: ReplyPrefixes::default(),
        }
    }

    fn check(&self) -> Result<(), UiError> {
        if self.interval < Duration::from_millis(100) {
            return Err(UiError::Config("the feed interval must be at least 100 ms".into()));
        }
        if !(1..=3600).contains(&self.window.as_secs()) {
            return Err(UiError::Config("the call-graph window must be 1..=3600 s".into()));
        }
        if self.refresh < Duration::from_millis(500) || self.query_timeout.is_zero() {
            return Err(UiError::Config("refresh must be at least 500 ms and the query timeout non-zero".into()));
        }
        Ok(())
    }
}

/// What the HTTP handlers share with the ticker.
pub(crate) struct Shared {
    pub(crate) feed: Feed,
    latest: Mutex<Arc<str>>,
}

impl Shared {
    /// The latest full snapshot message.
    pub(crate) fn latest(&self) -> Arc<str> {
        self.latest.lock().map_or_else(|_| Arc::from("{}"), |l| l.clone())
    }
}

/// The dashboard; see the crate docs.
#[derive(Debug)]
pub struct Ui;

impl Ui {
    /// Subscribe, bind, and start serving, over a connection from the one connect helper
    /// ([`lattice_rpc::NatsOptions`]; give it a large subscription capacity, e.g.
    /// [`lattice_monitor::nats::SUBSCRIPTION_CAPACITY`]): its events tell a slow consumer,
    /// its state whether NATS is connected, both shown on the page.
    pub async fn start(conn: lattice_rpc::Nats, config: UiConfig) -> Result<UiHandle, UiError> {
        config.check()?;
        let lattice_rpc::Nats { client: nats, state: conn_state, events } = conn;
        let events: Option<NatsEvents> = Some(events);
        let lattice = config.lattice.clone();
        let subscribe = |subject: String| {
            let nats = nats.clone();
            async move { nats.subscribe(subject.clone()).await.map_err(|source| UiError::Subscribe { subject, source }) }
        };
        let events_sub = subscribe(lattice_control::subjects::events_wildcard(&lattice)).await?;
        let rpc_sub = subscribe(lattice_proto::subject::rpc_wildcard(&lattice).into_string()).await?;
        let mut replies = SelectAll::new();
        for subject in config.reply_prefixes.subjects() {
            replies.push(subscribe(subject).await?);
        }
        nats.flush().await.map_err(UiError::Flush)?;

        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| UiError::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| UiError::Bind { addr: config.addr, source })?;

        let model: SharedModel =
            Arc::new(Mutex::new(Model::new(ModelConfig { window: config.window }, Instant::now())));
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let alerts_on = !config.issuers.is_empty();
        if alerts_on {
            let mut builder = Monitor::builder(nats.clone(), lattice.clone(), &config.issuers)
                .alert_subject(None)
                .reply_prefixes(config.reply_prefixes.clone())
                .workers(std::thread::available_parallelism().map_or(2, usize::from).min(4));
            if let Some(events) = events {
                builder = builder.nats_events(events);
            }
            let monitor = builder.start().await?;
            tasks.spawn(collect::alerts_task(monitor, model.clone(), cancel.clone()));
        } else if let Some(events) = events {
            tasks.spawn(collect::nats_events_task(events, model.clone(), cancel.clone()));
        }

        let ctl = CtlClient::builder(nats.clone())
            .lattice(lattice.clone())
            .timeout(config.query_timeout.max(Duration::from_secs(2)))
            .auction_timeout(config.query_timeout)
            .build();
        let (refresh_tx, refresh_rx) = tokio::sync::mpsc::channel(256);
        tasks.spawn(collect::control_task(ctl, model.clone(), config.refresh, refresh_rx, cancel.clone()));
        tasks.spawn(collect::events_task(events_sub, model.clone(), refresh_tx, cancel.clone()));
        tasks.spawn(collect::traffic_task(rpc_sub, replies, model.clone(), cancel.clone()));

        let shared = Arc::new(Shared { feed: Feed::default(), latest: Mutex::new(Arc::from("{}")) });
        let info = json!({
            "lattice": lattice.as_str(), "alerts_on": alerts_on,
            "issuers": config.issuers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "interval_ms": config.interval.as_millis() as u64,
        });
        // The first snapshot before the first request can arrive.
        tick(&model, &shared, &mut View::default(), &info, &conn_state, 0);
        tasks.spawn(ticker(model.clone(), shared.clone(), info, conn_state, config.interval, cancel.clone()));

        let app = server::router(shared.clone());
        let stop = cancel.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        });
        Ok(UiHandle { addr, cancel, tasks, server, shared, model })
    }
}

/// Render, diff and publish one tick; `prev` becomes this tick's view.
fn tick(model: &SharedModel, shared: &Shared, prev: &mut View, info: &serde_json::Value, conn: &ConnWatch, seq: u64) {
    let now = Instant::now();
    let view = match model.lock() {
        Ok(mut m) => {
            m.expire(now);
            m.view(now)
        }
        Err(_) => return,
    };
    let t = collect::unix_ms();
    let fs = &shared.feed.stats;
    let mut stats = view.stats.clone();
    stats["clients"] = json!(shared.feed.clients());
    stats["dropped_updates"] = json!(fs.dropped.load(Ordering::Relaxed));
    stats["sent_updates"] = json!(fs.sent.load(Ordering::Relaxed));
    stats["info"] = info.clone();
    stats["nats_connected"] = json!(conn.is_connected());
    let delta = feed::diff(prev, &view);
    let delta_msg = feed::message(seq, t, false, &delta, &stats);
    let full = feed::message(seq, t, true, &feed::snapshot(&view), &stats);
    if let Ok(mut latest) = shared.latest.lock() {
        *latest = full.clone();
    }
    shared.feed.publish(Some(&delta_msg), || full);
    *prev = view;
}

async fn ticker(
    model: SharedModel,
    shared: Arc<Shared>,
    info: serde_json::Value,
    conn: ConnWatch,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut prev = View::default();
    let mut seq = 0u64;
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        seq += 1;
        tick(&model, &shared, &mut prev, &info, &conn, seq);
    }
}

/// A running dashboard.
#[derive(Debug)]
pub struct UiHandle {
    addr: SocketAddr,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    shared: Arc<Shared>,
    model: SharedModel,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("feed", &self.feed).finish_non_exhaustive()
    }
}

impl UiHandle {
    /// Where the page is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The feed's counters (browsers, dropped updates).
    pub fn feed_stats(&self) -> &FeedStats {
        &self.shared.feed.stats
    }

    /// Calls the dashboard has counted so far.
    pub fn calls_seen(&self) -> u64 {
        self.model.lock().map_or(0, |m| m.calls_total())
    }

    /// Resolves when the HTTP server stops on its own (an I/O error).
    pub async fn failed(&mut self) -> UiError {
        match (&mut self.server).await {
            Ok(Err(e)) => UiError::Serve(e),
            Ok(Ok(())) => UiError::Serve(std::io::Error::other("the HTTP server stopped")),
            Err(e) => UiError::Serve(std::io::Error::other(e.to_string())),
        }
    }

    /// Stop serving and wait for every task. Open feeds are ended; a browser that does not
    /// read its last bytes gets [`SHUTDOWN_GRACE`] before its connection is dropped.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        self.shared.feed.close();
        while self.tasks.join_next().await.is_some() {}
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await.is_err() {
            self.server.abort();
        }
    }
}
