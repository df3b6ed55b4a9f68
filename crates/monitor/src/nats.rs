//! Connecting a watcher to NATS so that it can tell when it falls behind.
//!
//! A watcher must see every message. async-nats hands each subscription's messages to a
//! bounded buffer and, when that buffer is full, **drops** the message and raises
//! `Event::SlowConsumer`; the server, for its part, cuts off a client that does not read
//! fast enough. Neither is visible unless the connection was made with an event callback.
//! [`instrument`] sets a large subscription buffer ([`SUBSCRIPTION_CAPACITY`]) and routes
//! the connection's events into [`NatsEvents`], which the monitor turns into metrics and
//! loud reports; [`connect`] does both for a URL and optional credentials.

use std::path::Path;
use std::time::SystemTime;

use async_nats::{ConnectOptions, Event};
use tokio::sync::mpsc;

use crate::error::MonitorError;

/// Messages buffered per subscription before NATS starts dropping them (async-nats'
/// default is 65 536): about six seconds of a heavy benchmark's traffic.
pub const SUBSCRIPTION_CAPACITY: usize = 1 << 18;

/// The connection events of a watcher's NATS client (slow consumer, disconnects, …).
#[derive(Debug)]
pub struct NatsEvents {
    rx: mpsc::Receiver<Event>,
}

impl NatsEvents {
    /// The next event, or `None` when the connection is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event that is already waiting, if any.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

/// Give `options` a large subscription buffer and an event callback feeding the returned
/// [`NatsEvents`]. Events beyond its buffer are dropped (a flood of slow-consumer events
/// says the same thing as its first thousand).
pub fn instrument(options: ConnectOptions) -> (ConnectOptions, NatsEvents) {
    let (tx, rx) = mpsc::channel(1024);
    let options = options.subscription_capacity(SUBSCRIPTION_CAPACITY).event_callback(move |event| {
        let tx = tx.clone();
        async move {
            let _ = tx.try_send(event);
        }
    });
    (options, NatsEvents { rx })
}

/// Connect to `url` (with a credentials file, if given) for watching, with the events of
/// [`instrument`]. `name` is the client name the server shows (`lattice-monitor`, …).
pub async fn connect(
    url: &str,
    creds: Option<&Path>,
    name: &str,
) -> Result<(async_nats::Client, NatsEvents), MonitorError> {
    let options = match creds {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| MonitorError::Credentials { path: path.display().to_string(), source })?,
        None => ConnectOptions::new(),
    };
    let (options, events) = instrument(options.name(name));
    let client = options.connect(url).await.map_err(|source| MonitorError::Connect { url: url.to_owned(), source })?;
    Ok((client, events))
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
