//! [`Monitor`]: watch a lattice's RPC plane and report every invocation that fails a check.
//!
//! The monitor is a read-only NATS client. It plain-subscribes (no queue group, so it
//! takes no traffic away from anyone) to `wasmbus.rpc.{lattice}.>` and to the reply
//! subjects ([`crate::reply::ReplyPrefixes`]: `_INBOX.>` by default), and needs only the trusted issuers' **public** keys:
//! it never holds the cluster seed (PROTOCOL.md §11.8).
//!
//! Pipeline, built to keep up with a benchmark's load without dropping messages:
//!
//! ```text
//!  NATS ─► reader task ──(by invocation id)──► N worker threads ──► alert task ──► reports
//!            │  decode, route, pair replies      batch Ed25519,        publish on the
//!            │  count control messages            envelope, hash,       alert subject
//!            └► metrics (responses, latency)      replay shard
//! ```
//!
//! * The reader only decodes (cheap) and routes; crypto runs on worker threads so that it
//!   never stalls the read loop (the way a verifying I/O task caps a server).
//! * Invocations are sharded over workers **by invocation id**, so all copies of one id
//!   reach the same worker in arrival order and that worker's replay window decides
//!   exactly as a single one would: the first copy is valid, later ones are `replayed`.
//! * Calls are recorded for pairing with their replies only **after** a worker verified
//!   them (the worker hands the verified call back to the reader through a bounded queue):
//!   a forged invocation never occupies the pending table with its attacker-chosen reply
//!   subject and operation. Replies read before their call is recorded wait as early
//!   replies. Both have byte budgets; what does not fit is dropped and counted
//!   (`lattice_monitor_pairing_dropped_total`, [`MonitorHandle::pairing_dropped`]).
//! * Queues are bounded ([`crate::queue`]): in jobs, where a busy worker pushes back on the
//!   reader, whose NATS buffer ([`crate::nats::SUBSCRIPTION_CAPACITY`] messages) absorbs
//!   bursts; and in bytes, where a flood of large invocations pushes out the **oldest**
//!   queued ones (counted, `lattice_monitor_unverified_dropped_total`), so the newest
//!   traffic is always verified soon. If NATS still has to drop messages it says so
//!   (`SlowConsumer`), and the monitor reports it loudly and counts it: missed traffic is
//!   never silent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{Event, Message, Subscriber};
use bytes::Bytes;
use futures::stream::SelectAll;
use futures::{FutureExt, StreamExt};
use lattice_proto::replay::{DEFAULT_MAX_ENTRIES, DEFAULT_WINDOW_SECS, ReplayWindow};
use lattice_proto::verify::Rejection;
use lattice_proto::{ClusterKey, Invocation, LatticeName, TrustedIssuers, subject};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::alert::{Alert, default_alert_subject};
use crate::classify::{self, Route, Verdict};
use crate::error::MonitorError;
use crate::metrics::{self, Metrics};
use crate::nats::{Clock, NatsEvents, SystemClock, event_name};
use crate::pairing::{Pairing, PendingCall};
use crate::queue::VerifyQueue;
use crate::reply::ReplyPrefixes;
use crate::sidedoor::{self, ControlMessage, DEFAULT_SHUTDOWN_EXPLAIN_WAIT, SideDoorSettings, SideDoors};

/// Invocations a worker verifies in one Ed25519 batch, at most.
const MAX_BATCH: usize = 64;

/// Jobs queued per worker before the reader waits.
const WORKER_QUEUE: usize = 4096;

/// After this many invocations in a row, the reader serves replies and events first.
const FAIRNESS_STREAK: u32 = 64;

/// Bytes of invocations queued for verification or being verified, at most (payload and
/// subject sizes): beyond it the oldest queued invocations are dropped unverified and
/// counted (`lattice_monitor_unverified_dropped_total`), so that a flood of large forged
/// messages can neither grow the queues, and NATS' buffer behind them, without bound, nor
/// keep the next invocation from being verified soon (see [`crate::queue`]).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// Verified calls queued for the reader's pairing table before further ones are dropped
/// (and counted): the workers never wait on the reader, which waits on them.
const VERIFIED_QUEUE: usize = 16_384;

/// What the monitor tells its owner, in order of occurrence.
#[derive(Clone, Debug)]
pub enum Report {
    /// An invocation failed a check (already published on the alert subject, if any).
    Alert(Alert),
    /// NATS dropped messages for the monitor: it fell behind and may have missed traffic.
    SlowConsumer {
        /// The NATS subscription id that overflowed.
        subscription: u64,
        /// Slow-consumer events so far.
        total: u64,
    },
    /// The NATS connection changed state (disconnected, reconnected, an error).
    Connection {
        /// What happened.
        event: String,
    },
}

/// The forged-invocation monitor; see the module docs. Start one with [`Monitor::builder`].
#[derive(Debug)]
pub struct Monitor;

impl Monitor {
    /// A monitor of `lattice` on `nats`, trusting claims issued by `issuers`.
    pub fn builder(nats: async_nats::Client, lattice: LatticeName, issuers: &[ClusterKey]) -> MonitorBuilder {
        MonitorBuilder {
            alert_subject: Some(default_alert_subject(&lattice)),
            nats,
            lattice,
            issuers: TrustedIssuers::new(issuers),
            window: Duration::from_secs(DEFAULT_WINDOW_SECS),
            max_entries: DEFAULT_MAX_ENTRIES,
            clock: Arc::new(SystemClock),
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            reply_prefixes: ReplyPrefixes::default(),
            events: None,
            metrics_addr: None,
            pending_bytes: crate::pairing::DEFAULT_MAX_BYTES,
            early_bytes: crate::pairing::DEFAULT_MAX_EARLY_BYTES,
            side_doors: SideDoorSettings {
                link_confirm_wait: lattice_control::stored_links::DEFAULT_CONFIRM_WAIT,
                shutdown_explain_wait: DEFAULT_SHUTDOWN_EXPLAIN_WAIT,
            },
        }
    }
}

/// Settings of a [`Monitor`]; ends in [`MonitorBuilder::start`].
pub struct MonitorBuilder {
    nats: async_nats::Client,
    lattice: LatticeName,
    issuers: TrustedIssuers,
    window: Duration,
    max_entries: usize,
    alert_subject: Option<String>,
    clock: Arc<dyn Clock>,
    workers: usize,
    reply_prefixes: ReplyPrefixes,
    events: Option<NatsEvents>,
    metrics_addr: Option<SocketAddr>,
    pending_bytes: usize,
    early_bytes: usize,
    side_doors: SideDoorSettings,
}

impl std::fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("lattice", &self.lattice)
            .field("issuers", &self.issuers.keys())
            .field("window", &self.window)
            .field("alert_subject", &self.alert_subject)
            .field("workers", &self.workers)
            .field("reply_prefixes", &self.reply_prefixes)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl MonitorBuilder {
    /// The replay window, which is also the allowed `iat` age (default 300 s, as receivers).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The most invocation ids remembered (default 1 000 000, shared by the workers).
    pub fn max_remembered_ids(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// Where alerts are published (default `lattice.alerts.{lattice}`); `None` disables.
    pub fn alert_subject(mut self, subject: Option<String>) -> Self {
        self.alert_subject = subject.filter(|s| !s.is_empty());
        self
    }

    /// The clock for claims checks and alert times (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Verification threads (default: the number of cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Reply-subject prefixes to watch for responses (default `_INBOX`); add `_R_` for the
    /// callers of a `lattice nats-config` lattice, or a client's custom inbox prefix.
    pub fn reply_prefixes(mut self, prefixes: ReplyPrefixes) -> Self {
        self.reply_prefixes = prefixes;
        self
    }

    /// The connection's events, from [`crate::nats::instrument`] / [`crate::nats::connect`]
    /// (without them a slow consumer cannot be noticed).
    pub fn nats_events(mut self, events: NatsEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Serve Prometheus metrics on `GET http://{addr}/metrics` (port 0: any free port).
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// Byte budgets for pairing: verified calls waiting for their reply (default 64 MiB)
    /// and replies read before their call (default 32 MiB). What does not fit is dropped
    /// and counted.
    pub fn pairing_budgets(mut self, pending_bytes: usize, early_bytes: usize) -> Self {
        self.pending_bytes = pending_bytes;
        self.early_bytes = early_bytes;
        self
    }

    /// How long a `.linkdefs.put` may wait for its link to show up in the lattice data
    /// bucket before it is alerted as `unstored_link_put` (default 2 s).
    pub fn link_confirm_wait(mut self, wait: Duration) -> Self {
        self.side_doors.link_confirm_wait = wait;
        self
    }

    /// How long a `.shutdown` may wait for a host's `provider_stopped` event before it is
    /// alerted as `unexplained_shutdown` (default 15 s).
    pub fn shutdown_explain_wait(mut self, wait: Duration) -> Self {
        self.side_doors.shutdown_explain_wait = wait;
        self
    }

    /// Subscribe, flush (after which every message published is seen), start the tasks.
    pub async fn start(self) -> Result<MonitorHandle, MonitorError> {
        if self.issuers.is_empty() {
            return Err(MonitorError::Config("at least one trusted issuer (C…) is needed".into()));
        }
        let window = self.window.as_secs();
        if window == 0 {
            return Err(MonitorError::Config("the window must be at least 1 s".into()));
        }
        let nats = self.nats;
        let rpc_subject = subject::rpc_wildcard(&self.lattice).into_string();
        let rpc = subscribe(&nats, &rpc_subject).await?;
        let stopped_subject =
            lattice_control::subjects::event(&self.lattice, lattice_control::EventName::ProviderStopped);
        let stopped = subscribe(&nats, &stopped_subject).await?;
        let mut subjects = vec![rpc_subject];
        let mut replies = SelectAll::new();
        for s in self.reply_prefixes.subjects() {
            replies.push(subscribe(&nats, &s).await?);
            subjects.push(s);
        }
        nats.flush().await.map_err(MonitorError::Flush)?;

        let metrics = Arc::new(Metrics::new());
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let metrics_addr = match self.metrics_addr {
            Some(addr) => {
                let (listener, local) =
                    metrics::bind(addr).await.map_err(|source| MonitorError::MetricsBind { addr, source })?;
                tasks.spawn(metrics::serve(listener, metrics.clone(), cancel.clone()));
                Some(local)
            }
            None => None,
        };

        let (report_tx, report_rx) = mpsc::channel(8192);
        let (alert_tx, alert_rx) = mpsc::channel(8192);
        tasks.spawn(alert_task(alert_rx, nats.clone(), self.alert_subject.clone(), report_tx.clone()));

        let per_worker = (self.max_entries / self.workers).max(1);
        let (verified_tx, verified_rx) = mpsc::channel(VERIFIED_QUEUE);
        let queue = Arc::new(VerifyQueue::new(self.workers, DEFAULT_MAX_QUEUED_BYTES, WORKER_QUEUE));
        for shard in 0..self.workers {
            let worker = Worker {
                queue: queue.clone(),
                shard,
                replay: ReplayWindow::new(window, per_worker),
                issuers: self.issuers.clone(),
                clock: self.clock.clone(),
                metrics: metrics.clone(),
                alerts: alert_tx.clone(),
                verified: verified_tx.clone(),
            };
            tasks.spawn_blocking(move || worker.run());
        }
        let (side_doors, side_door_task) = sidedoor::start(
            nats.clone(),
            &self.lattice,
            stopped,
            self.side_doors,
            sidedoor::Outputs { clock: self.clock.clone(), metrics: metrics.clone(), alerts: alert_tx.clone() },
            cancel.clone(),
        );
        tasks.spawn(side_door_task);
        subjects.push(stopped_subject);
        drop(alert_tx);

        drop(verified_tx);
        let reader = Reader {
            rpc,
            replies,
            events: self.events,
            queue,
            verified: verified_rx,
            pairing: Pairing::default().with_max_bytes(self.pending_bytes).with_max_early_bytes(self.early_bytes),
            reported_drops: (0, 0),
            last_drop_warning: None,
            metrics: metrics.clone(),
            reports: report_tx,
            next_sweep: Instant::now(),
            side_doors,
        };
        tasks.spawn(reader.run(cancel.clone()));

        Ok(MonitorHandle {
            reports: report_rx,
            metrics,
            metrics_addr,
            subjects,
            alert_subject: self.alert_subject,
            cancel,
            tasks,
        })
    }
}

async fn subscribe(nats: &async_nats::Client, subject: &str) -> Result<Subscriber, MonitorError> {
    nats.subscribe(subject.to_owned())
        .await
        .map_err(|source| MonitorError::Subscribe { subject: subject.to_owned(), source })
}

/// A running monitor. Drain [`MonitorHandle::next_report`] (alerts wait for it), then
/// [`MonitorHandle::stop`].
#[derive(Debug)]
pub struct MonitorHandle {
    reports: mpsc::Receiver<Report>,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
    subjects: Vec<String>,
    alert_subject: Option<String>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl MonitorHandle {
    /// The next report (alert, slow consumer, connection event); `None` once stopped.
    pub async fn next_report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }

    /// The metrics, live.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The subjects subscribed (the lattice wildcard first, then the reply prefixes, then
    /// the `provider_stopped` event subject).
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// Pairing drops so far: (verified calls not kept: pending budget or queue full,
    /// early replies pushed out or refused by their budget).
    pub fn pairing_dropped(&self) -> (u64, u64) {
        let m = &self.metrics;
        (
            m.pairing_dropped_total("pending") + m.pairing_dropped_total("verified"),
            m.pairing_dropped_total("early_reply"),
        )
    }

    /// Where alerts are published, if anywhere.
    pub fn alert_subject(&self) -> Option<&str> {
        self.alert_subject.as_deref()
    }

    /// Stop reading, let the workers finish what they were given, and wait for every task.
    /// Alerts not yet taken with [`MonitorHandle::next_report`] are discarded.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        // Close the report channel so no task waits on a full one while we join.
        self.reports.close();
        while self.reports.recv().await.is_some() {}
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One invocation for a worker.
struct Job {
    subject: String,
    decoded: Result<Invocation, Rejection>,
    /// Its reply subject, and when the reader saw it (recorded for pairing once valid).
    reply: Option<async_nats::Subject>,
    seen: Instant,
}

/// A verified call with a reply subject, handed back to the reader for pairing.
struct Verified {
    reply: async_nats::Subject,
    call: PendingCall,
}

/// Reads NATS, routes invocations to workers, pairs replies.
struct Reader {
    rpc: Subscriber,
    replies: SelectAll<Subscriber>,
    events: Option<NatsEvents>,
    /// Invocations waiting for (or in) verification, one shard per worker.
    queue: Arc<VerifyQueue<Job>>,
    verified: mpsc::Receiver<Verified>,
    pairing: Pairing<Bytes>,
    /// The pairing's drop counters already added to the metrics.
    reported_drops: (u64, u64),
    last_drop_warning: Option<Instant>,
    metrics: Arc<Metrics>,
    reports: mpsc::Sender<Report>,
    next_sweep: Instant,
    side_doors: SideDoors,
}

impl Drop for Reader {
    /// However the reader ends, the workers finish what is queued and stop.
    fn drop(&mut self) {
        self.queue.close();
    }
}

async fn next_event(events: &mut Option<NatsEvents>) -> Option<Event> {
    match events {
        Some(e) => e.recv().await,
        None => std::future::pending().await,
    }
}

impl Reader {
    async fn run(mut self, cancel: CancellationToken) {
        let mut streak = 0u32;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if streak >= FAIRNESS_STREAK {
                streak = 0;
                self.catch_up();
            }
            // Invocations first, so that a reply's invocation is normally read before it.
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(v) = self.verified.recv() => self.verified_call(v),
                msg = self.rpc.next() => match msg {
                    Some(msg) => {
                        streak += 1;
                        if self.rpc_message(msg).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                Some(msg) = self.replies.next() => self.reply_message(msg),
                Some(event) = next_event(&mut self.events) => self.event(event),
                _ = tick.tick() => self.sweep(),
            }
        }
    }

    /// Serve what is waiting besides invocations: replies, events, the sweep.
    fn catch_up(&mut self) {
        while let Ok(v) = self.verified.try_recv() {
            self.verified_call(v);
        }
        for _ in 0..4 * FAIRNESS_STREAK {
            match self.replies.next().now_or_never() {
                Some(Some(msg)) => self.reply_message(msg),
                _ => break,
            }
        }
        while let Some(event) = self.events.as_mut().and_then(NatsEvents::try_recv) {
            self.event(event);
        }
        if Instant::now() >= self.next_sweep {
            self.sweep();
        }
    }

    /// Route one message from the lattice wildcard. Errs when the workers are gone.
    async fn rpc_message(&mut self, msg: Message) -> Result<(), ()> {
        let subject = msg.subject.to_string();
        match classify::route(&subject) {
            Route::Control(kind) => {
                self.metrics.control(&kind);
                self.side_doors.offer(&kind, ControlMessage { subject, payload: msg.payload });
            }
            Route::Unrouted => self.metrics.unrouted(),
            Route::Invocation => {
                let seen = Instant::now();
                let cost = msg.payload.len() + subject.len();
                let decoded = classify::decode(&msg.payload);
                let shard = match &decoded {
                    Ok(inv) => shard_of(&inv.id, self.queue.shards()),
                    Err(_) => 0,
                };
                // Nothing of it is recorded for pairing until a worker has verified it.
                let job = Job { subject, decoded, reply: msg.reply, seen };
                let pushed = self.queue.push(shard, cost, job).await.map_err(drop)?;
                let dropped = pushed.evicted + usize::from(!pushed.queued);
                if dropped > 0 {
                    // The workers are behind by more than the byte budget: the oldest
                    // queued invocations went unverified, counted and said (at most once a
                    // second).
                    self.metrics.unverified_dropped(dropped as u64);
                    if self.last_drop_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        self.last_drop_warning = Some(Instant::now());
                        tracing::warn!(
                            queued_bytes = self.queue.bytes(),
                            dropped = self.metrics.unverified_dropped_total(),
                            "verification queue full: dropping the oldest invocations unverified (a flood?)"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// A worker verified a call: wait for its reply (or pair it with one read already).
    fn verified_call(&mut self, v: Verified) {
        if let Some(paired) = self.pairing.invocation(&v.reply, v.call) {
            // Invocation seen (by the reader) → reply seen, even when read before the
            // call was verified.
            let latency = (paired.latency > Duration::ZERO).then_some(paired.latency);
            self.record_response(&paired.call, &paired.reply, latency);
        }
        self.count_drops();
    }

    /// Add the pairing's new drops to the metrics.
    fn count_drops(&mut self) {
        let now = (self.pairing.dropped(), self.pairing.early_dropped());
        self.metrics.pairing_dropped("pending", now.0 - self.reported_drops.0);
        self.metrics.pairing_dropped("early_reply", now.1 - self.reported_drops.1);
        self.reported_drops = now;
    }

    fn reply_message(&mut self, msg: Message) {
        let now = Instant::now();
        // A copy: the payload may share (and so keep alive) a larger read buffer.
        let payload = Bytes::copy_from_slice(&msg.payload);
        if let Some(paired) = self.pairing.reply(&msg.subject, now, payload, true) {
            let latency = (paired.latency > Duration::ZERO).then_some(paired.latency);
            self.record_response(&paired.call, &paired.reply, latency);
        } else {
            self.count_drops();
        }
    }

    fn record_response(&self, call: &PendingCall, payload: &Bytes, latency: Option<Duration>) {
        let error = crate::pairing::response_failed(payload, &call.invocation_id);
        match latency {
            Some(l) => self.metrics.response(&call.operation, l, error),
            None => self.metrics.response_unmeasured(&call.operation, error),
        }
    }

    fn event(&mut self, event: Event) {
        self.metrics.connection_event(event_name(&event));
        let report = match event {
            Event::SlowConsumer(sid) | Event::ServerError(async_nats::ServerError::SlowConsumer(sid)) => {
                let total = self.metrics.slow_consumer();
                Report::SlowConsumer { subscription: sid, total }
            }
            other => Report::Connection { event: other.to_string() },
        };
        // Never block the read loop on the owner: these are advisory (the metric counts).
        let _ = self.reports.try_send(report);
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        self.next_sweep = now + Duration::from_secs(1);
        for call in self.pairing.expire(now) {
            self.metrics.unanswered(&call.operation);
        }
    }
}

/// The worker that owns invocation id `id` (FNV-1a: fast, stable, good enough to spread).
fn shard_of(id: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// Verifies invocations on a blocking thread; owns one shard of the replay memory.
struct Worker {
    queue: Arc<VerifyQueue<Job>>,
    shard: usize,
    replay: ReplayWindow,
    issuers: TrustedIssuers,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    alerts: mpsc::Sender<Alert>,
    verified: mpsc::Sender<Verified>,
}

impl Worker {
    fn run(mut self) {
        self.verify_until_closed();
        // The reader stopped (closed the queue) or the alert task is gone: either way no
        // further job can be handled, so the reader's next push fails and it stops too.
        self.queue.close();
    }

    fn verify_until_closed(&mut self) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut replies = Vec::with_capacity(MAX_BATCH);
        while self.queue.pop_batch(self.shard, MAX_BATCH, &mut jobs) {
            let mut cost = 0usize;
            for (c, job) in jobs.drain(..) {
                cost += c;
                batch.push((job.subject, job.decoded));
                replies.push((job.reply, job.seen));
            }
            let at = self.clock.now();
            let now = self.clock.unix_secs();
            let verdicts = classify::classify_batch(std::mem::take(&mut batch), now, &mut self.replay, &self.issuers);
            self.queue.done(cost);
            for ((subject, verdict), (reply, seen)) in verdicts.into_iter().zip(replies.drain(..)) {
                self.metrics.invocation(verdict.label());
                match verdict {
                    Verdict::Valid(call) => {
                        self.metrics.call(&call.operation);
                        if let Some(reply) = reply {
                            let call = PendingCall {
                                operation: call.operation,
                                invocation_id: call.invocation_id,
                                seen,
                                tag: String::new(),
                            };
                            if self.verified.try_send(Verified { reply, call }).is_err() {
                                self.metrics.pairing_dropped("verified", 1);
                            }
                        }
                    }
                    Verdict::Invalid { call, error } => {
                        if self.alerts.blocking_send(Alert::new(at, subject, call.as_ref(), &error)).is_err() {
                            return;
                        }
                    }
                    Verdict::Control { .. } | Verdict::Unrouted => {}
                }
            }
        }
    }
}

/// Publishes each alert on the alert subject, then hands it to the owner.
async fn alert_task(
    mut alerts: mpsc::Receiver<Alert>,
    nats: async_nats::Client,
    subject: Option<String>,
    reports: mpsc::Sender<Report>,
) {
    while let Some(alert) = alerts.recv().await {
        if let Some(subject) = &subject
            && let Err(e) = nats.publish(subject.clone(), Bytes::from(alert.to_json())).await
        {
            tracing::warn!(error = %lattice_proto::chain(&e), %subject, "could not publish an alert");
        }
        if reports.send(Report::Alert(alert)).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        for n in 1..5 {
            for id in ["a", "0123456789abcdef0123456789abcdef", ""] {
                let s = shard_of(id, n);
                assert!(s < n);
                assert_eq!(s, shard_of(id, n));
            }
        }
        // Spread: 1000 ids over 2 shards are not all on one.
        let ones = (0..1000).filter(|i| shard_of(&format!("id-{i}"), 2) == 1).count();
        assert!((300..700).contains(&ones), "{ones}");
    }
}
