//! Connecting a watcher to NATS so that it can tell when it falls behind.
//!
//! A watcher must see every message. async-nats hands each subscription's messages to a
//! bounded buffer and, when that buffer is full, **drops** the message and raises
//! `Event::SlowConsumer`; the server, for its part, cuts off a client that does not read
//! fast enough. Neither is visible without the connection's events. [`connect`] opens the
//! connection through the one connect helper ([`lattice_rpc::NatsOptions`]) with a large
//! subscription buffer ([`SUBSCRIPTION_CAPACITY`]) and hands back its [`NatsEvents`], which
//! the monitor turns into metrics and loud reports.

use std::path::Path;
use std::time::SystemTime;

use async_nats::Event;
pub use lattice_rpc::NatsEvents;
use lattice_rpc::{NatsAuth, NatsOptions};

use crate::error::MonitorError;

/// Messages buffered per subscription before NATS starts dropping them (async-nats'
/// default is 65 536): about six seconds of a heavy benchmark's traffic.
pub const SUBSCRIPTION_CAPACITY: usize = 1 << 18;

/// Connect to `url` (one URL or a comma-separated list; with a credentials file, if given)
/// for watching. `name` is the client name the server shows (`lattice-monitor`, …).
pub async fn connect(
    url: &str,
    creds: Option<&Path>,
    name: &str,
) -> Result<(async_nats::Client, NatsEvents), MonitorError> {
    let auth = creds.map_or(NatsAuth::None, |path| NatsAuth::CredsFile(path.to_path_buf()));
    connect_with_auth(url, auth, name).await
}

/// As [`connect`], logging in with `auth` (a credentials file, an nkey seed such as the
/// monitor role's of `lattice nats-config`, …).
pub async fn connect_with_auth(
    url: &str,
    auth: NatsAuth,
    name: &str,
) -> Result<(async_nats::Client, NatsEvents), MonitorError> {
    let nats = NatsOptions::new(url)
        .auth(auth)
        .name(name)
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .connect()
        .await
        .map_err(MonitorError::Connect)?;
    Ok((nats.client, nats.events))
}

/// A source of wall-clock time (seconds for claims, instants for alert timestamps); tests
/// substitute a fixed one.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch.
    fn unix_secs(&self) -> u64 {
        self.now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant (for tests and replays of recorded traffic).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// A short name for an event, used as a metric label.
pub(crate) fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Connected => "connected",
        Event::Disconnected => "disconnected",
        Event::LameDuckMode => "lame_duck_mode",
        Event::Draining => "draining",
        Event::Closed => "closed",
        Event::SlowConsumer(_) => "slow_consumer",
        Event::ServerError(async_nats::ServerError::SlowConsumer(_)) => "slow_consumer",
        Event::ServerError(_) => "server_error",
        Event::ClientError(_) => "client_error",
    }
}
