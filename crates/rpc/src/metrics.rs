//! Counters a server keeps: what arrived, what ran, what was refused and why, and
//! per-operation request counts, errors and processing time (the numbers a NATS micro
//! `$SRV.STATS` endpoint reports, [`crate::micro`]). Cheap atomics on the hot path; a mutex
//! only for the per-operation table and the (rare) rejections.
//!
//! Operation names come from the network, so the per-operation table is bounded: at most
//! [`MAX_OPERATIONS`] names of at most [`MAX_OPERATION_LEN`] bytes; calls to any other
//! operation are counted under [`OTHER_OPERATION`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The most distinct operation names a server keeps numbers for.
pub const MAX_OPERATIONS: usize = 256;

/// The longest operation name kept as its own entry, in bytes.
pub const MAX_OPERATION_LEN: usize = 256;

/// Where calls to operations beyond [`MAX_OPERATIONS`] (or longer than
/// [`MAX_OPERATION_LEN`]) are counted.
pub const OTHER_OPERATION: &str = "_other";

/// Live counters of one server; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct ServerMetrics {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    batches: AtomicU64,
    dispatched: AtomicU64,
    handler_errors: AtomicU64,
    panics: AtomicU64,
    deadline_dropped: AtomicU64,
    failed: AtomicU64,
    rejected: Mutex<Rejections>,
    operations: Mutex<HashMap<String, OperationStats>>,
}

#[derive(Debug, Default)]
struct Rejections {
    by_kind: HashMap<&'static str, u64>,
    last: Option<&'static str>,
}

/// Upper bounds, in seconds, of the handler-time histogram buckets of [`OperationStats`]
/// (a last bucket, `+Inf`, takes the rest).
pub const LATENCY_BOUNDS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Per-operation numbers (what `$SRV.STATS` reports per endpoint).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationStats {
    /// Calls dispatched to the handler.
    pub requests: u64,
    /// Calls whose handler returned an error or panicked.
    pub errors: u64,
    /// Total time spent in the handler.
    pub processing_time: Duration,
    /// The last error text.
    pub last_error: Option<String>,
    /// Handler times: calls per bucket of [`LATENCY_BOUNDS`] (not cumulative), the last
    /// entry counting calls above the last bound (Prometheus histograms are built from it).
    pub latency_buckets: [u64; LATENCY_BOUNDS.len() + 1],
}

impl OperationStats {
    /// Mean handler time per call.
    pub fn average_processing_time(&self) -> Duration {
        if self.requests == 0 { Duration::ZERO } else { self.processing_time / self.requests as u32 }
    }
}

/// A snapshot of a server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Messages received on the RPC subject.
    pub received: u64,
    /// Verification batches: messages that arrived together are checked together (one
    /// batched signature verification); `received / batches` is the mean batch size.
    pub batches: u64,
    /// Invocations that passed every check and reached the handler.
    pub dispatched: u64,
    /// Invocations refused before dispatch, by kind (`bad_signature`, `malformed`, …).
    pub rejected: BTreeMap<String, u64>,
    /// The kind of the most recent rejection.
    pub last_rejected: Option<String>,
    /// Handler calls that returned an error.
    pub handler_errors: u64,
    /// Handler calls that panicked.
    pub panics: u64,
    /// Invocations dropped unrun because their caller's deadline had passed.
    pub deadline_dropped: u64,
    /// Invocations that failed for another reason (object store, shutdown).
    pub failed: u64,
    /// Per-operation numbers (bounded: see [`MAX_OPERATIONS`]).
    pub operations: BTreeMap<String, OperationStats>,
}

impl ServerStats {
    /// All rejections, whatever the kind.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl ServerMetrics {
    /// A snapshot of the counters.
    pub fn snapshot(&self) -> ServerStats {
        let c = &self.inner;
        let rejected = c.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        let operations = c.operations.lock().unwrap_or_else(PoisonError::into_inner);
        ServerStats {
            received: c.received.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            dispatched: c.dispatched.load(Ordering::Relaxed),
            rejected: rejected.by_kind.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            last_rejected: rejected.last.map(str::to_owned),
            handler_errors: c.handler_errors.load(Ordering::Relaxed),
            panics: c.panics.load(Ordering::Relaxed),
            deadline_dropped: c.deadline_dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            operations: operations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub(crate) fn received(&self, n: u64) {
        self.inner.batches.fetch_add(1, Ordering::Relaxed);
        self.inner.received.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, kind: &'static str) {
        let mut rejected = self.inner.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        *rejected.by_kind.entry(kind).or_default() += 1;
        rejected.last = Some(kind);
    }

    pub(crate) fn deadline_dropped(&self) {
        self.inner.deadline_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.inner.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dispatched(&self) {
        self.inner.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    /// Record a finished handler call.
    pub(crate) fn handled(&self, operation: &str, took: Duration, error: Option<&str>, panicked: bool) {
        let c = &self.inner;
        if panicked {
            c.panics.fetch_add(1, Ordering::Relaxed);
        } else if error.is_some() {
            c.handler_errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut ops = c.operations.lock().unwrap_or_else(PoisonError::into_inner);
        let room = ops.len() < MAX_OPERATIONS && operation.len() <= MAX_OPERATION_LEN;
        let stats = match ops.get_mut(operation) {
            Some(s) => s,
            None if room => ops.entry(operation.to_owned()).or_default(),
            None => ops.entry(OTHER_OPERATION.to_owned()).or_default(),
        };
        stats.requests += 1;
        stats.processing_time += took;
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BOUNDS.len());
        stats.latency_buckets[bucket] += 1;
        if let Some(e) = error {
            stats.errors += 1;
            stats.last_error = Some(e.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_table_is_bounded() {
        let m = ServerMetrics::default();
        for i in 0..MAX_OPERATIONS + 10 {
            m.handled(&format!("Op.N{i}"), Duration::from_millis(1), None, false);
        }
        m.handled(&"x".repeat(MAX_OPERATION_LEN + 1), Duration::from_millis(1), Some("long"), false);
        m.handled("Op.N0", Duration::from_millis(3), Some("boom"), false);
        let s = m.snapshot();
        assert_eq!(s.operations.len(), MAX_OPERATIONS + 1);
        let other = &s.operations[OTHER_OPERATION];
        assert_eq!((other.requests, other.errors, other.last_error.as_deref()), (11, 1, Some("long")));
        let first = &s.operations["Op.N0"];
        assert_eq!((first.requests, first.errors, first.last_error.as_deref()), (2, 1, Some("boom")));
        assert_eq!(first.average_processing_time(), Duration::from_millis(2));
        // 1 ms lands in the 1 ms bucket (index 3), 3 ms in the 5 ms one (index 5).
        assert_eq!((first.latency_buckets[3], first.latency_buckets[5]), (1, 1));
        assert_eq!(first.latency_buckets.iter().sum::<u64>(), 2);
        assert_eq!(s.handler_errors, 2);
    }

    #[test]
    fn the_last_rejection_kind_is_kept() {
        let m = ServerMetrics::default();
        assert_eq!(m.snapshot().last_rejected, None);
        m.rejected("bad_signature");
        m.rejected("replayed");
        let s = m.snapshot();
        assert_eq!(s.last_rejected.as_deref(), Some("replayed"));
        assert_eq!(s.rejected_total(), 2);
    }
}
