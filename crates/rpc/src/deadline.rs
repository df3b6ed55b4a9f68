//! Deadlines that travel with a call (beyond 0.82) and the clocks that read them.
//!
//! The caller puts its absolute deadline — Unix time in milliseconds — in the NATS header
//! [`DEADLINE_HEADER`]. 0.82 peers ignore unknown headers, so this costs nothing in
//! compatibility. A server turns it back into a local [`Instant`] on receipt: it drops
//! queued work whose caller has already given up, and a handler can ask how much time is
//! left. Absolute wall-clock time assumes roughly synchronised clocks (NTP); a skewed
//! clock only makes the server's estimate early or late, never changes a result.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use tokio::time::Instant;

/// The NATS header carrying the caller's deadline, Unix milliseconds in decimal.
pub const DEADLINE_HEADER: &str = "Lattice-Deadline";

/// A clock returning seconds since the Unix epoch (injectable so tests can replay claims
/// issued at a fixed time).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock, seconds since the Unix epoch.
pub fn system_clock() -> Clock {
    Arc::new(unix_secs)
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Headers carrying a deadline `timeout` from now.
pub(crate) fn headers_for(timeout: Duration) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let at = unix_millis().saturating_add(timeout.as_millis() as u64);
    headers.insert(DEADLINE_HEADER, at.to_string().as_str());
    headers
}

/// The local instant of the deadline in `headers`, if there is a readable one.
/// A deadline already in the past comes back as `now`.
pub(crate) fn from_headers(headers: Option<&HeaderMap>) -> Option<Instant> {
    let value = headers?.get(DEADLINE_HEADER)?;
    let at: u64 = value.as_str().trim().parse().ok()?;
    let left = at.saturating_sub(unix_millis());
    Some(Instant::now() + Duration::from_millis(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let h = headers_for(Duration::from_secs(2));
        let at = from_headers(Some(&h)).unwrap();
        let left = at - Instant::now();
        assert!(left <= Duration::from_secs(2) && left > Duration::from_millis(1500), "{left:?}");
        let mut bad = HeaderMap::new();
        bad.insert(DEADLINE_HEADER, "soon");
        assert!(from_headers(Some(&bad)).is_none());
        assert!(from_headers(None).is_none());
        let mut past = HeaderMap::new();
        past.insert(DEADLINE_HEADER, "1");
        assert!(from_headers(Some(&past)).unwrap() <= Instant::now());
    }
}
