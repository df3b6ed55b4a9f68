//! The [`Handler`] trait: what an [`crate::RpcServer`] dispatches verified calls to.
//!
//! A handler sees only invocations whose claims verified and whose target is the entity
//! the server serves; it never sees a forged call. It gets the decoded [`Request`]
//! (with the full body, already fetched from the object store when it was chunked) and
//! returns the response body or a [`HandlerError`], whose text becomes the response's
//! `error`. A panicking handler is turned into an error response; the server keeps going.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use lattice_proto::WasmCloudEntity;
use tokio::time::Instant;

/// A verified call, as a handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The caller.
    pub origin: WasmCloudEntity,
    /// The callee (the entity this server serves).
    pub target: WasmCloudEntity,
    /// The operation, e.g. `HttpServer.HandleRequest`.
    pub operation: String,
    /// The full body.
    pub msg: Vec<u8>,
    /// The invocation id.
    pub id: String,
    /// The sending host (`N…`).
    pub host_id: String,
    /// When the caller gives up, if it said so (the `Lattice-Deadline` header; 0.82
    /// callers do not send one).
    pub deadline: Option<Instant>,
}

impl Request {
    /// Time left before the caller gives up; `None` when the caller sent no deadline.
    /// Zero once the deadline has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// A handler's failure; its text goes into the response's `error` verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerError(String);

impl HandlerError {
    /// An error with this text.
    pub fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }

    /// An error with the text of `err` and all its causes ([`lattice_proto::chain`]).
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        Self(lattice_proto::chain(err))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerError {}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What a server dispatches verified calls to.
pub trait Handler: Send + Sync + 'static {
    /// Handle one call; `Ok` is the response body, `Err` its error text.
    fn handle(&self, request: Request) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send;
}

/// A [`Handler`] made from an async closure; see [`handler_fn`].
#[derive(Clone)]
pub struct HandlerFn<F>(F);

impl<F> fmt::Debug for HandlerFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerFn")
    }
}

/// Make a [`Handler`] from `f(request) -> impl Future<Output = Result<Vec<u8>, HandlerError>>`.
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, HandlerError>> + Send + 'static,
{
    HandlerFn(f)
}

impl<F, Fut> Handler for HandlerFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, HandlerError>> + Send + 'static,
{
    fn handle(&self, request: Request) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send {
        (self.0)(request)
    }
}

impl<H: Handler> Handler for std::sync::Arc<H> {
    fn handle(&self, request: Request) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send {
        (**self).handle(request)
    }
}
