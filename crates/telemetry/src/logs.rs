//! Log settings: format (human lines or one JSON object per line) and level, as 0.82
//! names them (`WASMCLOUD_LOG_LEVEL`, `WASMCLOUD_STRUCTURED_LOGGING_ENABLED`).
//!
//! The level, when given, wins; else `RUST_LOG`; else the default: `warn` for human
//! output (a host's terminal shows its progress lines and warnings, not every INFO line
//! of every provider) and `info` for JSON (log pipelines want the events).

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

use crate::TelemetryError;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `tracing`'s human format.
    #[default]
    Human,
    /// One JSON object per line (0.82's structured logging).
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" | "text" | "plain" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err(TelemetryError::LogFormat(s.to_owned())),
        }
    }
}

/// A log level as 0.82 spells it (`critical` is `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `error` (and 0.82's `critical`).
    Error,
    /// `warn`.
    Warn,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
    /// `trace`.
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive.
    pub fn directive(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

impl FromStr for LogLevel {
    type Err = TelemetryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "error" => Self::Error,
            "warn" | "warning" => Self::Warn,
            "info" => Self::Info,
            "debug" => Self::Debug,
            "trace" => Self::Trace,
            _ => return Err(TelemetryError::LogLevel(s.to_owned())),
        })
    }
}

/// Format and level of a process's log.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Human lines or JSON objects.
    pub format: LogFormat,
    /// The level; `None` means `RUST_LOG`, else the format's default.
    pub level: Option<LogLevel>,
    /// ANSI colours (human format only; off unless asked for).
    pub ansi: bool,
}

/// Directives added to every filter: the NATS client's INFO lines are noise, and
/// `lattice::progress` events (a host's progress lines in JSON mode) always show.
const ALWAYS: &[&str] = &["async_nats=warn", "lattice::progress=info"];

impl LogSettings {
    /// Whether lines are JSON objects.
    pub fn is_json(&self) -> bool {
        self.format == LogFormat::Json
    }

    /// The filter these settings mean.
    pub fn filter(&self) -> EnvFilter {
        let base = match self.level {
            Some(level) => EnvFilter::new(level.directive()),
            None => EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(if self.is_json() { "info" } else { "warn" })),
        };
        ALWAYS.iter().filter_map(|d| d.parse().ok()).fold(base, EnvFilter::add_directive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_formats_parse_like_0_82() {
        assert_eq!("critical".parse::<LogLevel>().ok(), Some(LogLevel::Error));
        assert_eq!("DEBUG".parse::<LogLevel>().ok(), Some(LogLevel::Debug));
        assert!("loud".parse::<LogLevel>().is_err());
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn an_explicit_level_wins_and_progress_always_shows() {
        let s = LogSettings { level: Some(LogLevel::Error), ..Default::default() };
        let text = s.filter().to_string();
        assert!(text.contains("error") && text.contains("lattice::progress=info"), "{text}");
    }
}
