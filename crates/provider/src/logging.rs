//! Provider logging and traces: `tracing` to **stderr**, configured from HostData.
//!
//! stdout stays untouched (a host may read it). HostData's `log_level` (`error warn info
//! debug trace critical`; `critical` means `error`) wins when set — a 0.82 host never sets
//! it —, else `RUST_LOG` (which a 0.82 host passes through), else `info`.
//! `structured_logging: true` switches to one JSON object per line.
//!
//! Traces ([`telemetry`]): HostData's `otel_config` (`traces_exporter: "otlp"`,
//! `exporter_otlp_endpoint`), else the `OTEL_*` variables a host passes, turn on the
//! OpenTelemetry export of `lattice-telemetry`; the provider's calls then continue the
//! callers' traces and its outgoing calls carry its context.

use lattice_proto::HostData;
use lattice_telemetry::{LogFormat, LogLevel, LogSettings, OtelSettings, Telemetry};

/// The log settings HostData asks for, and the unknown `log_level` text if there was one.
fn log_settings(host_data: &HostData) -> (LogSettings, Option<&str>) {
    let raw = host_data.log_level.as_deref();
    let level = raw.and_then(|l| l.parse::<LogLevel>().ok());
    let format = if host_data.structured_logging { LogFormat::Json } else { LogFormat::Human };
    // A provider's default is `info` in both formats (0.82's); the host picks what it shows.
    let level = level.or_else(|| std::env::var_os("RUST_LOG").is_none().then_some(LogLevel::Info));
    let unknown = raw.filter(|l| l.parse::<LogLevel>().is_err());
    (LogSettings { format, level, ansi: false }, unknown)
}

/// The trace export HostData asks for (its `otel_config`, else the environment).
pub fn otel_settings(host_data: &HostData) -> OtelSettings {
    let env = OtelSettings::from_env();
    let config = &host_data.otel_config;
    let pick = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    OtelSettings {
        traces_exporter: pick(&config.traces_exporter).or(env.traces_exporter),
        endpoint: pick(&config.exporter_otlp_endpoint).or(env.endpoint),
        protocol: env.protocol,
    }
}

/// The service name spans carry: the executable's name.
fn service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "lattice-provider".to_owned())
}

/// Install the global subscriber: logs only (no trace export). Does nothing if one is
/// already installed (a provider embedded in a program that set up its own logging).
pub fn init(host_data: &HostData) {
    let (logs, unknown) = log_settings(host_data);
    drop(lattice_telemetry::init(&service_name(), &logs, &OtelSettings::default()));
    warn_unknown(unknown);
}

/// Install logs and, when configured, trace export. Keep the returned [`Telemetry`] until
/// the provider stops: [`Telemetry::shutdown`] exports the last spans. A trace setting
/// this build cannot honour (gRPC) is logged and traces stay off; an already installed
/// subscriber is kept.
pub fn telemetry(host_data: &HostData) -> Telemetry {
    let (logs, unknown) = log_settings(host_data);
    let otel = otel_settings(host_data);
    let service = service_name();
    let telemetry = match lattice_telemetry::init(&service, &logs, &otel) {
        Ok(t) => t,
        Err(lattice_telemetry::TelemetryError::AlreadyInstalled(_)) => Telemetry::default(),
        Err(e) => {
            let t = lattice_telemetry::init(&service, &logs, &OtelSettings::default()).unwrap_or_default();
            tracing::warn!(error = %lattice_proto::chain(&e), "traces are off");
            t
        }
    };
    warn_unknown(unknown);
    telemetry
}

fn warn_unknown(unknown: Option<&str>) {
    if let Some(raw) = unknown {
        tracing::warn!(log_level = raw, "unknown log_level in HostData; using RUST_LOG or info");
    }
}

#[cfg(test)]
mod tests {
    use lattice_proto::OtelConfig;

    use super::*;

    #[test]
    fn host_data_settings_win() {
        let mut hd = HostData { structured_logging: true, log_level: Some("critical".into()), ..Default::default() };
        let (logs, unknown) = log_settings(&hd);
        assert_eq!((logs.format, logs.level, unknown), (LogFormat::Json, Some(LogLevel::Error), None));
        hd.log_level = Some("loud".into());
        assert_eq!(log_settings(&hd).1, Some("loud"));
        hd.otel_config =
            OtelConfig { traces_exporter: Some("otlp".into()), exporter_otlp_endpoint: Some("http://c:4318".into()) };
        let otel = otel_settings(&hd);
        assert!(otel.enabled());
        assert_eq!(otel.traces_url(), "http://c:4318/v1/traces");
    }
}
