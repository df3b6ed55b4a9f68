//! The sources that feed the [`Model`]: control queries, lattice events, RPC traffic and
//! the forged-invocation monitor. All read-only: the dashboard sends control *queries*
//! (`ping.hosts`, `get.{host}.inv`, `get.links`), never commands, and plain-subscribes
//! (no queue group) to the event and RPC subjects, so it takes nothing from anyone.
//!
//! - **control** ([`control_task`]): every refresh period, ping the hosts and fetch each
//!   one's inventory and the links; in between, a host that published an event (an actor
//!   started, a provider stopped, …) has its inventory fetched again at once.
//! - **events** ([`events_task`]): every CloudEvent on `wasmbus.evt.{lattice}.>`, decoded
//!   with lattice-control's types; heartbeats carry inventories and teach the model each
//!   host's heartbeat interval.
//! - **traffic** ([`traffic_task`]): every invocation on `wasmbus.rpc.{lattice}.>` and every
//!   reply under the configured reply prefixes (`_INBOX.>` by default, lattice-monitor's
//!   [`lattice_monitor::ReplyPrefixes`]), paired by reply subject with lattice-monitor's
//!   [`Pairing`] (as the spy and the monitor do), each finished call one sample of its
//!   (origin → target) edge.
//! - **alerts** ([`alerts_task`]): lattice-monitor's [`MonitorHandle`] reports, when trusted
//!   issuers were given; it classifies every invocation exactly as `lattice monitor` does.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::SelectAll;
use lattice_control::events::EventName;
use lattice_control::{CloudEvent, CtlClient};
use lattice_monitor::classify::{self, Route};
use lattice_monitor::pairing::{Pairing, PendingCall, response_failed};
use lattice_monitor::{MonitorHandle, NatsEvents, Report};
use lattice_proto::HostKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::{CallSample, Input, Model};

/// The model, shared by the sources and the feed.
pub type SharedModel = Arc<Mutex<Model>>;

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Fold one input into the shared model now.
pub fn apply(model: &SharedModel, input: Input) {
    if let Ok(mut m) = model.lock() {
        m.apply(input, Instant::now(), unix_ms());
    }
}

/// Host ids whose inventory should be fetched again, de-duplicated.
pub type RefreshRequests = mpsc::Sender<String>;

/// Poll the control interface: hosts, inventories, links.
pub async fn control_task(
    ctl: CtlClient,
    model: SharedModel,
    refresh: Duration,
    mut wanted: mpsc::Receiver<String>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => full_refresh(&ctl, &model).await,
            Some(first) = wanted.recv() => {
                let mut hosts = BTreeSet::from([first]);
                while let Ok(more) = wanted.try_recv() {
                    hosts.insert(more);
                }
                for host in hosts {
                    inventory(&ctl, &model, &host).await;
                }
                links(&ctl, &model).await;
            }
        }
    }
}

async fn full_refresh(ctl: &CtlClient, model: &SharedModel) {
    match ctl.ping_hosts().await {
        Ok(hosts) => {
            let ids: Vec<String> = hosts.iter().map(|h| h.id.clone()).collect();
            apply(model, Input::Pinged(hosts));
            for id in ids {
                inventory(ctl, model, &id).await;
            }
        }
        Err(e) => tracing::warn!(error = %lattice_proto::chain(&e), "ping.hosts failed"),
    }
    links(ctl, model).await;
}

async fn inventory(ctl: &CtlClient, model: &SharedModel, host: &str) {
    let Ok(key) = HostKey::parse(host) else { return };
    match ctl.get_inventory(&key).await {
        Ok(inv) => apply(model, Input::Inventory(inv)),
        Err(e) => tracing::debug!(%host, error = %lattice_proto::chain(&e), "inventory query failed"),
    }
}

async fn links(ctl: &CtlClient, model: &SharedModel) {
    match ctl.get_links().await {
        Ok(links) => apply(model, Input::Links(links)),
        Err(e) => tracing::warn!(error = %lattice_proto::chain(&e), "get.links failed"),
    }
}

/// Fold in every lattice event; ask for a fresh inventory of a host that changed.
pub async fn events_task(
    mut sub: async_nats::Subscriber,
    model: SharedModel,
    refresh: RefreshRequests,
    cancel: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            () = cancel.cancelled() => return,
            msg = sub.next() => match msg { Some(m) => m, None => return },
        };
        let subject = msg.subject.to_string();
        match CloudEvent::from_json(&msg.payload) {
            Ok(event) => {
                let changes_inventory = event
                    .name()
                    .and_then(|n| n.parse::<EventName>().ok())
                    .is_some_and(|n| !matches!(n, EventName::HostHeartbeat | EventName::HostStopped));
                if changes_inventory {
                    // Best effort: a full queue means a refresh is coming anyway.
                    let _ = refresh.try_send(event.source.clone());
                }
                apply(&model, Input::Event { subject, event });
            }
            Err(e) => apply(&model, Input::BadEvent { subject, reason: lattice_proto::chain(&e) }),
        }
    }
}

/// Pair invocations with their replies and record each finished call on its edge.
pub async fn traffic_task(
    mut rpc: async_nats::Subscriber,
    mut replies: SelectAll<async_nats::Subscriber>,
    model: SharedModel,
    cancel: CancellationToken,
) {
    let mut pairing: Pairing<Bytes> = Pairing::default();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            msg = rpc.next() => {
                let Some(msg) = msg else { return };
                if classify::route(&msg.subject) != Route::Invocation {
                    continue;
                }
                let Ok(inv) = classify::decode(&msg.payload) else { continue };
                let tag = format!("{}\t{}\t{}", inv.origin.public_key, inv.target.public_key, inv.target.link_name);
                let call = PendingCall { operation: inv.operation, invocation_id: inv.id, seen: Instant::now(), tag };
                match &msg.reply {
                    Some(reply) => {
                        if let Some(paired) = pairing.invocation(reply, call) {
                            finished(&model, &paired.call, Some(&paired.reply), None);
                        }
                    }
                    // Published without a reply subject: a call nobody answers; count it.
                    None => finished(&model, &call, None, None),
                }
            }
            Some(msg) = replies.next() => {
                if let Some(paired) = pairing.reply(&msg.subject, Instant::now(), msg.payload, true) {
                    let latency = (paired.latency > Duration::ZERO).then_some(paired.latency);
                    finished(&model, &paired.call, Some(&paired.reply), latency);
                }
            }
            _ = sweep.tick() => {
                for call in pairing.expire(Instant::now()) {
                    // No answer within the pairing TTL: a failed call.
                    finished(&model, &call, Some(&Bytes::new()), None);
                }
            }
        }
    }
}

fn finished(model: &SharedModel, call: &PendingCall, reply: Option<&Bytes>, latency: Option<Duration>) {
    let mut parts = call.tag.split('\t');
    let origin = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let link = parts.next().unwrap_or_default().to_owned();
    let error = reply.is_some_and(|r| response_failed(r, &call.invocation_id));
    apply(model, Input::Call(CallSample { origin, target, link, latency, error }));
}

/// Turn the monitor's reports into alerts (and slow-consumer counts) on the page.
pub async fn alerts_task(mut monitor: MonitorHandle, model: SharedModel, cancel: CancellationToken) {
    loop {
        let report = tokio::select! {
            () = cancel.cancelled() => break,
            r = monitor.next_report() => match r { Some(r) => r, None => break },
        };
        match report {
            Report::Alert(a) => apply(&model, Input::Alert(a)),
            Report::SlowConsumer { .. } => apply(&model, Input::SlowConsumer),
            Report::Connection { event } => tracing::info!(%event, "NATS connection"),
        }
    }
    monitor.stop().await;
}

/// Without a monitor, watch the connection's events ourselves (slow consumer).
pub async fn nats_events_task(mut events: NatsEvents, model: SharedModel, cancel: CancellationToken) {
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            e = events.recv() => match e { Some(e) => e, None => return },
        };
        match event {
            async_nats::Event::SlowConsumer(_)
            | async_nats::Event::ServerError(async_nats::ServerError::SlowConsumer(_)) => {
                tracing::warn!("NATS dropped messages for the dashboard (slow consumer): the graph undercounts");
                apply(&model, Input::SlowConsumer);
            }
            other => tracing::info!(event = %other, "NATS connection"),
        }
    }
}
