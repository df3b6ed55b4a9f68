//! The host's control interface and lattice events (HOST.md §3), on the **control**
//! connection only.
//!
//! The host core and this module meet at one trait, [`ControlTarget`]: "what is running
//! here" (host info, inventory, links, claims) and "do this" (scale, stop, start a
//! provider, put a link, set a label, stop the host). Everything NATS-shaped lives here:
//!
//! - [`ControlServer`] subscribes exactly the subjects a 0.82 host subscribes
//!   ([`lattice_control::subjects::host_subscriptions`], with their queue groups and no
//!   catch-all), decodes each request strictly ([`lattice_control::decode_body`]) and
//!   answers in the 0.82 shapes: plain JSON for `ping.hosts` and the `get.*` queries, the
//!   `{"accepted":true,"error":""}` ack byte for byte, `accepted:false` with a JSON-escaped
//!   reason for anything refused or malformed (never a crash), bids in auctions only when the
//!   host's labels satisfy the constraints ([`auction`]). It also announces the host
//!   (`host_started`), beats (`host_heartbeat`, every 30 s by default) and says goodbye
//!   (`host_stopped`).
//! - [`EventPublisher`] publishes a lattice event as a CloudEvent on both
//!   `wasmbus.evt.{lattice}` and `wasmbus.evt.{lattice}.{name}`; the host core clones it to
//!   report `actors_started`, `provider_started`, `linkdef_set`, health checks and so on.
//!   Event ids and times are made here, in the I/O layer ([`events::event_id`]).
//!
//! What it refuses to do: touch the RPC connection, keep state of its own about actors,
//! providers or links (the target owns that), or answer for another host.

pub mod auction;
mod error;
pub mod events;
pub mod server;
mod target;

use std::time::Duration;

pub use error::ControlServerError;
pub use events::EventPublisher;
pub use server::{ControlHandle, ControlServer, ControlServerBuilder, DEFAULT_HEARTBEAT_INTERVAL};
pub use target::{CommandError, ControlTarget};

/// A host's uptime as 0.82 shows it (`uptime_human`): humantime's format of the whole
/// seconds (`0s`, `2s`, `1h 3m 2s`, `1day 2h`, `2months 3days`).
pub fn uptime_human(uptime: Duration) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    // humantime's calendar: a month is 30.44 days, a year 365.25 days.
    const MONTH: u64 = 2_630_016;
    const YEAR: u64 = 31_557_600;

    let mut secs = uptime.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut parts = Vec::new();
    let mut take = |unit: u64, one: &str, many: &str| {
        let n = secs / unit;
        secs %= unit;
        if n > 0 {
            parts.push(format!("{n}{}", if n == 1 { one } else { many }));
        }
    };
    take(YEAR, "year", "years");
    take(MONTH, "month", "months");
    take(DAY, "day", "days");
    take(HOUR, "h", "h");
    take(MINUTE, "m", "m");
    take(1, "s", "s");
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_humantime() {
        let cases = [
            (0, "0s"),
            (2, "2s"),
            (60, "1m"),
            (3782, "1h 3m 2s"),
            (86_400 + 7200, "1day 2h"),
            (2 * 86_400, "2days"),
            (2_630_016 * 2 + 3 * 86_400, "2months 3days"),
            (31_557_600 + 1, "1year 1s"),
        ];
        for (secs, text) in cases {
            assert_eq!(uptime_human(Duration::from_secs(secs)), text, "{secs}");
        }
        assert_eq!(uptime_human(Duration::from_millis(2_900)), "2s");
    }
}
