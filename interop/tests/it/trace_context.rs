//! Issue 19: a trace started on the wasmCloud 0.82 side continues in Lattice.
//!
//! The caller makes its trace context exactly as a 0.82 host or provider does: inside the
//! caller's span (an OpenTelemetry 0.21 tracer under tracing-opentelemetry 0.22, 0.82's
//! stack), `wasmcloud_tracing::context::TraceContextInjector::default_with_span()` — the
//! REAL 0.82-era crate — fills the W3C `traceparent`, which goes into the invocation built and
//! signed by the REAL `wasmcloud_core::Invocation::new` (field `traceContext`) and into the
//! NATS headers (the host's `injector_to_headers`), sent with async-nats 0.33. The receiver
//! is `lattice-kv`, launched as a 0.82 host launches a provider, its exporter configured only
//! by the `otel_config` of a HostData built with the real struct. An in-test OTLP/HTTP
//! receiver (lattice-test-support's `OtlpReceiver`) must get lattice-kv's server span for
//! the call **in the same trace, as a child of the 0.82 span**. A second call carries the
//! context in the `traceparent` header only (empty `traceContext`): Lattice falls back to the
//! header and continues that trace too.

use std::time::Duration;

use async_nats::HeaderMap;
use lattice_test_support::{NatsServer, OtlpReceiver, ReceivedSpan, SPAN_KIND_SERVER};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use wasmcloud_core::{
    HostData, Invocation, InvocationResponse, LinkDefinition, OtelConfig, TraceContext, WasmCloudEntity,
};
use wasmcloud_tracing::context::TraceContextInjector;

use crate::support;

/// A trace context as a 0.82 sender makes it, with the ids of the span it names.
struct Made {
    trace_context: TraceContext,
    headers: HeaderMap,
    trace_id: String,
    span_id: String,
}

/// 0.82's tracing stack in a caller: an OpenTelemetry 0.21 tracer (sampling everything; no
/// exporter: what matters here is the context it hands on) under tracing-opentelemetry 0.22.
fn tracing_0_82() -> (tracing::Dispatch, opentelemetry_sdk::trace::TracerProvider) {
    let provider = opentelemetry_sdk::trace::TracerProvider::builder()
        .with_config(opentelemetry_sdk::trace::config().with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn))
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("wasmcloud-host"));
    (tracing::Dispatch::new(tracing_subscriber::registry().with(layer)), provider)
}

/// Inside a fresh caller span, the context 0.82 sends: `TraceContextInjector::default_with_span()`
/// for the invocation's `traceContext`, and the same pairs as NATS headers.
fn made_by_0_82(dispatch: &tracing::Dispatch) -> Made {
    tracing::dispatcher::with_default(dispatch, || {
        let span = tracing::info_span!("call_operation_with_payload");
        let _entered = span.enter();
        let injector = TraceContextInjector::default_with_span();
        let mut headers = HeaderMap::new();
        for (k, v) in injector.iter() {
            headers.insert(k.as_str(), v.as_str());
        }
        let cx = span.context();
        let ids = cx.span().span_context().clone();
        assert!(ids.is_valid(), "the 0.82 stack made no valid span context");
        let trace_context: TraceContext = injector.into();
        assert!(
            trace_context.iter().any(|(k, v)| k == "traceparent" && v.contains(&ids.trace_id().to_string())),
            "no traceparent in {trace_context:?}"
        );
        Made { trace_context, headers, trace_id: ids.trace_id().to_string(), span_id: ids.span_id().to_string() }
    })
}

fn lattice_kv_span<'a>(spans: &'a [ReceivedSpan], trace_id: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| s.trace_id == trace_id && s.service == "lattice-kv" && s.kind == SPAN_KIND_SERVER)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_82_trace_context_is_continued_by_a_lattice_provider() {
    let receiver = OtlpReceiver::start();
    let nats = NatsServer::start();
    let nc = support::connect(&nats.url()).await;
    let cluster = nkeys::KeyPair::new_cluster();
    let host = nkeys::KeyPair::new_server();
    let provider = nkeys::KeyPair::new_service().public_key();
    let actor = nkeys::KeyPair::new_module().public_key();
    let link = LinkDefinition {
        actor_id: actor.clone(),
        provider_id: provider.clone(),
        link_name: "default".into(),
        contract_id: "wasmcloud:keyvalue".into(),
        values: vec![("bucket".to_owned(), "interop_trace".to_owned())],
    };
    // The exporter settings reach the provider only through 0.82's HostData field (the
    // launch clears the environment, as a 0.82 host does).
    let host_data = HostData {
        host_id: host.public_key(),
        lattice_rpc_prefix: "default".into(),
        link_name: "default".into(),
        lattice_rpc_url: nats.url(),
        provider_key: provider.clone(),
        invocation_seed: cluster.seed().unwrap(),
        instance_id: "4f2c1a0e-0000-4000-8000-000000000019".into(),
        link_definitions: vec![link],
        cluster_issuers: vec![cluster.public_key()],
        default_rpc_timeout_ms: Some(2000),
        otel_config: OtelConfig {
            traces_exporter: Some("otlp".into()),
            exporter_otlp_endpoint: Some(receiver.endpoint()),
        },
        ..Default::default()
    };
    let mut proc = support::launch_provider(
        "lattice-kv",
        &support::product_bin("lattice-kv"),
        &support::host_data_line(&host_data),
    );
    support::wait_for_responder(&nc, &format!("wasmbus.rpc.default.{provider}.default.health")).await;

    let (dispatch, _tracer) = tracing_0_82();
    let subject = format!("wasmbus.rpc.default.{provider}.default");
    let target = WasmCloudEntity {
        public_key: provider.clone(),
        link_name: "default".into(),
        contract_id: "wasmcloud:keyvalue".into(),
    };
    let origin = WasmCloudEntity { public_key: actor.clone(), ..Default::default() };
    let send = |trace_context: TraceContext, headers: HeaderMap| {
        let inv = Invocation::new(
            &cluster,
            &host,
            origin.clone(),
            target.clone(),
            "wasmcloud:keyvalue/KeyValue.Get",
            rmp_serde::to_vec_named("k").unwrap(),
            trace_context,
        )
        .unwrap();
        let (nc, subject) = (nc.clone(), subject.clone());
        async move {
            let bytes = rmp_serde::to_vec_named(&inv).unwrap();
            let reply =
                tokio::time::timeout(Duration::from_secs(10), nc.request_with_headers(subject, headers, bytes.into()))
                    .await
                    .expect("lattice-kv answers")
                    .unwrap();
            let resp: InvocationResponse = rmp_serde::from_slice(&reply.payload).unwrap();
            assert_eq!(resp.error, None, "{resp:?}");
        }
    };

    // 1. As a 0.82 host sends it: `traceContext` and the headers.
    let both = made_by_0_82(&dispatch);
    send(both.trace_context.clone(), both.headers.clone()).await;
    // 2. Header only (empty `traceContext`): the receiver's fallback.
    let header_only = made_by_0_82(&dispatch);
    assert_ne!(header_only.trace_id, both.trace_id);
    send(TraceContext::default(), header_only.headers.clone()).await;

    // The provider's batch exporter sends within its schedule delay (5 s by default: the
    // launch gives it no environment); wait for both server spans while it runs.
    for (what, made) in [("traceContext", &both), ("traceparent header", &header_only)] {
        let span = receiver.wait_for(
            &format!("lattice-kv's server span in the 0.82 trace {} ({what})", made.trace_id),
            Duration::from_secs(60),
            |spans| lattice_kv_span(spans, &made.trace_id).cloned(),
        );
        assert_eq!(span.parent, made.span_id, "{what}: not a child of the 0.82 span: {span:?}");
        assert_eq!(span.name, "KeyValue.Get", "{span:?}");
        assert_eq!(span.attributes.get("operation").map(String::as_str), Some("KeyValue.Get"), "{span:?}");
        assert_eq!(span.attributes.get("outcome").map(String::as_str), Some("ok"), "{span:?}");
        assert_eq!(span.attributes.get("origin").map(String::as_str), Some(actor.as_str()), "{span:?}");
    }
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());

    let reply = nc
        .request(
            format!("wasmbus.rpc.default.{provider}.default.shutdown"),
            serde_json::to_vec(&serde_json::json!({"host_id": host.public_key()})).unwrap().into(),
        )
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"shutting down");
    assert!(proc.wait_exit().await.success());
}
