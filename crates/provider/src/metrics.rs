//! A provider's Prometheus endpoint: `GET /metrics` on the address HostData's
//! `config_json` names as `"metrics_addr"` (e.g. `{"metrics_addr":"127.0.0.1:9465"}`;
//! port 0 picks one and logs it). Off when absent.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `lattice_provider_calls_total` | `provider`, `link_name`, `operation` | calls that passed verification and ran |
//! | `lattice_provider_call_errors_total` | … `operation` | calls whose handler failed |
//! | `lattice_provider_call_duration_seconds` | … `operation` | handler time (histogram) |
//! | `lattice_provider_rejections_total` | … `kind` | invocations refused before dispatch |
//! | `lattice_provider_calls_in_flight` | `provider`, `link_name` | calls running now |
//! | `lattice_provider_links` | `provider`, `link_name` | links this provider has |
//! | `lattice_provider_nats_connected` | `provider`, `link_name` | 1 while the RPC connection is up |
//! | `process_resident_memory_bytes`, `process_cpu_seconds_total` | | the process |

use std::net::SocketAddr;

use lattice_rpc::ServerMetrics;
use lattice_telemetry::metrics::{RpcStatsCollector, gauge, labels};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::ProviderContext;

/// The address `config_json` asks metrics to be served on, if any (an unusable value is
/// logged and ignored).
pub(crate) fn configured_addr(config_json: Option<&str>) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(config_json?).ok()?;
    let raw = value.get("metrics_addr")?.as_str()?;
    match raw.trim().parse() {
        Ok(addr) => Some(addr),
        Err(e) => {
            tracing::warn!(metrics_addr = raw, error = %e, "ignoring an unusable metrics_addr");
            None
        }
    }
}

/// Gauges read from the context at scrape time.
#[derive(Debug)]
struct Gauges {
    labels: lattice_telemetry::metrics::Labels,
    links: i64,
    connected: bool,
}

impl Collector for Gauges {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        gauge(&mut enc, "lattice_provider_links", "Links this provider has.", [(self.labels.clone(), self.links)])?;
        gauge(
            &mut enc,
            "lattice_provider_nats_connected",
            "1 while the RPC NATS connection is up.",
            [(self.labels.clone(), i64::from(self.connected))],
        )
    }
}

fn render(ctx: &ProviderContext, server: &ServerMetrics) -> String {
    let v = ctx.loaded().valid();
    let labels = labels([("provider", v.provider_key.as_str()), ("link_name", v.link_name.as_str())]);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RpcStatsCollector {
        prefix: "lattice_provider",
        servers: vec![(labels.clone(), server.snapshot())],
    }));
    let connected = ctx.nats().connection_state() == async_nats::connection::State::Connected;
    registry.register_collector(Box::new(Gauges { labels, links: ctx.links().len() as i64, connected }));
    registry.register_collector(Box::new(lattice_telemetry::process::ProcessCollector));
    lattice_telemetry::metrics::encode(&registry)
}

/// Serve the provider's metrics on `addr` until `stop`; returns the bound address.
pub(crate) async fn start(
    addr: SocketAddr,
    ctx: ProviderContext,
    server: ServerMetrics,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let (listener, bound) = lattice_telemetry::serve::bind(addr).await?;
    let nats = ctx.nats().clone();
    let render = lattice_telemetry::serve::render_sync(move || render(&ctx, &server));
    // Healthy while the provider's one NATS connection is up: it can neither receive calls
    // nor answer the host's health checks without it.
    let health: lattice_telemetry::serve::Health = std::sync::Arc::new(move || {
        let healthy = nats.connection_state() == async_nats::connection::State::Connected;
        let detail = if healthy { "ok" } else { "NATS connection down (reconnecting)" };
        lattice_telemetry::serve::HealthReport { healthy, detail: detail.to_owned() }
    });
    tasks.spawn(lattice_telemetry::serve::serve_with_health(listener, "lattice provider", render, Some(health), stop));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_config_json() {
        assert_eq!(configured_addr(Some(r#"{"metrics_addr":"127.0.0.1:0"}"#)), "127.0.0.1:0".parse().ok());
        assert_eq!(configured_addr(Some(r#"{"metrics_addr":"nowhere"}"#)), None);
        assert_eq!(configured_addr(Some("not json")), None);
        assert_eq!(configured_addr(None), None);
    }
}
