//! [`OtlpReceiver`]: an in-test OpenTelemetry collector — OTLP/HTTP with protobuf bodies,
//! the way wasmCloud 0.82 and Lattice export traces — that keeps every span it is sent.
//!
//! Point an exporter at [`OtlpReceiver::endpoint`] (a base URL: exporters append
//! `/v1/traces`, as `OTEL_EXPORTER_OTLP_ENDPOINT` is treated), then wait for the spans with
//! [`OtlpReceiver::wait_for`]. Bodies are decoded with the `opentelemetry-proto` message
//! types (prost), not by hand, and served by hyper on its own thread and runtime, so sync
//! and async tests use it alike. Requests it cannot take (another path, a body that is not
//! an `ExportTraceServiceRequest`, over 16 MiB) are answered 400 and recorded in
//! [`OtlpReceiver::errors`], which `wait_for` prints when it gives up.
//!
//! Behind the `otlp` feature (dev-dependencies of the product's trace tests and of the
//! interop suite).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// OTLP span kind of a server span (`SPAN_KIND_SERVER`).
pub const SPAN_KIND_SERVER: i32 = 2;
/// OTLP span kind of a client span (`SPAN_KIND_CLIENT`).
pub const SPAN_KIND_CLIENT: i32 = 3;

/// The largest export body accepted.
const MAX_BODY: usize = 16 << 20;

/// One span as the receiver got it (ids in lowercase hex, as W3C `traceparent` spells them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The exporting process's `service.name` resource attribute.
    pub service: String,
    /// The span name.
    pub name: String,
    /// The OTLP span kind ([`SPAN_KIND_SERVER`], [`SPAN_KIND_CLIENT`], …).
    pub kind: i32,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent's span id, 16 hex digits; empty for a root span.
    pub parent: String,
    /// Attributes, each value as text.
    pub attributes: HashMap<String, String>,
}

impl ReceivedSpan {
    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent.is_empty() || self.parent.chars().all(|c| c == '0')
    }
}

#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ReceivedSpan>>,
    errors: Mutex<Vec<String>>,
}

/// An OTLP/HTTP trace receiver on `127.0.0.1`, stopped when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Received>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpReceiver").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl OtlpReceiver {
    /// Bind a free loopback port and start serving.
    ///
    /// # Panics
    /// If no runtime or socket can be had (the test cannot run).
    pub fn start() -> Self {
        // Bound here (std), served on the receiver's own thread and runtime: `start` works
        // from sync code and from inside another runtime alike.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the OTLP receiver on 127.0.0.1:0");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the receiver's address");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let received = Arc::new(Received::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = received.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, shared, stopped).await,
                        Err(e) => {
                            if let Ok(mut errors) = shared.errors.lock() {
                                errors.push(format!("the listener: {e}"));
                            }
                        }
                    }
                });
            })
            .expect("spawning the OTLP receiver thread");
        Self { addr, received, stop: Some(stop), thread: Some(thread) }
    }

    /// The base URL to give an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`, `--otel-exporter-otlp-endpoint`,
    /// HostData's `otel_config.exporter_otlp_endpoint`): `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Requests refused so far (wrong path, undecodable body), one line each.
    pub fn errors(&self) -> Vec<String> {
        self.received.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Poll the spans until `f` finds what it wants, or panic after `timeout` with `what`,
    /// the spans received and the refused requests.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut(&[ReceivedSpan]) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if let Some(found) = f(&spans) {
                return found;
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; spans received: {spans:#?}; refused requests: {:?}",
                    self.errors()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    received: Arc<Received>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let received = received.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let received = received.clone();
                async move { Ok::<_, Infallible>(export(req, &received).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Take one `POST /v1/traces`.
async fn export(req: Request<hyper::body::Incoming>, received: &Received) -> Response<Full<Bytes>> {
    let refuse = |why: String| {
        if let Ok(mut errors) = received.errors.lock() {
            errors.push(why.clone());
        }
        let mut response = Response::new(Full::new(Bytes::from(why)));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    };
    if req.uri().path() != "/v1/traces" {
        return refuse(format!("{} {}: not /v1/traces", req.method(), req.uri()));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return refuse(format!("reading the body: {e}")),
    };
    let export = match ExportTraceServiceRequest::decode(body) {
        Ok(export) => export,
        Err(e) => return refuse(format!("not an ExportTraceServiceRequest: {e}")),
    };
    let mut spans = Vec::new();
    for rs in export.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(a.value.as_ref()))
            .unwrap_or_default();
        for s in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(ReceivedSpan {
                service: service.clone(),
                name: s.name,
                kind: s.kind,
                trace_id: hex(&s.trace_id),
                span_id: hex(&s.span_id),
                parent: hex(&s.parent_span_id),
                attributes: s.attributes.iter().map(|a| (a.key.clone(), text(a.value.as_ref()))).collect(),
            });
        }
    }
    if let Ok(mut all) = received.spans.lock() {
        all.extend(spans);
    }
    Response::new(Full::new(Bytes::from(ExportTraceServiceResponse::default().encode_to_vec())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}
