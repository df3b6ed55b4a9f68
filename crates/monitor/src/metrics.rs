//! Prometheus metrics of the monitor (served by `lattice-telemetry`'s `/metrics` server).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `lattice_monitor_invocations_total` | `verdict` = `valid` or an alert kind | every invocation classified |
//! | `lattice_monitor_control_messages_total` | `kind` = `linkdefs.put`, `linkdefs.del`, `health`, `shutdown` | provider control messages |
//! | `lattice_monitor_unrouted_messages_total` | | other subjects under the lattice prefix |
//! | `lattice_monitor_calls_total` | `operation` | valid invocations per operation |
//! | `lattice_monitor_responses_total` | `operation`, `outcome` = `ok` / `error` | responses paired with an invocation |
//! | `lattice_monitor_response_errors_total` | `operation` | responses carrying an `error` |
//! | `lattice_monitor_response_latency_seconds` | `operation` | invocation seen → response seen |
//! | `lattice_monitor_unanswered_total` | `operation` | invocations with a reply subject but no response within 60 s |
//! | `lattice_monitor_slow_consumer_events_total` | | NATS dropped messages for the monitor (it fell behind) |
//! | `lattice_monitor_unverified_dropped_total` | | invocations dropped unverified because the verification queue's byte budget was full (a flood): the oldest queued ones, to make room for the newest |
//! | `lattice_monitor_pairing_dropped_total` | `what` = `pending` / `early_reply` / `verified` | calls or replies not kept for pairing because a byte budget (or the hand-over queue) was full |
//! | `lattice_monitor_connection_events_total` | `event` | NATS disconnects, reconnects, errors |
//!
//! Operation names come from the bus, so an attacker could mint millions of them: at most
//! [`MAX_OPERATIONS`] distinct names become labels, the rest are counted as `_other`.
//! The exposition is OpenMetrics text (which Prometheus scrapes natively) on `GET /metrics`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The most distinct operation names used as label values; the rest count as `_other`.
pub const MAX_OPERATIONS: usize = 256;

/// The label value for operations beyond [`MAX_OPERATIONS`].
pub const OTHER_OPERATION: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhatLabel {
    what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s, doubling.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The monitor's counters and histograms, shared by its tasks (cheap atomic updates).
pub struct Metrics {
    registry: Registry,
    invocations: Family<VerdictLabel, Counter>,
    control: Family<KindLabel, Counter>,
    unrouted: Counter,
    calls: Family<OperationLabel, Counter>,
    responses: Family<OutcomeLabel, Counter>,
    response_errors: Family<OperationLabel, Counter>,
    latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
    unanswered: Family<OperationLabel, Counter>,
    slow_consumer: Counter,
    connection: Family<EventLabel, Counter>,
    pairing_dropped: Family<WhatLabel, Counter>,
    unverified_dropped: Counter,
    operations: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, all registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lattice_monitor");
        let invocations = Family::<VerdictLabel, Counter>::default();
        registry.register(
            "invocations",
            "Invocations classified, by verdict (valid or alert kind)",
            invocations.clone(),
        );
        let control = Family::<KindLabel, Counter>::default();
        registry.register("control_messages", "Provider control messages (not verified), by kind", control.clone());
        let unrouted = Counter::default();
        registry.register("unrouted_messages", "Messages on other subjects under the lattice prefix", unrouted.clone());
        let calls = Family::<OperationLabel, Counter>::default();
        registry.register("calls", "Valid invocations, by operation", calls.clone());
        let responses = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "responses",
            "Responses paired with an invocation, by operation and outcome",
            responses.clone(),
        );
        let response_errors = Family::<OperationLabel, Counter>::default();
        registry.register("response_errors", "Responses carrying an error, by operation", response_errors.clone());
        let latency = Family::<OperationLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "response_latency_seconds",
            "Time from seeing an invocation to seeing its response, by operation",
            latency.clone(),
        );
        let unanswered = Family::<OperationLabel, Counter>::default();
        registry.register(
            "unanswered",
            "Invocations with a reply subject and no response within 60 s, by operation",
            unanswered.clone(),
        );
        let slow_consumer = Counter::default();
        registry.register(
            "slow_consumer_events",
            "NATS slow-consumer events: the monitor fell behind and NATS dropped messages",
            slow_consumer.clone(),
        );
        let connection = Family::<EventLabel, Counter>::default();
        registry.register("connection_events", "NATS connection events, by event", connection.clone());
        let unverified_dropped = Counter::default();
        registry.register(
            "unverified_dropped",
            "Invocations dropped unverified because the verification queue's byte budget was full",
            unverified_dropped.clone(),
        );
        let pairing_dropped = Family::<WhatLabel, Counter>::default();
        registry.register(
            "pairing_dropped",
            "Calls (pending) or replies (early_reply) not kept for pairing because their byte budget was full, \
             or verified calls (verified) the reader's queue had no room for",
            pairing_dropped.clone(),
        );
        Self {
            registry,
            invocations,
            control,
            unrouted,
            calls,
            responses,
            response_errors,
            latency,
            unanswered,
            slow_consumer,
            connection,
            pairing_dropped,
            unverified_dropped,
            operations: Mutex::new(HashSet::new()),
        }
    }

    /// The label value for `operation`: itself while fewer than [`MAX_OPERATIONS`] names
    /// are in use, else [`OTHER_OPERATION`].
    fn operation(&self, operation: &str) -> OperationLabel {
        let mut ops = self.operations.lock().unwrap_or_else(PoisonError::into_inner);
        let operation = if ops.contains(operation) {
            operation.to_owned()
        } else if ops.len() < MAX_OPERATIONS {
            ops.insert(operation.to_owned());
            operation.to_owned()
        } else {
            OTHER_OPERATION.to_owned()
        };
        OperationLabel { operation }
    }

    /// Count one classified invocation (`valid` or its alert kind).
    pub fn invocation(&self, verdict: &str) {
        self.invocations.get_or_create(&VerdictLabel { verdict: verdict.to_owned() }).inc();
    }

    /// Count one valid call of `operation`.
    pub fn call(&self, operation: &str) {
        self.calls.get_or_create(&self.operation(operation)).inc();
    }

    /// Count one provider control message.
    pub fn control(&self, kind: &str) {
        self.control.get_or_create(&KindLabel { kind: kind.to_owned() }).inc();
    }

    /// Count one unrouted message.
    pub fn unrouted(&self) {
        self.unrouted.inc();
    }

    /// Record a response to `operation` after `latency`, failed or not.
    pub fn response(&self, operation: &str, latency: Duration, error: bool) {
        let label = self.operation(operation);
        self.latency.get_or_create(&label).observe(latency.as_secs_f64());
        let outcome = if error { "error" } else { "ok" };
        self.responses.get_or_create(&OutcomeLabel { operation: label.operation.clone(), outcome }).inc();
        if error {
            self.response_errors.get_or_create(&label).inc();
        }
    }

    /// Record a response to `operation` whose latency is unknown (it was read before its
    /// invocation).
    pub fn response_unmeasured(&self, operation: &str, error: bool) {
        let label = self.operation(operation);
        let outcome = if error { "error" } else { "ok" };
        self.responses.get_or_create(&OutcomeLabel { operation: label.operation.clone(), outcome }).inc();
        if error {
            self.response_errors.get_or_create(&label).inc();
        }
    }

    /// Count invocations of `operation` that got no response in time.
    pub fn unanswered(&self, operation: &str) {
        self.unanswered.get_or_create(&self.operation(operation)).inc();
    }

    /// Count one slow-consumer event; returns the new total.
    pub fn slow_consumer(&self) -> u64 {
        self.slow_consumer.inc() + 1
    }

    /// The slow-consumer events so far.
    pub fn slow_consumer_total(&self) -> u64 {
        self.slow_consumer.get()
    }

    /// Count `n` calls or replies dropped from pairing: `what` is `pending` (a verified
    /// call did not fit the pending budget), `early_reply` (a reply read before its call
    /// did not fit, or was pushed out, of the early-reply budget) or `verified` (the
    /// hand-over queue from the workers was full).
    pub fn pairing_dropped(&self, what: &'static str, n: u64) {
        if n > 0 {
            self.pairing_dropped.get_or_create(&WhatLabel { what }).inc_by(n);
        }
    }

    /// Count `n` invocations dropped unverified (the verification queue's byte budget was
    /// full: the oldest queued ones make room for the newest).
    pub fn unverified_dropped(&self, n: u64) {
        self.unverified_dropped.inc_by(n);
    }

    /// Invocations dropped unverified so far.
    pub fn unverified_dropped_total(&self) -> u64 {
        self.unverified_dropped.get()
    }

    /// The pairing drops so far, for `what` (see [`Metrics::pairing_dropped`]).
    pub fn pairing_dropped_total(&self, what: &'static str) -> u64 {
        self.pairing_dropped.get(&WhatLabel { what }).map_or(0, |c| c.get())
    }

    /// Count one NATS connection event (`disconnected`, `connected`, `error`, …).
    pub fn connection_event(&self, event: &str) {
        self.connection.get_or_create(&EventLabel { event: event.to_owned() }).inc();
    }

    /// How many invocations got `verdict` so far (`valid` or an alert kind).
    pub fn invocations_with(&self, verdict: &str) -> u64 {
        self.invocations.get(&VerdictLabel { verdict: verdict.to_owned() }).map_or(0, |c| c.get())
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = lattice_telemetry::serve::CONTENT_TYPE;

/// Serve `GET /metrics` on `listener` until `shutdown` is cancelled (the shared server of
/// `lattice-telemetry`).
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let render = lattice_telemetry::serve::render_sync(move || metrics.encode());
    lattice_telemetry::serve::serve(listener, "lattice monitor", render, shutdown).await;
}

/// Bind `addr` for [`serve`], returning the listener and the address it really got (a
/// port of 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    lattice_telemetry::serve::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = Metrics::new();
        m.invocation("valid");
        m.invocation("bad_signature");
        m.call("Echo.Ping");
        m.control("linkdefs.put");
        m.response("Echo.Ping", Duration::from_micros(300), false);
        m.response("Echo.Ping", Duration::from_millis(3), true);
        m.slow_consumer();
        let text = m.encode();
        for line in [
            r#"lattice_monitor_invocations_total{verdict="valid"} 1"#,
            r#"lattice_monitor_invocations_total{verdict="bad_signature"} 1"#,
            r#"lattice_monitor_calls_total{operation="Echo.Ping"} 1"#,
            r#"lattice_monitor_control_messages_total{kind="linkdefs.put"} 1"#,
            r#"lattice_monitor_response_errors_total{operation="Echo.Ping"} 1"#,
            r#"lattice_monitor_responses_total{operation="Echo.Ping",outcome="ok"} 1"#,
            r#"lattice_monitor_response_latency_seconds_count{operation="Echo.Ping"} 2"#,
            "lattice_monitor_slow_consumer_events_total 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(m.invocations_with("valid"), 1);
        assert_eq!(m.invocations_with("replayed"), 0);
    }

    #[test]
    fn operation_labels_are_capped() {
        let m = Metrics::new();
        for i in 0..MAX_OPERATIONS + 10 {
            m.call(&format!("Op.{i}"));
        }
        m.call("Op.0");
        let text = m.encode();
        assert!(text.contains(r#"lattice_monitor_calls_total{operation="_other"} 10"#), "{text}");
        assert!(text.contains(r#"lattice_monitor_calls_total{operation="Op.0"} 2"#));
    }
}
