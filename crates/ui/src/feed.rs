//! The live feed: deltas of the [`View`] to every connected browser, bounded per browser.
//!
//! Every tick (a few times a second) the server renders the model and [`diff`]s it against
//! the previous tick's view: per section, the objects that changed (`upsert`) and the ids
//! that went (`remove`), plus the alerts and events newer than the last tick. Unchanged
//! ticks send nothing but the small `stats` object. The message is serialised once and
//! handed to each browser's queue of [`CLIENT_QUEUE`] messages with `try_send`: a browser
//! that does not keep up loses updates instead of growing a queue. Each loss is counted
//! ([`FeedStats::dropped`]), and because a lost delta would leave that browser's picture
//! wrong, its next message is a full snapshot (`reset: true`) rather than a delta.
//!
//! Message shape (one SSE `data:` line of JSON):
//! `{"seq":N,"t":UNIX_MS,"reset":bool,"upsert":{SECTION:{ID:OBJ}},"remove":{SECTION:[ID]},
//!   "alerts":[…],"events":[…],"stats":{…}}`; `t` is when the server rendered it, so a
//! browser (or the load benchmark) measures the feed lag as its clock minus `t`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::model::View;

/// Messages queued per browser before its updates are dropped.
pub const CLIENT_QUEUE: usize = 16;
/// Browsers served at once, at most (each costs a queue; more are refused).
pub const MAX_CLIENTS: usize = 256;

/// The difference between two views.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// Per section: id → new object.
    pub upsert: BTreeMap<&'static str, Map<String, Value>>,
    /// Per section: ids gone.
    pub remove: BTreeMap<&'static str, Vec<String>>,
    /// Alerts newer than the previous view's newest.
    pub alerts: Vec<Value>,
    /// Events newer than the previous view's newest.
    pub events: Vec<Value>,
}

impl Delta {
    /// Whether nothing but the stats changed.
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty() && self.alerts.is_empty() && self.events.is_empty()
    }
}

fn last_seq(items: &[Value]) -> u64 {
    items.last().and_then(|v| v["seq"].as_u64()).unwrap_or(0)
}

/// What changed from `prev` to `next`.
pub fn diff(prev: &View, next: &View) -> Delta {
    let mut delta = Delta::default();
    let empty = BTreeMap::new();
    for (name, items) in &next.sections {
        let before = prev.sections.get(name).unwrap_or(&empty);
        let changed: Map<String, Value> =
            items.iter().filter(|(id, v)| before.get(*id) != Some(*v)).map(|(id, v)| (id.clone(), v.clone())).collect();
        if !changed.is_empty() {
            delta.upsert.insert(name, changed);
        }
        let gone: Vec<String> = before.keys().filter(|id| !items.contains_key(*id)).cloned().collect();
        if !gone.is_empty() {
            delta.remove.insert(name, gone);
        }
    }
    let after = |items: &[Value], seq: u64| items.iter().filter(|v| v["seq"].as_u64() > Some(seq)).cloned().collect();
    delta.alerts = after(&next.alerts, last_seq(&prev.alerts));
    delta.events = after(&next.events, last_seq(&prev.events));
    delta
}

/// The whole view as a delta from nothing (what a new or resynced browser gets).
pub fn snapshot(view: &View) -> Delta {
    diff(&View::default(), view)
}

/// Serialise a delta as one feed message.
pub fn message(seq: u64, t_ms: u64, reset: bool, delta: &Delta, stats: &Value) -> Arc<str> {
    let v = json!({
        "seq": seq, "t": t_ms, "reset": reset, "upsert": delta.upsert, "remove": delta.remove,
        "alerts": delta.alerts, "events": delta.events, "stats": stats,
    });
    Arc::from(v.to_string())
}

/// Counters of the feed, shared with the page and the load benchmark.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Messages not delivered because a browser's queue was full.
    pub dropped: AtomicU64,
    /// Messages delivered to browser queues.
    pub sent: AtomicU64,
    /// Bytes of the messages delivered.
    pub bytes: AtomicU64,
    /// Browsers refused because [`MAX_CLIENTS`] were connected.
    pub refused: AtomicU64,
}

struct Client {
    tx: mpsc::Sender<Arc<str>>,
    needs_reset: bool,
}

/// The connected browsers.
#[derive(Default)]
pub struct Feed {
    clients: Mutex<Vec<Client>>,
    /// The counters.
    pub stats: FeedStats,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("clients", &self.clients()).field("stats", &self.stats).finish()
    }
}

impl Feed {
    /// Connected browsers.
    pub fn clients(&self) -> usize {
        self.clients.lock().map_or(0, |c| c.len())
    }

    /// End every browser's feed (their streams finish once their queues are read).
    pub fn close(&self) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.clear();
        }
    }

    /// A new browser: its queue, primed with `first` (the latest snapshot). `None` when
    /// [`MAX_CLIENTS`] are connected.
    pub fn subscribe(&self, first: Arc<str>) -> Option<mpsc::Receiver<Arc<str>>> {
        let mut clients = self.clients.lock().ok()?;
        if clients.len() >= MAX_CLIENTS {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        // A fresh queue has room.
        let _ = tx.try_send(first);
        clients.push(Client { tx, needs_reset: false });
        Some(rx)
    }

    /// Hand one tick's message to every browser: `delta` (or nothing, if `None`) to those in
    /// step, `full()` to those that lost an update. Closed browsers are forgotten.
    pub fn publish(&self, delta: Option<&Arc<str>>, full: impl FnOnce() -> Arc<str>) {
        let Ok(mut clients) = self.clients.lock() else { return };
        let mut full = Some(full);
        let mut full_msg: Option<Arc<str>> = None;
        clients.retain_mut(|c| {
            let msg = if c.needs_reset {
                if full_msg.is_none() {
                    full_msg = full.take().map(|f| f());
                }
                full_msg.clone()
            } else {
                delta.cloned()
            };
            let Some(msg) = msg else { return !c.tx.is_closed() };
            let len = msg.len() as u64;
            match c.tx.try_send(msg) {
                Ok(()) => {
                    c.needs_reset = false;
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    self.stats.bytes.fetch_add(len, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    c.needs_reset = true;
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(hosts: &[(&str, i64)], alerts: &[u64]) -> View {
        let mut v = View::default();
        v.sections.insert("hosts", hosts.iter().map(|(id, n)| ((*id).to_owned(), json!({ "n": n }))).collect());
        v.alerts = alerts.iter().map(|s| json!({ "seq": s })).collect();
        v
    }

    #[test]
    fn diff_sends_only_changes_removals_and_new_alerts() {
        let a = view(&[("h1", 1), ("h2", 1)], &[1, 2]);
        let b = view(&[("h1", 1), ("h3", 1), ("h2", 2)], &[1, 2, 3]);
        let d = diff(&a, &b);
        let up: Vec<&String> = d.upsert["hosts"].keys().collect();
        assert_eq!(up, ["h2", "h3"]);
        assert!(d.remove.is_empty());
        assert_eq!(d.alerts, vec![json!({"seq": 3})]);
        let c = view(&[("h3", 1)], &[2, 3]);
        let d = diff(&b, &c);
        assert_eq!(d.remove["hosts"], ["h1", "h2"]);
        assert!(d.upsert.is_empty() && d.alerts.is_empty());
        assert!(diff(&c, &c).is_empty());
        assert_eq!(snapshot(&c).upsert["hosts"].len(), 1);
    }

    #[tokio::test]
    async fn a_slow_browser_loses_updates_counted_then_gets_a_full_snapshot() {
        let feed = Feed::default();
        let mut fast = feed.subscribe(Arc::from("snap0")).unwrap();
        let mut slow = feed.subscribe(Arc::from("snap0")).unwrap();
        assert_eq!(fast.recv().await.as_deref(), Some("snap0"));
        // The slow one never reads: its queue (one snapshot already in it) fills up.
        for i in 0..CLIENT_QUEUE + 3 {
            feed.publish(Some(&Arc::from(format!("d{i}"))), || Arc::from("full"));
            assert_eq!(fast.recv().await.as_deref(), Some(format!("d{i}").as_str()));
        }
        assert_eq!(feed.stats.dropped.load(Ordering::Relaxed), 4);
        // Once it reads, it gets the queued messages, then a full snapshot, not a delta.
        let mut got = Vec::new();
        while let Ok(m) = slow.try_recv() {
            got.push(m.to_string());
        }
        assert_eq!(got.len(), CLIENT_QUEUE);
        feed.publish(Some(&Arc::from("next")), || Arc::from("full"));
        assert_eq!(slow.recv().await.as_deref(), Some("full"));
        assert_eq!(fast.recv().await.as_deref(), Some("next"));
        // A closed browser is forgotten.
        drop(slow);
        feed.publish(None, || Arc::from("full"));
        assert_eq!(feed.clients(), 1);
    }
}
