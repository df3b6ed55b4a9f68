//! One reply inbox per client, shared by all its calls.
//!
//! A client subscribes once to `{inbox}.*`; each call gets the reply subject
//! `{inbox}.{token}` and a oneshot channel registered under `token`. A router task reads
//! the subscription and hands each reply to its waiting call. This costs one subscription
//! per client instead of one per call, and lets us see replies that arrive after their
//! caller gave up: those are counted ([`Inbox::late_replies`]) and logged at debug level,
//! never delivered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::Message;
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::RpcError;

/// Calls waiting for their reply, by token.
#[derive(Debug, Default)]
struct Routes {
    waiting: Mutex<HashMap<u64, oneshot::Sender<Message>>>,
    late: AtomicU64,
}

impl Routes {
    fn route(&self, msg: Message, prefix_len: usize) {
        let token = msg.subject.get(prefix_len + 1..).and_then(|t| t.parse::<u64>().ok());
        let waiter = token.and_then(|t| self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(&t));
        match waiter {
            Some(tx) => {
                if let Err(msg) = tx.send(msg) {
                    self.late_reply(&msg);
                }
            }
            None => self.late_reply(&msg),
        }
    }

    fn late_reply(&self, msg: &Message) {
        self.late.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(subject = %msg.subject, bytes = msg.payload.len(), "reply arrived after its caller gave up; dropped");
    }
}

/// The shared reply inbox of one client.
#[derive(Debug)]
pub(crate) struct Inbox {
    prefix: String,
    next: AtomicU64,
    routes: Arc<Routes>,
    router: JoinHandle<()>,
}

/// A registered call waiting for its reply; dropping it unregisters the token.
#[derive(Debug)]
pub(crate) struct Pending<'a> {
    inbox: &'a Inbox,
    token: u64,
    /// The reply subject to publish the request with.
    pub(crate) reply_subject: String,
    rx: Option<oneshot::Receiver<Message>>,
}

impl Inbox {
    /// Subscribe to a fresh inbox on `nats` and start routing replies.
    pub(crate) async fn start(nats: &async_nats::Client) -> Result<Self, RpcError> {
        let prefix = nats.new_inbox();
        let mut sub = nats.subscribe(format!("{prefix}.*")).await.map_err(|e| RpcError::nats("subscribe", e))?;
        let routes = Arc::new(Routes::default());
        let prefix_len = prefix.len();
        let router_routes = routes.clone();
        let router = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                router_routes.route(msg, prefix_len);
            }
        });
        Ok(Self { prefix, next: AtomicU64::new(1), routes, router })
    }

    /// Register a new call and get its reply subject.
    pub(crate) fn register(&self) -> Pending<'_> {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.routes.waiting.lock().unwrap_or_else(PoisonError::into_inner).insert(token, tx);
        Pending { inbox: self, token, reply_subject: format!("{}.{token}", self.prefix), rx: Some(rx) }
    }

    /// How many replies arrived after their caller had given up.
    pub(crate) fn late_replies(&self) -> u64 {
        self.routes.late.load(Ordering::Relaxed)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // The router owns the subscription; stopping it unsubscribes.
        self.router.abort();
    }
}

impl Pending<'_> {
    /// Wait for the reply until `deadline`; `None` when the deadline passed first (or
    /// the client is shutting down).
    pub(crate) async fn wait_until(&mut self, deadline: tokio::time::Instant) -> Option<Message> {
        let rx = self.rx.as_mut()?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(msg)) => {
                self.rx = None;
                Some(msg)
            }
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.inbox.routes.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.token);
        }
    }
}
