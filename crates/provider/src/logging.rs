//! Provider logging: `tracing` to **stderr**, configured from HostData.
//!
//! stdout stays untouched (a host may read it). HostData's `log_level` (`error warn info
//! debug trace critical`; `critical` means `error`) wins when set — a 0.82 host never sets
//! it —, else `RUST_LOG` (which a 0.82 host passes through), else `info`.
//! `structured_logging: true` switches to one JSON object per line.

use lattice_proto::HostData;
use tracing_subscriber::EnvFilter;

/// The filter directive for HostData's `log_level`, if it is one of the known levels.
fn level_directive(level: &str) -> Option<&'static str> {
    Some(match level.trim().to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warn" | "warning" => "warn",
        "info" => "info",
        "debug" => "debug",
        "trace" => "trace",
        _ => return None,
    })
}

/// Install the global subscriber. Does nothing if one is already installed (a provider
/// embedded in a program that set up its own logging).
pub fn init(host_data: &HostData) {
    let from_host = host_data.log_level.as_deref().and_then(level_directive);
    let filter = match from_host {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if host_data.structured_logging {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    if let (Some(raw), None) = (host_data.log_level.as_deref(), from_host) {
        tracing::warn!(log_level = raw, "unknown log_level in HostData; using RUST_LOG or info");
    }
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_like_0_82() {
        assert_eq!(level_directive("critical"), Some("error"));
        assert_eq!(level_directive("DEBUG"), Some("debug"));
        assert_eq!(level_directive("loud"), None);
    }
}
