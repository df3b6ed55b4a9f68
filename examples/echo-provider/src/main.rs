//! A complete capability provider in one page: contract `example:echo`.
//!
//! Build it (`cargo build -p lattice-example-echo-provider`), then let a host start the
//! `echo-provider` binary; the SDK reads HostData from stdin, connects, and serves.
//! Operations: `Echo.Echo` returns the body; `Echo.Prefixed` prepends the link value
//! `prefix`; `Echo.Delay` waits the number of milliseconds given in the body, then echoes.
//! See docs/PROVIDERS.md for the walk-through.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lattice_provider::{HandlerError, HealthCheckResponse, LinkDefinition, Provider, ProviderContext, Request};

/// The provider's state: how many calls it has answered.
#[derive(Default)]
struct Echo {
    calls: AtomicU64,
}

impl Provider for Echo {
    const CONTRACT_ID: &'static str = "example:echo";

    // Only verified calls from linked actors get here; `link` is the caller's link.
    async fn handle(&self, _: &ProviderContext, link: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match call.operation.as_str() {
            "Echo.Echo" => Ok(call.msg),
            "Echo.Prefixed" => Ok([link.values.get("prefix").unwrap_or_default().as_bytes(), &call.msg].concat()),
            "Echo.Delay" => {
                let ms: u64 = String::from_utf8_lossy(&call.msg).trim().parse().map_err(HandlerError::new)?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(call.msg)
            }
            other => Err(HandlerError::new(format!("unknown operation {other}"))),
        }
    }

    // Optional hooks have defaults; this one reports a status message with each check.
    async fn health(&self, _: &ProviderContext) -> HealthCheckResponse {
        let served = self.calls.load(Ordering::Relaxed);
        HealthCheckResponse { healthy: true, message: Some(format!("{served} calls served")) }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider::run(Echo::default()).await
}
