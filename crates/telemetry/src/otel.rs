//! OpenTelemetry traces: the 0.82 switches and the process's subscriber.
//!
//! 0.82 turns tracing on with `OTEL_TRACES_EXPORTER=otlp` and exports OTLP over
//! HTTP/protobuf to `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, default
//! `http://127.0.0.1:4318`) with `/v1/traces` appended. opentelemetry-otlp's
//! programmatic `with_endpoint` takes a URL as given, so [`OtelSettings::traces_url`]
//! appends the path itself. `OTEL_EXPORTER_OTLP_PROTOCOL` may be `http/protobuf` (the
//! default); gRPC is not built in (it would pull a second HTTP/2 stack) and is refused
//! with a clear error. The batch processor reads the usual `OTEL_BSP_*` variables.
//!
//! Only spans are exported, and only Lattice's own (`lattice*` targets, debug level and
//! above): `rpc.call`, `rpc.handle` and the HTTP server provider's `http.request`. Those
//! are debug spans, so with tracing off (and the default log level) they are disabled
//! and cost nothing.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::TelemetryError;
use crate::logs::LogSettings;

/// 0.82's default OTLP/HTTP endpoint (a base URL).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4318";

/// The path appended to the endpoint for traces.
pub const TRACES_PATH: &str = "/v1/traces";

/// Where and whether to export traces (0.82's `OtelConfig`, plus the protocol).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtelSettings {
    /// `otlp` turns traces on; anything else (or nothing) leaves them off.
    pub traces_exporter: Option<String>,
    /// The OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub endpoint: Option<String>,
    /// `http/protobuf` (default) — the only protocol built in.
    pub protocol: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl OtelSettings {
    /// The settings in this process's environment (`OTEL_TRACES_EXPORTER`,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn from_env() -> Self {
        Self {
            traces_exporter: non_empty(std::env::var("OTEL_TRACES_EXPORTER").ok()),
            endpoint: non_empty(std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()),
            protocol: non_empty(std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok()),
        }
    }

    /// Traces on with OTLP to `endpoint` (or the default).
    pub fn otlp(endpoint: Option<String>) -> Self {
        Self { traces_exporter: Some("otlp".into()), endpoint: non_empty(endpoint), protocol: None }
    }

    /// Whether traces are exported.
    pub fn enabled(&self) -> bool {
        self.traces_exporter.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case("otlp"))
    }

    /// The base URL (the endpoint, or [`DEFAULT_ENDPOINT`]).
    pub fn base_url(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT)
    }

    /// The URL spans are POSTed to: the base URL with [`TRACES_PATH`] appended (unless it
    /// already ends with it).
    pub fn traces_url(&self) -> String {
        let base = self.base_url().trim_end_matches('/');
        if base.ends_with(TRACES_PATH) { base.to_owned() } else { format!("{base}{TRACES_PATH}") }
    }

    fn check_protocol(&self) -> Result<(), TelemetryError> {
        match self.protocol.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("http/protobuf" | "http") => Ok(()),
            Some(other) => Err(TelemetryError::Protocol(other.to_owned())),
        }
    }
}

/// The installed telemetry of a process. [`Telemetry::shutdown`] (or dropping it) exports
/// what is still buffered; call it before the process exits.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn tracing(&self) -> bool {
        self.tracer.is_some()
    }

    /// Export every finished span now (instead of waiting out the batch delay).
    pub fn flush(&self) {
        if let Some(t) = &self.tracer
            && let Err(e) = t.force_flush()
        {
            tracing::warn!(error = %e, "could not export spans");
        }
    }

    /// Export what is buffered and stop the exporter.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.tracer.take()
            && let Err(e) = t.shutdown()
        {
            tracing::warn!(error = %e, "could not export the last spans");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `meta` is a span that goes to OpenTelemetry: Lattice's own, debug or above.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && *meta.level() <= Level::DEBUG && meta.target().starts_with("lattice")
}

fn tracer_provider(service: &str, otel: &OtelSettings) -> Result<SdkTracerProvider, TelemetryError> {
    otel.check_protocol()?;
    // Before the exporter's HTTP client is built (it panics without a rustls provider).
    lattice_tls::install_ring();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(otel.traces_url())
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service.to_owned()).build())
        .build())
}

/// Install this process's subscriber: log lines on stderr as `logs` say, and — when
/// `otel` is enabled — spans exported over OTLP/HTTP as `service`, with trace-context
/// propagation on ([`lattice_rpc::trace::enable`]).
pub fn init(service: &str, logs: &LogSettings, otel: &OtelSettings) -> Result<Telemetry, TelemetryError> {
    let tracer = if otel.enabled() { Some(tracer_provider(service, otel)?) } else { None };
    let fmt = if logs.is_json() {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(logs.filter())
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(logs.ansi)
            .with_filter(logs.filter())
            .boxed()
    };
    let otel_layer = tracer.as_ref().map(|t| {
        tracing_opentelemetry::layer().with_tracer(t.tracer(service.to_owned())).with_filter(filter_fn(exported))
    });
    tracing_subscriber::registry().with(fmt).with(otel_layer).try_init()?;
    if tracer.is_some() {
        lattice_rpc::trace::enable();
        tracing::debug!(url = %otel.traces_url(), "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { tracer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        assert_eq!(OtelSettings::otlp(None).traces_url(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(OtelSettings::otlp(Some("http://c:4318/".into())).traces_url(), "http://c:4318/v1/traces");
        assert_eq!(OtelSettings::otlp(Some("http://c:4318/v1/traces".into())).traces_url(), "http://c:4318/v1/traces");
    }

    #[test]
    fn only_otlp_turns_traces_on_and_grpc_is_refused() {
        assert!(!OtelSettings::default().enabled());
        assert!(!OtelSettings { traces_exporter: Some("none".into()), ..Default::default() }.enabled());
        assert!(OtelSettings { traces_exporter: Some("OTLP".into()), ..Default::default() }.enabled());
        let grpc = OtelSettings { protocol: Some("grpc".into()), ..OtelSettings::otlp(None) };
        assert!(matches!(grpc.check_protocol(), Err(TelemetryError::Protocol(_))));
    }
}
