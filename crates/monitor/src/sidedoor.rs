//! Alerts on the provider control messages that carry no signature (docs/SECURITY.md,
//! list (c)): a `.linkdefs.put` that no host stored, and a `.shutdown` that no host
//! followed with a `provider_stopped` event.
//!
//! - **Link puts.** Every host writes `LINKDEF_{hash}` to `LATTICEDATA_{lattice}` before it
//!   publishes a link, so a put the bucket does not hold — read from the stream leader,
//!   re-read for a short bounded time ([`lattice_control::stored_links`], the same check
//!   providers make) — is [`SideDoorKind::UnstoredLinkPut`]. At most
//!   [`MAX_CONCURRENT_CHECKS`] puts are checked at once; beyond that they are dropped and
//!   counted (`lattice_monitor_control_messages_total{kind="linkdefs.put.unchecked"}`).
//! - **Shutdowns.** A host that stops a provider sends `.shutdown`, waits for it to exit (or
//!   kills it) and then publishes `provider_stopped` (0.82 does the same). A `.shutdown`
//!   with no matching event (same provider key, link name and host id) within the wait is
//!   [`SideDoorKind::UnexplainedShutdown`]. At most [`MAX_PENDING_SHUTDOWNS`] are tracked;
//!   beyond that they are dropped and counted (`…{kind="shutdown.untracked"}`).
//!
//! The monitor needs to read the bucket and the `provider_stopped` events for this; with
//! neither permitted it still counts the messages, and says so once in a warning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Subscriber;
use bytes::Bytes;
use futures::StreamExt;
use lattice_control::events::{CloudEvent, LatticeEvent};
use lattice_control::stored_links::StoredLinks;
use lattice_proto::shutdown::ShutdownRequest;
use lattice_proto::subject::{self, RpcSubject};
use lattice_proto::{LatticeName, LinkDefinition};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::Alert;
use crate::metrics::Metrics;
use crate::nats::Clock;

/// Link puts checked against the bucket at once, at most.
pub const MAX_CONCURRENT_CHECKS: usize = 256;
/// Shutdowns waiting for their `provider_stopped` event, at most.
pub const MAX_PENDING_SHUTDOWNS: usize = 4096;
/// The default time a host has to follow `.shutdown` with `provider_stopped` (longer than
/// a host's stop grace period plus its kill).
pub const DEFAULT_SHUTDOWN_EXPLAIN_WAIT: Duration = Duration::from_secs(15);
/// Control messages queued for this task before the reader drops (and counts) them.
const QUEUE: usize = 4096;

/// The alert kinds of unsigned control messages (`--json` `kind` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideDoorKind {
    /// A `.linkdefs.put` whose link no host stored in the lattice data bucket.
    UnstoredLinkPut,
    /// A `.shutdown` not followed by a host's `provider_stopped` event.
    UnexplainedShutdown,
}

impl SideDoorKind {
    /// The `kind` of the alert (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            SideDoorKind::UnstoredLinkPut => "unstored_link_put",
            SideDoorKind::UnexplainedShutdown => "unexplained_shutdown",
        }
    }
}

/// A control message for the side-door task (the reader only hands it over).
#[derive(Debug)]
pub(crate) struct ControlMessage {
    pub(crate) subject: String,
    pub(crate) payload: Bytes,
}

/// Settings of the side-door task.
#[derive(Clone, Debug)]
pub(crate) struct SideDoorSettings {
    pub(crate) link_confirm_wait: Duration,
    pub(crate) shutdown_explain_wait: Duration,
}

/// Where the task's results go.
pub(crate) struct Outputs {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) alerts: mpsc::Sender<Alert>,
}

/// The reader's handle: a bounded queue; a full one drops and counts.
#[derive(Clone, Debug)]
pub(crate) struct SideDoors {
    tx: mpsc::Sender<ControlMessage>,
    metrics: Arc<Metrics>,
}

impl SideDoors {
    /// Hand `msg` over if it is a kind this task checks (`linkdefs.put`, `shutdown`).
    pub(crate) fn offer(&self, kind: &str, msg: ControlMessage) {
        if !matches!(kind, "linkdefs.put" | "shutdown") {
            return;
        }
        if self.tx.try_send(msg).is_err() {
            self.metrics.control(&format!("{kind}.unchecked"));
        }
    }
}

/// One `.shutdown` waiting for its event.
struct Pending {
    subject: String,
    provider: String,
    host_id: String,
    deadline: Instant,
}

/// The reader's handle and the task to spawn (it ends with `cancel`).
pub(crate) fn start(
    nats: async_nats::Client,
    lattice: &LatticeName,
    stopped_events: Subscriber,
    settings: SideDoorSettings,
    out: Outputs,
    cancel: CancellationToken,
) -> (SideDoors, impl std::future::Future<Output = ()> + Send + 'static) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let metrics = out.metrics.clone();
    let task = Task {
        stored: StoredLinks::new(nats, lattice, None),
        checks: Arc::new(Semaphore::new(MAX_CONCURRENT_CHECKS)),
        pending: HashMap::new(),
        settings,
        clock: out.clock,
        metrics: out.metrics,
        alerts: out.alerts,
        tracker: TaskTracker::new(),
    };
    (SideDoors { tx, metrics }, task.run(rx, stopped_events, cancel))
}

struct Task {
    stored: StoredLinks,
    checks: Arc<Semaphore>,
    /// Key: provider key, link name, host id.
    pending: HashMap<(String, String, String), Pending>,
    settings: SideDoorSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    alerts: mpsc::Sender<Alert>,
    tracker: TaskTracker,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<ControlMessage>, mut events: Subscriber, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(msg) => self.message(msg, &cancel),
                    None => break,
                },
                Some(event) = events.next() => self.event(&event.payload),
                _ = tick.tick() => self.expire().await,
            }
        }
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn message(&mut self, msg: ControlMessage, cancel: &CancellationToken) {
        let RpcSubject::ProviderControl { provider, link, kind, .. } = subject::parse(&msg.subject) else {
            return;
        };
        match kind {
            "linkdefs.put" => self.link_put(msg.subject.clone(), &msg.payload, cancel),
            "shutdown" => {
                let request = ShutdownRequest::decode(&msg.payload);
                let key = (provider.to_owned(), link.to_owned(), request.host_id.clone());
                if self.pending.len() >= MAX_PENDING_SHUTDOWNS && !self.pending.contains_key(&key) {
                    self.metrics.control("shutdown.untracked");
                    return;
                }
                let deadline = Instant::now() + self.settings.shutdown_explain_wait;
                let pending = Pending {
                    subject: msg.subject.clone(),
                    provider: provider.to_owned(),
                    host_id: request.host_id,
                    deadline,
                };
                self.pending.entry(key).or_insert(pending);
            }
            _ => {}
        }
    }

    fn link_put(&self, subject: String, payload: &[u8], cancel: &CancellationToken) {
        let ld = match LinkDefinition::decode(payload) {
            Ok(ld) => ld,
            Err(e) => {
                let reason = format!("undecodable link put: {e}");
                self.alert(subject, SideDoorKind::UnstoredLinkPut, None, None, reason);
                return;
            }
        };
        let Ok(permit) = self.checks.clone().try_acquire_owned() else {
            self.metrics.control("linkdefs.put.unchecked");
            return;
        };
        let (stored, wait, cancel) = (self.stored.clone(), self.settings.link_confirm_wait, cancel.clone());
        let (alerts, clock) = (self.alerts.clone(), self.clock.clone());
        self.tracker.spawn(async move {
            let _permit = permit;
            let confirmed = tokio::select! {
                () = cancel.cancelled() => return,
                r = stored.confirm(&ld, wait) => r,
            };
            let reason = match confirmed {
                Ok(true) => return,
                Ok(false) => format!(
                    "link put for actor {} (contract {}, link {}) that no host stored in the lattice data bucket",
                    ld.actor_id, ld.contract_id, ld.link_name
                ),
                Err(e) => {
                    tracing::warn!(error = %lattice_proto::chain(&e), "cannot read the lattice data bucket to check a link put");
                    return;
                }
            };
            let alert = Alert::side_door(
                clock.now(),
                subject,
                SideDoorKind::UnstoredLinkPut,
                Some(ld.actor_id.clone()),
                Some(ld.provider_id.clone()),
                reason,
            );
            let _ = alerts.send(alert).await;
        });
    }

    fn event(&mut self, payload: &[u8]) {
        let Ok(event) = CloudEvent::from_json(payload).and_then(|e| e.event()) else {
            return;
        };
        if let LatticeEvent::ProviderStopped(data) = event {
            self.pending.remove(&(data.public_key, data.link_name, data.host_id));
        }
    }

    async fn expire(&mut self) {
        let now = Instant::now();
        let due: Vec<_> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            if let Some(p) = self.pending.remove(&key) {
                let reason = format!(
                    "shutdown request naming host {:?} was not followed by a provider_stopped event within {:?}",
                    p.host_id, self.settings.shutdown_explain_wait
                );
                let alert = Alert::side_door(
                    self.clock.now(),
                    p.subject,
                    SideDoorKind::UnexplainedShutdown,
                    Some(p.host_id),
                    Some(p.provider),
                    reason,
                );
                if self.alerts.send(alert).await.is_err() {
                    return;
                }
            }
        }
    }

    fn alert(
        &self,
        subject: String,
        kind: SideDoorKind,
        origin: Option<String>,
        target: Option<String>,
        reason: String,
    ) {
        let alert = Alert::side_door(self.clock.now(), subject, kind, origin, target, reason);
        if self.alerts.try_send(alert).is_err() {
            self.metrics.control("alerts.dropped");
        }
    }
}
