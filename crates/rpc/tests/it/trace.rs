//! Trace context across the RPC plane (`lattice_rpc::trace`), with a real OpenTelemetry
//! layer installed in this test process: a server continues the trace named by an
//! invocation's `traceContext` (the 0.82 field and `traceparent` value format), falls back
//! to the NATS `traceparent` header, and a Lattice client's call carries its span's
//! context to the server.

use futures::StreamExt;
use lattice_proto::InvocationResponse;
use lattice_rpc::{Served, handler_fn};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::*;

/// A span context as a 0.82 sender writes it (W3C `traceparent`).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

/// Install an OpenTelemetry tracing layer (no exporter: spans get ids, nothing is sent)
/// and turn propagation on. Each test runs in its own process under nextest; under
/// `cargo test` a second install is a no-op.
fn install() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    lattice_rpc::trace::enable();
}

/// The trace id of the span the handler runs in.
fn trace_of_current_span() -> String {
    let span = tracing::Span::current();
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    format!("{}", sc.trace_id())
}

async fn start(env: &Env) -> (lattice_proto::ActorKey, lattice_rpc::ServerHandle) {
    let b = actor_key();
    let handler = handler_fn(|_req| async move { Ok(trace_of_current_span().into_bytes()) });
    let server = env.serve(Served::Actor(b.clone()), handler).await;
    (b, server)
}

async fn request(
    nats: &async_nats::Client,
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
) -> InvocationResponse {
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply_and_headers(subject, inbox, headers, payload.into()).await.unwrap();
    let msg = sub.next().await.unwrap();
    InvocationResponse::decode(&msg.payload).unwrap()
}

#[tokio::test]
async fn a_0_82_trace_context_is_continued() {
    install();
    let env = Env::start();
    let (b, _server) = start(&env).await;
    let raw = env.connect().await;
    let subject = format!("wasmbus.rpc.default.{b}");

    // traceContext, as a 0.82 sender fills it.
    let mut inv = env.sign(actor(&actor_key()), actor(&b), "Echo.Say", b"hi");
    inv.trace_context.insert("traceparent", traceparent());
    let resp = request(&raw, subject.clone(), async_nats::HeaderMap::new(), inv.encode()).await;
    assert_eq!(resp.error, None);
    assert_eq!(String::from_utf8(resp.msg).unwrap(), TRACE_ID);

    // Only the `traceparent` header (a sender that fills no traceContext).
    let inv = env.sign(actor(&actor_key()), actor(&b), "Echo.Say", b"hi");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", traceparent().as_str());
    let resp = request(&raw, subject.clone(), headers, inv.encode()).await;
    assert_eq!(String::from_utf8(resp.msg).unwrap(), TRACE_ID);

    // Garbage: a new trace, never a failure.
    let mut inv = env.sign(actor(&actor_key()), actor(&b), "Echo.Say", b"hi");
    inv.trace_context.insert("traceparent", "00-not-a-trace-01");
    let resp = request(&raw, subject, async_nats::HeaderMap::new(), inv.encode()).await;
    assert_eq!(resp.error, None);
    let fresh = String::from_utf8(resp.msg).unwrap();
    assert_ne!(fresh, TRACE_ID);
    assert_eq!(fresh.len(), 32);
}

#[tokio::test]
async fn a_lattice_call_carries_its_span_context() {
    install();
    let env = Env::start();
    let (b, _server) = start(&env).await;
    let client = env.client().await;
    let span = tracing::info_span!("test.root");
    let root_trace = span.context().span().span_context().trace_id().to_string();
    let got = client.call(actor(&actor_key()), actor(&b), "Echo.Say", b"hi".to_vec()).instrument(span).await.unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), root_trace);
}
