//! The host's Prometheus metrics ([`Host::metrics_text`], served by `lattice up
//! --metrics-addr`), read from the host's state at each scrape — the call path does no
//! metrics work beyond the RPC servers' own counters.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `lattice_host_calls_total` | `actor`, `operation` | calls that passed verification and ran the actor |
//! | `lattice_host_call_errors_total` | `actor`, `operation` | calls the actor failed (trap, error, panic) |
//! | `lattice_host_call_duration_seconds` | `actor`, `operation` | time in the actor (histogram) |
//! | `lattice_host_rejections_total` | `actor`, `kind` | invocations refused before dispatch (`bad_signature`, `replayed`, …) |
//! | `lattice_host_deadline_dropped_total` | `actor` | calls not run: the caller's deadline had passed |
//! | `lattice_host_calls_in_flight` | `actor` | calls running now |
//! | `lattice_host_actor_instances_in_use` | `actor` | instances busy now |
//! | `lattice_host_actor_max_instances` | `actor` | the actor's concurrency limit |
//! | `lattice_host_provider_restarts_total` | `provider`, `link_name` | restarts after a crash |
//! | `lattice_host_providers` / `lattice_host_actors` | | how many run here |
//! | `lattice_host_linkdefs` | | link definitions in the lattice |
//! | `lattice_host_nats_connected` | `connection` = `rpc` / `ctl` | 1 while connected |
//! | `lattice_host_nats_disconnects_total` | `connection` | times the connection dropped |
//! | `process_resident_memory_bytes`, `process_cpu_seconds_total` | | the host process |
//!
//! Label values are keys the host itself runs and operation names from the RPC server's
//! bounded table, so the number of series is bounded.

use lattice_telemetry::metrics::{Labels, RpcStatsCollector, counter, gauge, labels};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::host::Host;

/// Host-level values, read at scrape time.
#[derive(Debug, Default)]
struct HostGauges {
    instances: Vec<(Labels, i64, i64)>,
    restarts: Vec<(Labels, u64)>,
    linkdefs: i64,
    connected: Vec<(Labels, i64)>,
    disconnects: Vec<(Labels, u64)>,
}

impl Collector for HostGauges {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        gauge(
            &mut enc,
            "lattice_host_actor_instances_in_use",
            "Actor instances busy with a call now.",
            self.instances.iter().map(|(l, used, _)| (l.clone(), *used)),
        )?;
        gauge(
            &mut enc,
            "lattice_host_actor_max_instances",
            "The actor's concurrency limit (max_instances).",
            self.instances.iter().map(|(l, _, max)| (l.clone(), *max)),
        )?;
        gauge(
            &mut enc,
            "lattice_host_actors",
            "Actors running on this host.",
            [(Vec::new(), self.instances.len() as i64)],
        )?;
        counter(
            &mut enc,
            "lattice_host_provider_restarts",
            "Provider restarts after a crash.",
            self.restarts.iter().cloned(),
        )?;
        gauge(
            &mut enc,
            "lattice_host_providers",
            "Providers running on this host.",
            [(Vec::new(), self.restarts.len() as i64)],
        )?;
        gauge(&mut enc, "lattice_host_linkdefs", "Link definitions in the lattice.", [(Vec::new(), self.linkdefs)])?;
        gauge(
            &mut enc,
            "lattice_host_nats_connected",
            "1 while the NATS connection is up.",
            self.connected.iter().cloned(),
        )?;
        counter(
            &mut enc,
            "lattice_host_nats_disconnects",
            "Times the NATS connection dropped since the host started.",
            self.disconnects.iter().cloned(),
        )
    }
}

impl Host {
    /// The host's metrics as OpenMetrics text (see the [module docs](crate::metrics)).
    pub async fn metrics_text(&self) -> String {
        let mut servers = Vec::new();
        let mut gauges = HostGauges::default();
        for entry in self.inner.actors.lock().await.values() {
            let key = entry.served.module().key().as_str().to_owned();
            let l = labels([("actor", key.as_str())]);
            gauges.instances.push((
                l.clone(),
                i64::from(entry.served.in_flight()),
                i64::from(entry.served.max_instances()),
            ));
            servers.push((l, entry.served.stats()));
        }
        for p in self.inner.providers.lock().await.values() {
            let l = labels([("provider", p.key().as_str()), ("link_name", p.link_name().as_str())]);
            gauges.restarts.push((l, u64::from(p.restarts())));
        }
        gauges.linkdefs = self.inner.links.links().len() as i64;
        let connections = self.connections();
        gauges.connected = vec![
            (labels([("connection", "rpc")]), i64::from(connections.rpc.connected)),
            (labels([("connection", "ctl")]), i64::from(connections.ctl.connected)),
        ];
        gauges.disconnects = vec![
            (labels([("connection", "rpc")]), connections.rpc.disconnects),
            (labels([("connection", "ctl")]), connections.ctl.disconnects),
        ];
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RpcStatsCollector { prefix: "lattice_host", servers }));
        registry.register_collector(Box::new(gauges));
        registry.register_collector(Box::new(lattice_telemetry::process::ProcessCollector));
        lattice_telemetry::metrics::encode(&registry)
    }
}
