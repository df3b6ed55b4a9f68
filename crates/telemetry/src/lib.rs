//! # lattice-telemetry — traces, logs and metrics of Lattice processes
//!
//! One place for what every Lattice process (the `lattice up` host, providers built on
//! the SDK, the monitor) does to be observable, the way wasmCloud 0.82 operators expect:
//!
//! - [`init`] installs the process's `tracing` subscriber: human or JSON log lines on
//!   stderr ([`LogSettings`]: `--log-format`, `--log-level` / `WASMCLOUD_LOG_LEVEL`,
//!   `WASMCLOUD_STRUCTURED_LOGGING_ENABLED`), and, when [`OtelSettings`] say so
//!   (`OTEL_TRACES_EXPORTER=otlp`, `--otel`), an OpenTelemetry layer exporting spans over
//!   OTLP/HTTP (protobuf) to `{endpoint}/v1/traces`. It also switches on the RPC layer's
//!   trace-context propagation ([`lattice_rpc::trace`]). The returned [`Telemetry`]
//!   flushes and shuts the exporter down.
//! - [`serve`] is the one tiny HTTP server for Prometheus `GET /metrics`.
//! - [`metrics`] writes values read at scrape time (the RPC servers' counters) as metrics.
//! - [`process`] adds the process's resident memory and CPU time to any registry.

pub mod logs;
pub mod metrics;
pub mod otel;
pub mod process;
pub mod serve;

pub use logs::{LogFormat, LogLevel, LogSettings};
pub use otel::{OtelSettings, Telemetry, init};

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A log level that is none of `error warn info debug trace critical`.
    #[error("unknown log level `{0}` (expected error, warn, info, debug, trace or critical)")]
    LogLevel(String),
    /// A log format that is neither `human` nor `json`.
    #[error("unknown log format `{0}` (expected human or json)")]
    LogFormat(String),
    /// An OTLP protocol this build does not export with.
    #[error("OTLP protocol `{0}` is not supported: only http/protobuf is built in")]
    Protocol(String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global `tracing` subscriber was already installed.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}
