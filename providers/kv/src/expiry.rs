//! The expiry sweeper: deletes keys set with `expires` once their deadline passes.
//!
//! nats-server 2.9 has no per-key TTL, so expiry is emulated (HOST.md §6): the deadline is
//! stored with the value and reads treat an expired value as absent at once
//! ([`crate::store`]); this sweeper only reclaims the storage. It keeps a min-heap of
//! deadlines — fed by every `Set` with `expires` and, when a link is added, by a scan of
//! the bucket for expiring keys written before this process started — and deletes each
//! key at its deadline if it still holds that expiring value (a delete conditional on the
//! revision it read, so a newer value is never lost).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ops::Expiries;
use crate::store::{Bucket, Value, encode_key, now_ms};

/// The longest the sweeper sleeps with nothing scheduled.
const IDLE: Duration = Duration::from_secs(3600);

/// One scheduled deadline.
struct Due {
    at_ms: u64,
    bucket: Bucket,
    stored_key: String,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ms, self.bucket.name(), &self.stored_key).cmp(&(other.at_ms, other.bucket.name(), &other.stored_key))
    }
}

/// Deadlines to act on; see the module docs.
#[derive(Default)]
pub(crate) struct Sweeper {
    heap: Mutex<BinaryHeap<Reverse<Due>>>,
    wake: Notify,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.heap.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Sweeper").field("pending", &pending).finish()
    }
}

impl Expiries for Sweeper {
    fn schedule(&self, bucket: &Bucket, key: &str, at_ms: u64) {
        self.push(bucket, encode_key(key), at_ms);
    }
}

impl Sweeper {
    fn push(&self, bucket: &Bucket, stored_key: String, at_ms: u64) {
        let due = Due { at_ms, bucket: bucket.clone(), stored_key };
        self.heap.lock().unwrap_or_else(PoisonError::into_inner).push(Reverse(due));
        self.wake.notify_one();
    }

    /// Schedule every expiring key already in `bucket` (run when a link is added).
    pub(crate) async fn scan(&self, bucket: &Bucket) {
        let keys = match bucket.stored_keys().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(bucket = bucket.name(), error = %lattice_proto::chain(&e), "could not scan the bucket for expiring keys");
                return;
            }
        };
        let mut armed = 0usize;
        for stored in keys {
            if let Some((Value::String { exp: Some(at), .. }, _)) = bucket.raw_entry(&stored).await {
                self.push(bucket, stored, at);
                armed += 1;
            }
        }
        if armed > 0 {
            tracing::info!(bucket = bucket.name(), keys = armed, "expiry timers armed for existing keys");
        }
    }

    /// Delete keys as their deadlines pass, until `stop` fires.
    pub(crate) async fn run(&self, stop: CancellationToken) {
        loop {
            let next = self.heap.lock().unwrap_or_else(PoisonError::into_inner).peek().map(|Reverse(d)| d.at_ms);
            let wait = next.map_or(IDLE, |at| Duration::from_millis(at.saturating_sub(now_ms())));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => continue,
                () = tokio::time::sleep(wait) => {}
            }
            for due in self.take_due(now_ms()) {
                // Only delete the expiring value we were told about, and only once expired.
                if let Some((Value::String { exp: Some(exp), .. }, revision)) =
                    due.bucket.raw_entry(&due.stored_key).await
                    && exp <= now_ms()
                    && due.bucket.delete_if_revision(&due.stored_key, revision).await
                {
                    tracing::debug!(bucket = due.bucket.name(), key = %due.stored_key, "expired key deleted");
                }
            }
        }
    }

    fn take_due(&self, now: u64) -> Vec<Due> {
        let mut heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        while heap.peek().is_some_and(|Reverse(d)| d.at_ms <= now) {
            if let Some(Reverse(d)) = heap.pop() {
                out.push(d);
            }
        }
        out
    }
}
