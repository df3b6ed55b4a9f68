//! One HTTP/1 listener per linked actor: every request becomes an
//! `HttpServer.HandleRequest` invocation to that actor, and its `HttpResponse` goes back.
//!
//! Status mapping: an actor that does not answer in time → 503, an actor that is not
//! running anywhere (no responders) → 503, any other call failure or an undecodable /
//! invalid response → 500, each with a short `text/plain` body (0.82 sent empty ones). A
//! body above the link's `max_content_len` → 413 (refused from `Content-Length` before
//! reading when it is declared, else once the limit is crossed). `readonly_mode` refuses
//! everything but GET and HEAD with 405.
//!
//! Bounds on the public socket (settings, per listener): at most `max_connections` open
//! connections (more are closed as soon as they are accepted), at most `max_in_flight`
//! requests being handled (more get 503 at once), and `header_read_timeout` for a
//! request's headers (hyper closes a connection that drips them — slowloris).
//!
//! Stopping (link deleted, provider shutting down): the socket closes at once — new
//! connections are refused —, requests in flight get up to the grace period to finish,
//! then their connections are dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use lattice_provider::{CallOptions, ProviderContext, RpcError};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::settings::Settings;
use crate::wire::{HANDLE_REQUEST, HttpRequest, HttpResponse};

/// `Retry-After` (seconds) of the 503 answered while the provider is not connected to NATS:
/// reconnecting takes well under a second (issue 17).
const RETRY_AFTER_SECS: &str = "1";

/// A running listener for one actor.
#[derive(Debug)]
pub(crate) struct Listener {
    address: SocketAddr,
    stop: CancellationToken,
    hard_stop: CancellationToken,
    tracker: TaskTracker,
}

/// What every request of one listener needs.
struct Route {
    ctx: ProviderContext,
    actor: String,
    settings: Settings,
    /// One permit per request being handled.
    in_flight: Arc<Semaphore>,
}

impl Listener {
    /// Bind the link's address and start serving. Fails when the address cannot be bound.
    pub(crate) async fn start(ctx: ProviderContext, actor: String, settings: Settings) -> std::io::Result<Self> {
        let socket = TcpListener::bind(settings.address).await?;
        let address = socket.local_addr()?;
        tracing::info!(actor = %actor, address = %address, "http listener started");
        let stop = CancellationToken::new();
        let hard_stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let in_flight = Arc::new(Semaphore::new(settings.max_in_flight));
        let route = Arc::new(Route { ctx, actor, settings, in_flight });
        tracker.spawn(accept_loop(socket, route, stop.clone(), hard_stop.clone(), tracker.clone()));
        Ok(Self { address, stop, hard_stop, tracker })
    }

    /// The bound address (the OS's choice when the link asked for port 0).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Close the socket, let in-flight requests finish for up to `grace`, then drop what
    /// is left.
    pub(crate) async fn stop(self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!(address = %self.address, "http requests still running after the grace period were dropped");
            self.hard_stop.cancel();
            self.tracker.wait().await;
        }
        tracing::info!(address = %self.address, "http listener stopped");
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
        self.hard_stop.cancel();
    }
}

async fn accept_loop(
    socket: TcpListener,
    route: Arc<Route>,
    stop: CancellationToken,
    hard_stop: CancellationToken,
    tracker: TaskTracker,
) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(route.settings.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(route.settings.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %lattice_proto::chain(&e), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = route.settings.max_connections, "too many open connections: closing a new one");
            drop(stream);
            continue;
        };
        let route = route.clone();
        let service = hyper::service::service_fn(move |req| {
            let route = route.clone();
            async move { Ok::<_, Infallible>(route.handle(req).await) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let hard_stop = hard_stop.clone();
        tracker.spawn(async move {
            let _permit = permit;
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(%peer, error = %lattice_proto::chain(&e), "http connection ended with an error");
                },
                () = hard_stop.cancelled() => {}
            }
        });
    }
    drop(socket);
    // Close idle keep-alive connections; the others close once their response is out.
    graceful.shutdown().await;
}

impl Route {
    /// One request, in an `http.request` span: with traces on (HostData `otel_config`) it
    /// is the root of the request's trace, and the actor call below it carries its
    /// context. A debug span: off, it is disabled and costs nothing.
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let span = tracing::debug_span!(
            "http.request",
            otel.kind = "server",
            otel.name = %format_args!("{} {}", req.method(), req.uri().path()),
            http.request.method = %req.method(),
            url.path = %req.uri().path(),
            actor = %self.actor,
            http.response.status_code = tracing::field::Empty,
        );
        let response = tracing::Instrument::instrument(self.serve(req), span.clone()).await;
        span.record("http.response.status_code", response.status().as_u16());
        response
    }

    async fn serve(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "too many requests in flight; try again later");
        };
        let method = req.method().as_str().to_ascii_uppercase();
        if self.settings.readonly_mode && method != "GET" && method != "HEAD" {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: this server is read-only");
        }
        let limit = self.settings.max_content_len;
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
            }
            Err(e) => {
                tracing::debug!(error = %lattice_proto::chain(&*e), "could not read a request body");
                return plain(StatusCode::BAD_REQUEST, "could not read the request body");
            }
        };
        let request = HttpRequest {
            method,
            path: parts.uri.path().to_owned(),
            query_string: parts.uri.query().unwrap_or_default().to_owned(),
            header: request_headers(&parts.headers),
            // One contiguous buffer moves into the Vec without a copy.
            body: Vec::from(body),
        };
        let options = CallOptions { timeout: self.settings.timeout };
        match self.route_call(request, options).await {
            Ok(response) => self.response(response),
            Err(response) => response,
        }
    }

    async fn route_call(
        &self,
        request: HttpRequest,
        options: CallOptions,
    ) -> Result<HttpResponse, Response<Full<Bytes>>> {
        let result = self.ctx.call_actor_with(&self.actor, HANDLE_REQUEST, request.encode(), options).await;
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(RpcError::Timeout { after, .. }) => {
                tracing::warn!(actor = %self.actor, ?after, "actor did not answer in time: 503");
                return Err(plain(StatusCode::SERVICE_UNAVAILABLE, "the actor did not answer in time"));
            }
            Err(RpcError::Disconnected { .. }) => {
                tracing::warn!(actor = %self.actor, "not connected to NATS: 503");
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "the lattice is unreachable; retry shortly");
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
                return Err(response);
            }
            Err(RpcError::NoResponders { .. }) => {
                tracing::warn!(actor = %self.actor, "actor is not running: 503");
                return Err(plain(StatusCode::SERVICE_UNAVAILABLE, "the actor is not available"));
            }
            Err(e) => {
                tracing::warn!(actor = %self.actor, error = %lattice_proto::chain(&e), "actor call failed: 500");
                return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "the actor failed to handle the request"));
            }
        };
        HttpResponse::decode(&bytes).map_err(|e| {
            tracing::warn!(actor = %self.actor, error = %lattice_proto::chain(&e), "undecodable HttpResponse from the actor: 500");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "the actor sent an invalid response")
        })
    }

    fn response(&self, r: HttpResponse) -> Response<Full<Bytes>> {
        let Ok(status) = StatusCode::from_u16(r.status_code) else {
            tracing::warn!(actor = %self.actor, status_code = r.status_code, "invalid status code from the actor: 500");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "the actor sent an invalid status code");
        };
        let mut response = Response::new(Full::new(Bytes::from(r.body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(cc) = &self.settings.cache_control
            && let Ok(value) = HeaderValue::from_str(cc)
        {
            headers.insert(CACHE_CONTROL, value);
        }
        response_headers(r.header, headers);
        response
    }
}

/// Request headers for the actor: lower-case names, every ASCII value (others skipped).
fn request_headers(headers: &HeaderMap) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            out.entry(name.as_str().to_owned()).or_default().push(v.to_owned());
        }
    }
    out
}

/// Copy the actor's headers; a name it sets replaces any default (e.g. `cache-control`).
fn response_headers(from: HashMap<String, Vec<String>>, into: &mut HeaderMap) {
    for (name, values) in from {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            tracing::debug!(header = %name, "skipping an invalid response header name");
            continue;
        };
        into.remove(&name);
        for v in values {
            match HeaderValue::try_from(v) {
                Ok(v) => {
                    into.append(&name, v);
                }
                Err(_) => tracing::debug!(header = %name, "skipping an invalid response header value"),
            }
        }
    }
}

/// A short plain-text response.
fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
