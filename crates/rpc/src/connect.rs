//! The one way Lattice opens a NATS connection.
//!
//! Every long-lived client (a host's RPC and control connections, the provider SDK, the
//! monitor, the CLI's verbs) connects through [`NatsOptions::connect`], so the policies
//! that matter when the broker misbehaves live in one place and cannot drift:
//!
//! - **Servers**: one URL or several (`nats://a:4222,nats://b:4222`); the servers a
//!   cluster advertises are used as well (async-nats' default).
//! - **Credentials** ([`NatsAuth`]): a `.creds` file, an nkey seed, or a user JWT with the
//!   seed that signs the server's nonce. Seeds never appear in `Debug` output.
//! - **Reconnect fast, forever**: async-nats' default backoff grows to seconds, so a
//!   broker blip of a few seconds costs seconds more. Here the delay between attempts is
//!   at most [`MAX_RECONNECT_DELAY`] plus jitter and attempts never stop, so the first
//!   call after the broker returns succeeds within a fraction of a second.
//! - **Connection state** ([`ConnState`] in a [`ConnWatch`]): fed by the client's event
//!   callback, so callers can fail fast while the connection is down instead of waiting
//!   out a timeout, and health checks can report it. After a reconnect it turns
//!   `Connected` only once a round trip shows the server has the re-sent subscriptions. Other events (slow consumer, server
//!   errors) go to [`NatsEvents`] for those that watch them (the monitor).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, Event, ServerAddr};
use tokio::sync::{mpsc, watch};

use crate::error::RpcError;

/// The longest pause between two reconnect attempts (before jitter).
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// The most jitter added to a reconnect delay, so a fleet of clients does not reconnect
/// in lock step.
pub const RECONNECT_JITTER: Duration = Duration::from_millis(50);

/// How long one attempt to reach a server may take before the next is tried.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a reconnect waits for the server to confirm the re-sent subscriptions before
/// the state says `Connected` anyway.
const RESUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

/// How many connection events are buffered for [`NatsEvents`] before newer ones are
/// dropped (a flood of slow-consumer events says the same thing as its first thousand).
const EVENT_BUFFER: usize = 1024;

/// How a client proves who it is to the NATS server.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A NATS `.creds` file (user JWT and nkey seed).
    CredsFile(PathBuf),
    /// An nkey user seed (`SU…`); the server's nonce is signed with it.
    NkeySeed(String),
    /// A user JWT with the seed that signs the server's nonce (what HostData carries).
    UserJwt {
        /// The user JWT.
        jwt: String,
        /// The user's nkey seed.
        seed: String,
    },
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::CredsFile(path) => f.debug_tuple("CredsFile").field(path).finish(),
            NatsAuth::NkeySeed(_) => f.write_str("NkeySeed(<redacted>)"),
            NatsAuth::UserJwt { .. } => f.write_str("UserJwt { jwt: <redacted>, seed: <redacted> }"),
        }
    }
}

impl NatsAuth {
    /// From the optional `jwt` / `seed` pair a provider's HostData carries: neither means
    /// no credentials, a seed alone an nkey user, both a JWT user.
    pub fn from_jwt_and_seed(jwt: &str, seed: &str) -> Result<Self, RpcError> {
        let (jwt, seed) = (jwt.trim(), seed.trim());
        match (jwt.is_empty(), seed.is_empty()) {
            (true, true) => Ok(NatsAuth::None),
            (true, false) => Ok(NatsAuth::NkeySeed(seed.to_owned())),
            (false, false) => Ok(NatsAuth::UserJwt { jwt: jwt.to_owned(), seed: seed.to_owned() }),
            (false, true) => Err(RpcError::Credentials {
                what: "user JWT".into(),
                reason: "a user JWT needs its nkey seed to sign the server's nonce".into(),
            }),
        }
    }

    async fn apply(&self, options: ConnectOptions) -> Result<ConnectOptions, RpcError> {
        Ok(match self {
            NatsAuth::None => options,
            NatsAuth::CredsFile(path) => options.credentials_file(path).await.map_err(|e| RpcError::Credentials {
                what: format!("credentials file {}", path.display()),
                reason: e.to_string(),
            })?,
            NatsAuth::NkeySeed(seed) => {
                check_seed(seed)?;
                options.nkey(seed.clone())
            }
            NatsAuth::UserJwt { jwt, seed } => {
                let pair = Arc::new(check_seed(seed)?);
                options.jwt(jwt.clone(), move |nonce| {
                    let pair = pair.clone();
                    async move { pair.sign(&nonce).map_err(async_nats::AuthError::new) }
                })
            }
        })
    }
}

fn check_seed(seed: &str) -> Result<nkeys::KeyPair, RpcError> {
    nkeys::KeyPair::from_seed(seed.trim())
        .map_err(|e| RpcError::Credentials { what: "nkey seed".into(), reason: e.to_string() })
}

/// Whether the connection is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Connected to a server (subscriptions are re-sent by async-nats on reconnect).
    Connected,
    /// Lost; async-nats is reconnecting. Calls made now cannot be answered.
    Disconnected,
}

/// A connection's state with its recent history, as health checks and `lattice get hosts`
/// report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnStatus {
    /// Up or down now.
    pub state: ConnState,
    /// When the connection entered `state` (the connect time for a connection that never
    /// dropped).
    pub since: Instant,
    /// How many times the connection has dropped since it was opened.
    pub disconnects: u64,
    /// How long the last completed outage lasted (`None` before the first reconnect).
    pub last_outage: Option<Duration>,
}

impl ConnStatus {
    fn new(state: ConnState) -> Self {
        ConnStatus { state, since: Instant::now(), disconnects: 0, last_outage: None }
    }

    /// Move to `new` at `now`; `false` (nothing to tell watchers) when it is no change.
    fn apply(&mut self, new: ConnState, now: Instant) -> bool {
        if self.state == new {
            return false;
        }
        match new {
            ConnState::Disconnected => self.disconnects += 1,
            ConnState::Connected => self.last_outage = Some(now.saturating_duration_since(self.since)),
        }
        self.state = new;
        self.since = now;
        true
    }
}

/// The live [`ConnStatus`] of one connection (cheap to clone).
#[derive(Clone, Debug)]
pub struct ConnWatch {
    rx: watch::Receiver<ConnStatus>,
    /// The sender of [`ConnWatch::always_connected`], kept so `changed` waits forever.
    _fixed: Option<Arc<watch::Sender<ConnStatus>>>,
}

impl ConnWatch {
    /// The state now.
    pub fn state(&self) -> ConnState {
        self.rx.borrow().state
    }

    /// The state now with its history (how long, how many drops, the last outage).
    pub fn status(&self) -> ConnStatus {
        *self.rx.borrow()
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        self.state() == ConnState::Connected
    }

    /// Wait until the state changes; `None` once the connection is gone for good.
    pub async fn changed(&mut self) -> Option<ConnState> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().state)
    }

    /// A watch that is always connected (for clients made outside [`NatsOptions`], e.g.
    /// in tests).
    pub fn always_connected() -> Self {
        let (tx, rx) = watch::channel(ConnStatus::new(ConnState::Connected));
        ConnWatch { rx, _fixed: Some(Arc::new(tx)) }
    }
}

/// The other events of a connection (slow consumer, server errors, lame duck, …), for
/// those that report them.
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

/// An open connection with its state and events.
#[derive(Debug)]
pub struct Nats {
    /// The client (cheap to clone).
    pub client: async_nats::Client,
    /// Whether it is connected, live.
    pub state: ConnWatch,
    /// Its connection events.
    pub events: NatsEvents,
}

/// How to connect: servers, credentials, name and buffers. Builder methods end in
/// [`NatsOptions::connect`].
#[derive(Clone, Debug)]
pub struct NatsOptions {
    urls: Vec<String>,
    auth: NatsAuth,
    name: Option<String>,
    subscription_capacity: Option<usize>,
    connect_timeout: Duration,
    retry_initial: bool,
}

impl NatsOptions {
    /// Connect to `urls`: one URL, or several separated by commas (`nats://a,nats://b`).
    pub fn new(urls: &str) -> Self {
        NatsOptions {
            urls: split_urls(urls),
            auth: NatsAuth::None,
            name: None,
            subscription_capacity: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry_initial: false,
        }
    }

    /// The servers, as given (comma-separated lists already split).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The servers as one comma-separated string (for logs and messages).
    pub fn urls_display(&self) -> String {
        self.urls.join(",")
    }

    /// Log in with these credentials.
    pub fn auth(mut self, auth: NatsAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Log in with a `.creds` file when one is given.
    pub fn creds_file(self, creds: Option<PathBuf>) -> Self {
        match creds {
            Some(path) => self.auth(NatsAuth::CredsFile(path)),
            None => self,
        }
    }

    /// The client name the server shows in its monitoring (`lattice-host …`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Messages buffered per subscription before async-nats drops them (its default is
    /// 65 536); watchers that must see every message raise it.
    pub fn subscription_capacity(mut self, capacity: usize) -> Self {
        self.subscription_capacity = Some(capacity);
        self
    }

    /// How long one attempt to reach a server may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Keep trying when no server answers at start, instead of failing at once (long-lived
    /// processes that may start before their broker). One-shot verbs leave it off and fail
    /// fast.
    pub fn retry_initial_connect(mut self, retry: bool) -> Self {
        self.retry_initial = retry;
        self
    }

    /// Open the connection.
    pub async fn connect(self) -> Result<Nats, RpcError> {
        let shown = self.urls_display();
        let mut addrs = Vec::with_capacity(self.urls.len());
        for url in &self.urls {
            let addr: ServerAddr = url
                .parse()
                .map_err(|e: std::io::Error| RpcError::BadUrl { url: url.clone(), reason: e.to_string() })?;
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(RpcError::BadUrl { url: shown, reason: "no server URL given".into() });
        }

        let (state_tx, state_rx) = watch::channel(ConnStatus::new(ConnState::Connected));
        let (event_tx, event_rx) = mpsc::channel(EVENT_BUFFER);
        let state_tx = Arc::new(state_tx);
        // The client, once made: on a reconnect the state turns `Connected` only after a
        // round trip, so the subscriptions async-nats re-sends (queue groups included) are
        // live on the server before anyone is told the connection is healthy.
        let made: Arc<std::sync::OnceLock<async_nats::Client>> = Arc::default();
        let made_in_callback = made.clone();
        let mut options = ConnectOptions::new()
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay)
            .connection_timeout(self.connect_timeout)
            .event_callback(move |event| {
                let (state_tx, event_tx) = (state_tx.clone(), event_tx.clone());
                let client = made_in_callback.get().cloned();
                async move {
                    if let (Event::Connected, Some(client)) = (&event, client) {
                        // PING after the re-sent SUBs; the PONG says the server has them.
                        // A failure means the connection dropped again: its own event
                        // follows and says so.
                        let _ = tokio::time::timeout(RESUBSCRIBE_WAIT, client.flush()).await;
                    }
                    // Only real changes wake watchers: the first `Connected` event follows a
                    // state that already says connected.
                    let new = match event {
                        Event::Connected => Some(ConnState::Connected),
                        Event::Disconnected => Some(ConnState::Disconnected),
                        _ => None,
                    };
                    if let Some(new) = new {
                        state_tx.send_if_modified(|status| status.apply(new, Instant::now()));
                    }
                    let _ = event_tx.try_send(event);
                }
            });
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        if let Some(capacity) = self.subscription_capacity {
            options = options.subscription_capacity(capacity);
        }
        if self.retry_initial {
            options = options.retry_on_initial_connect();
        }
        options = self.auth.apply(options).await?;
        let client = options.connect(addrs).await.map_err(|e| RpcError::Connect { url: shown, source: e.into() })?;
        let _ = made.set(client.clone());
        Ok(Nats { client, state: ConnWatch { rx: state_rx, _fixed: None }, events: NatsEvents { rx: event_rx } })
    }
}

/// Split a comma-separated server list, dropping blanks.
fn split_urls(urls: &str) -> Vec<String> {
    urls.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The pause before reconnect attempt `attempts` (1-based): 0 for the first (the broker
/// may already be back), then doubling from 10 ms up to [`MAX_RECONNECT_DELAY`], plus up
/// to [`RECONNECT_JITTER`] of jitter.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    let base = Duration::from_millis(10).saturating_mul(1 << exp).min(MAX_RECONNECT_DELAY);
    base + jitter(RECONNECT_JITTER)
}

/// A random duration below `max`, from the standard library's per-process random hash
/// keys (no extra dependency for a few bits of jitter).
fn jitter(max: Duration) -> Duration {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(hasher.finish() % max_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_server_lists() {
        assert_eq!(split_urls("nats://a:1, nats://b:2,,"), vec!["nats://a:1", "nats://b:2"]);
        assert_eq!(split_urls("nats://127.0.0.1:4222"), vec!["nats://127.0.0.1:4222"]);
        assert!(split_urls(" , ").is_empty());
    }

    #[test]
    fn reconnect_delay_stays_short() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        for attempts in 2..10_000 {
            assert!(reconnect_delay(attempts) <= MAX_RECONNECT_DELAY + RECONNECT_JITTER, "{attempts}");
        }
        assert!(reconnect_delay(100) >= MAX_RECONNECT_DELAY);
    }

    #[test]
    fn debug_never_shows_seeds() {
        let seed = nkeys::KeyPair::new_user().seed().expect("seed");
        let shown = format!(
            "{:?} {:?}",
            NatsAuth::NkeySeed(seed.clone()),
            NatsAuth::UserJwt { jwt: "eyJ.jwt".into(), seed: seed.clone() }
        );
        assert!(!shown.contains(&seed) && !shown.contains("eyJ"), "{shown}");
    }

    #[test]
    fn status_counts_drops_and_times_the_last_outage() {
        let t0 = Instant::now();
        let mut status = ConnStatus { state: ConnState::Connected, since: t0, disconnects: 0, last_outage: None };
        assert!(!status.apply(ConnState::Connected, t0), "connected while connected is no change");
        assert!(status.apply(ConnState::Disconnected, t0 + Duration::from_secs(5)));
        assert!(!status.apply(ConnState::Disconnected, t0 + Duration::from_secs(6)));
        assert_eq!((status.state, status.disconnects, status.last_outage), (ConnState::Disconnected, 1, None));
        assert!(status.apply(ConnState::Connected, t0 + Duration::from_millis(5_300)));
        assert_eq!(status.last_outage, Some(Duration::from_millis(300)));
        assert_eq!(status.since, t0 + Duration::from_millis(5_300));
        assert_eq!(status.disconnects, 1);
    }

    #[test]
    fn jwt_without_seed_is_refused() {
        assert!(matches!(NatsAuth::from_jwt_and_seed("eyJ", " "), Err(RpcError::Credentials { .. })));
        assert!(matches!(NatsAuth::from_jwt_and_seed("", ""), Ok(NatsAuth::None)));
    }

    #[tokio::test]
    async fn bad_url_and_bad_seed_are_typed_errors() {
        let err = NatsOptions::new("").connect().await.err();
        assert!(matches!(err, Some(RpcError::BadUrl { .. })), "{err:?}");
        let err =
            NatsOptions::new("nats://127.0.0.1:1").auth(NatsAuth::NkeySeed("SUnope".into())).connect().await.err();
        assert!(matches!(err, Some(RpcError::Credentials { .. })), "{err:?}");
    }
}
