//! Prometheus exposition of values read at scrape time: small helpers that write one
//! metric family from rows, and [`RpcStatsCollector`], which turns the RPC servers'
//! counters ([`lattice_rpc::ServerStats`]) into calls, errors, handler-time histograms,
//! rejections by kind and in-flight calls. Reading at scrape time keeps the call path
//! free of any metrics work beyond the RPC server's own counters.
//!
//! Label values come from the bus (operation names) only through `ServerStats`, whose
//! per-operation table is already bounded (`lattice_rpc::metrics::MAX_OPERATIONS`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use lattice_rpc::ServerStats;
use lattice_rpc::metrics::LATENCY_BOUNDS;

/// A metric's labels as (name, value) pairs.
pub type Labels = Vec<(String, String)>;

/// Labels from string pairs.
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Write a counter family (`name` gets `_total` appended).
pub fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Write a gauge family.
pub fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, i64)>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A histogram known only by its buckets, sum and count.
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, calls in this bucket — not cumulative).
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::fmt::Result {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The RPC servers of a process (a host's actors, a provider), each with its labels.
#[derive(Debug)]
pub struct RpcStatsCollector {
    /// Metric name prefix (`lattice_host`, `lattice_provider`).
    pub prefix: &'static str,
    /// Each server's labels (e.g. `actor`) and counters.
    pub servers: Vec<(Labels, ServerStats)>,
}

fn with(base: &Labels, key: &str, value: &str) -> Labels {
    let mut l = base.clone();
    l.push((key.to_owned(), value.to_owned()));
    l
}

impl Collector for RpcStatsCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let p = self.prefix;
        let ops = || {
            self.servers.iter().flat_map(|(l, s)| s.operations.iter().map(move |(op, o)| (with(l, "operation", op), o)))
        };
        counter(
            &mut enc,
            &format!("{p}_calls"),
            "Calls that passed verification and ran, by operation.",
            ops().map(|(l, o)| (l, o.requests)),
        )?;
        counter(
            &mut enc,
            &format!("{p}_call_errors"),
            "Calls whose handler failed or panicked, by operation.",
            ops().map(|(l, o)| (l, o.errors)),
        )?;
        let name = format!("{p}_call_duration_seconds");
        let mut family =
            enc.encode_descriptor(&name, "Handler time per call, by operation.", None, MetricType::Histogram)?;
        for (labels, o) in ops() {
            let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS.iter().copied().zip(o.latency_buckets).collect();
            buckets.push((f64::MAX, o.latency_buckets[LATENCY_BOUNDS.len()]));
            let h = ConstHistogram { sum: o.processing_time.as_secs_f64(), count: o.requests, buckets };
            h.encode(family.encode_family(&labels)?)?;
        }
        counter(
            &mut enc,
            &format!("{p}_rejections"),
            "Invocations refused before dispatch, by kind (bad_signature, replayed, …).",
            self.servers.iter().flat_map(|(l, s)| s.rejected.iter().map(move |(k, n)| (with(l, "kind", k), *n))),
        )?;
        counter(
            &mut enc,
            &format!("{p}_deadline_dropped"),
            "Invocations not run because their caller's deadline had passed.",
            self.servers.iter().map(|(l, s)| (l.clone(), s.deadline_dropped)),
        )?;
        gauge(
            &mut enc,
            &format!("{p}_calls_in_flight"),
            "Calls dispatched to the handler and not finished yet.",
            self.servers.iter().map(|(l, s)| {
                let done: u64 = s.operations.values().map(|o| o.requests).sum();
                (l.clone(), i64::try_from(s.dispatched.saturating_sub(done)).unwrap_or(i64::MAX))
            }),
        )
    }
}

/// The OpenMetrics text of `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lattice_rpc::OperationStats;

    use super::*;

    #[test]
    fn rpc_stats_become_counters_and_histograms() {
        let mut stats = ServerStats { dispatched: 4, ..Default::default() };
        let mut op =
            OperationStats { requests: 3, errors: 1, processing_time: Duration::from_millis(3), ..Default::default() };
        op.latency_buckets[3] = 3;
        stats.operations.insert("Echo.Ping".into(), op);
        stats.rejected.insert("bad_signature".into(), 2);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RpcStatsCollector {
            prefix: "lattice_host",
            servers: vec![(labels([("actor", "MABC")]), stats)],
        }));
        let text = encode(&registry);
        for line in [
            r#"lattice_host_calls_total{actor="MABC",operation="Echo.Ping"} 3"#,
            r#"lattice_host_call_errors_total{actor="MABC",operation="Echo.Ping"} 1"#,
            r#"lattice_host_call_duration_seconds_bucket{le="0.001",actor="MABC",operation="Echo.Ping"} 3"#,
            r#"lattice_host_call_duration_seconds_count{actor="MABC",operation="Echo.Ping"} 3"#,
            r#"lattice_host_rejections_total{actor="MABC",kind="bad_signature"} 2"#,
            r#"lattice_host_calls_in_flight{actor="MABC"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
