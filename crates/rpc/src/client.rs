//! [`RpcClient`]: signs invocations and sends them over the RPC connection.
//!
//! Every call is built and signed fresh (new id, new `jti`, `iat` = now), published with
//! request/reply on the target's subject ([`lattice_proto::subject::for_target`]), and
//! answered through the client's shared reply inbox (`inbox.rs`). Timeouts are
//! always finite: 2000 ms by default (PROTOCOL.md §9, §11.2), per client and per call,
//! plus 13 s when the body goes through the object store. When nobody serves the target
//! the call fails at once with [`RpcError::NoResponders`] instead of waiting out the
//! timeout. The caller's deadline travels in the [`crate::DEADLINE_HEADER`] header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::StatusCode;
use lattice_proto::chunk::{self, CHUNK_RPC_EXTRA_TIME};
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{ClusterSeed, HostKey, Invocation, InvocationResponse, LatticeName, WasmCloudEntity, subject};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::Instrument;

use crate::chunk::ChunkStore;
use crate::connect::ConnWatch;
use crate::deadline;
use crate::error::RpcError;
use crate::inbox::Inbox;

/// The default per-call timeout (0.82's `rpc_timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// Per-call settings that override the client's.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// This call's timeout (the client's when `None`); 13 s are added when chunked.
    pub timeout: Option<Duration>,
}

impl CallOptions {
    /// Options with this timeout.
    pub fn timeout(timeout: Duration) -> Self {
        Self { timeout: Some(timeout) }
    }
}

/// Builds an [`RpcClient`]; see [`RpcClient::builder`].
#[derive(Debug)]
pub struct RpcClientBuilder {
    nats: async_nats::Client,
    lattice: LatticeName,
    seed: ClusterSeed,
    host: HostKey,
    timeout: Duration,
    js_domain: Option<String>,
    state: Option<ConnWatch>,
    chunk_ttl: Duration,
}

impl RpcClientBuilder {
    /// The connection's live state ([`crate::Nats::state`]): with it, a call made while the
    /// connection is down, or waiting for its answer when the connection drops, fails at
    /// once with [`RpcError::Disconnected`] instead of waiting out its timeout (the answer
    /// cannot arrive: the reply subscription lives on the lost connection). Without it
    /// (a client made outside [`crate::NatsOptions`]) such calls time out.
    pub fn connection_state(mut self, state: ConnWatch) -> Self {
        self.state = Some(state);
        self
    }

    /// The default timeout of this client's calls (default 2000 ms). Zero is raised to 1 ms:
    /// a call never waits forever and never fails without being sent.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The JetStream domain of the object store used for large bodies (none by default).
    pub fn jetstream_domain(mut self, domain: impl Into<String>) -> Self {
        self.js_domain = Some(domain.into());
        self
    }

    /// How long chunk objects live when this client creates the object store (default
    /// [`lattice_proto::chunk::DEFAULT_CHUNK_TTL`], 5 minutes).
    pub fn chunk_ttl(mut self, ttl: Duration) -> Self {
        self.chunk_ttl = ttl;
        self
    }

    /// Build the client. Its reply inbox is subscribed on the first call.
    pub fn build(self) -> RpcClient {
        let chunks =
            ChunkStore::new(self.nats.clone(), self.lattice.as_str(), self.js_domain.as_deref(), self.chunk_ttl);
        RpcClient {
            inner: Arc::new(ClientInner {
                nats: self.nats,
                lattice: self.lattice,
                seed: self.seed,
                host: self.host,
                timeout: self.timeout,
                inbox: OnceCell::new(),
                state: self.state,
                chunks,
                subjects: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// A Lattice RPC client bound to one NATS connection (the RPC connection). Cheap to clone;
/// clones share the connection and the reply inbox.
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    nats: async_nats::Client,
    lattice: LatticeName,
    seed: ClusterSeed,
    host: HostKey,
    timeout: Duration,
    inbox: OnceCell<Inbox>,
    state: Option<ConnWatch>,
    chunks: ChunkStore,
    /// Subjects of recent targets, by (public key, link name): validating a key costs an
    /// elliptic-curve point decompression, too much to repeat on every call.
    subjects: Mutex<HashMap<(String, String), Arc<str>>>,
}

/// Resolves when `state` is (or turns) disconnected; never when the connection is gone
/// for good while connected (a closed client fails its calls by itself).
async fn until_disconnected(mut state: ConnWatch) {
    loop {
        if !state.is_connected() {
            return;
        }
        if state.changed().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// How many target subjects a client remembers before starting over.
const SUBJECT_CACHE_LIMIT: usize = 4096;

impl RpcClient {
    /// A builder for a client on `nats` in `lattice`, signing with the cluster `seed` and
    /// naming `host` as the sending host (`host_id`).
    pub fn builder(
        nats: async_nats::Client,
        lattice: LatticeName,
        seed: ClusterSeed,
        host: HostKey,
    ) -> RpcClientBuilder {
        RpcClientBuilder {
            nats,
            lattice,
            seed,
            host,
            timeout: DEFAULT_TIMEOUT,
            js_domain: None,
            state: None,
            chunk_ttl: chunk::DEFAULT_CHUNK_TTL,
        }
    }

    /// The lattice this client calls into.
    pub fn lattice(&self) -> &LatticeName {
        &self.inner.lattice
    }

    /// The host key this client names as `host_id`.
    pub fn host(&self) -> &HostKey {
        &self.inner.host
    }

    /// The client's default timeout.
    pub fn default_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// How many replies arrived after their caller had given up (timed out or dropped the
    /// call); they were logged and discarded.
    pub fn late_replies(&self) -> u64 {
        self.inner.inbox.get().map_or(0, Inbox::late_replies)
    }

    /// Call `operation` on `target` with `msg`, as `origin`, with the client's timeout.
    /// Returns the response's `msg`.
    pub async fn call(
        &self,
        origin: WasmCloudEntity,
        target: WasmCloudEntity,
        operation: impl Into<String>,
        msg: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        self.call_with(origin, target, operation, msg, CallOptions::default()).await
    }

    /// Like [`RpcClient::call`], with per-call options.
    pub async fn call_with(
        &self,
        origin: WasmCloudEntity,
        target: WasmCloudEntity,
        operation: impl Into<String>,
        msg: Vec<u8>,
        options: CallOptions,
    ) -> Result<Vec<u8>, RpcError> {
        let operation = operation.into();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let span = tracing::debug_span!(
            "rpc.call",
            otel.kind = "client",
            otel.name = %operation,
            id = %id,
            operation = %operation,
            origin = %origin.public_key,
            target = %target.public_key,
            contract_id = %target.contract_id,
            link_name = %target.link_name,
            lattice = %self.inner.lattice,
            host_id = %self.inner.host,
            payload_size = msg.len(),
            outcome = tracing::field::Empty,
            duration_us = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self.inner.call(origin, target, operation, msg, id, options).instrument(span.clone()).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(RpcError::Remote(_)) => "remote_error",
            Err(RpcError::Rejected { .. }) => "rejected",
            Err(RpcError::Timeout { .. }) => "timeout",
            Err(RpcError::NoResponders { .. }) => "no_responders",
            Err(RpcError::Disconnected { .. }) => "disconnected",
            Err(_) => "error",
        };
        let duration_us = started.elapsed().as_micros() as u64;
        span.record("outcome", outcome);
        span.record("duration_us", duration_us);
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(outcome, duration_us, "rpc call done"),
            Err(e) => tracing::debug!(outcome, duration_us, error = %lattice_proto::chain(e), "rpc call failed"),
        });
        result
    }

    /// Fire-and-forget at the interface level: sends the call and waits only for the
    /// acknowledging `InvocationResponse` (every 0.82 receiver sends one), discarding its
    /// `msg`. Errors are reported exactly as for [`RpcClient::call`].
    pub async fn send(
        &self,
        origin: WasmCloudEntity,
        target: WasmCloudEntity,
        operation: impl Into<String>,
        msg: Vec<u8>,
    ) -> Result<(), RpcError> {
        self.call(origin, target, operation, msg).await.map(drop)
    }
}

impl ClientInner {
    async fn inbox(&self) -> Result<&Inbox, RpcError> {
        self.inbox.get_or_try_init(|| Inbox::start(&self.nats)).await
    }

    /// The subject for `target` ([`subject::for_target`], remembered).
    fn subject_for(&self, target: &WasmCloudEntity) -> Result<String, RpcError> {
        let key = (target.public_key.clone(), target.link_name.clone());
        if let Some(s) = self.subjects.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(s.to_string());
        }
        let subject = subject::for_target(&self.lattice, target)?.into_string();
        let mut cache = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= SUBJECT_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, Arc::from(subject.as_str()));
        Ok(subject)
    }

    async fn call(
        &self,
        origin: WasmCloudEntity,
        target: WasmCloudEntity,
        operation: String,
        msg: Vec<u8>,
        id: String,
        options: CallOptions,
    ) -> Result<Vec<u8>, RpcError> {
        let subject = self.subject_for(&target)?;
        if self.state.as_ref().is_some_and(|s| !s.is_connected()) {
            return Err(RpcError::Disconnected { subject, sent: false });
        }
        let chunked = chunk::needs_chunking(msg.len());
        let mut timeout = options.timeout.unwrap_or(self.timeout).max(Duration::from_millis(1));
        if chunked {
            timeout += CHUNK_RPC_EXTRA_TIME;
        }
        let deadline = Instant::now() + timeout;

        let jti = nuid::next();
        let mut inv = Invocation::new_signed(
            CallSpec { origin, target, operation, msg, host_id: &self.host },
            &self.seed,
            SignContext { id, jti: jti.as_str(), now: deadline::unix_secs(), expires: None },
        );
        if chunked {
            // The claims hash the full body; the message carries none of it (PROTOCOL.md §8).
            let body = std::mem::take(&mut inv.msg);
            self.chunks.put(&chunk::request_object(&inv.id), &body).await?;
        }
        let mut headers = deadline::headers_for(timeout);
        crate::trace::inject(&mut inv.trace_context, &mut headers);
        let payload = inv.encode();

        let outcome = self.send_and_wait(subject, payload, headers, deadline, timeout).await;
        let reply = match outcome {
            Ok(reply) => reply,
            Err(e) => {
                // Nobody will read the request object (no responder), or the receiver gave
                // up on it or is not coming: delete it now instead of waiting for its TTL.
                if chunked {
                    self.chunks.discard(&chunk::request_object(&inv.id)).await;
                }
                return Err(e);
            }
        };
        let response = InvocationResponse::decode(&reply.payload)?;
        self.finish(response, &inv.id).await
    }

    /// Publish `payload` to `subject` with a reply inbox and wait for the answer until
    /// `deadline` (or until the connection drops, with a connection state).
    async fn send_and_wait(
        &self,
        subject: String,
        payload: Vec<u8>,
        headers: async_nats::HeaderMap,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<async_nats::Message, RpcError> {
        let inbox = self.inbox().await?;
        let mut pending = inbox.register();
        self.nats
            .publish_with_reply_and_headers(subject.clone(), pending.reply_subject.clone(), headers, payload.into())
            .await
            .map_err(|e| RpcError::nats("publish", e))?;

        let reply = match &self.state {
            None => pending.wait_until(deadline).await,
            Some(state) => {
                tokio::select! {
                    reply = pending.wait_until(deadline) => reply,
                    () = until_disconnected(state.clone()) => {
                        return Err(RpcError::Disconnected { subject, sent: true });
                    }
                }
            }
        };
        let Some(reply) = reply else {
            return Err(RpcError::Timeout { subject, after: timeout });
        };
        if reply.status == Some(StatusCode::NO_RESPONDERS) {
            return Err(RpcError::NoResponders { subject });
        }
        Ok(reply)
    }

    /// Check that `response` answers invocation `id` and extract its body.
    async fn finish(&self, response: InvocationResponse, id: &str) -> Result<Vec<u8>, RpcError> {
        if response.invocation_id != id {
            // A receiver that could not decode our request answers `UNKNOWN` (host) or ""
            // (provider-sdk) with the reason: that reason is more useful than "mismatch".
            let undecodable =
                response.invocation_id.is_empty() || response.invocation_id == InvocationResponse::UNKNOWN_ID;
            if let (true, Some(error)) = (undecodable, response.error) {
                return Err(RpcError::from_remote(error));
            }
            return Err(RpcError::InvalidResponse(format!(
                "invocation ID mismatch: sent {id}, the answer is for '{}'",
                response.invocation_id
            )));
        }
        if let Some(error) = response.error {
            return Err(RpcError::from_remote(error));
        }
        if chunk::is_chunked(response.content_length, response.msg.len()) {
            return self.chunks.take(&chunk::response_object(id), response.content_length).await;
        }
        if response.content_length != response.msg.len() as u64 {
            return Err(RpcError::InvalidResponse(format!(
                "message size mismatch: content_length {} but {} bytes inline",
                response.content_length,
                response.msg.len()
            )));
        }
        Ok(response.msg)
    }
}
