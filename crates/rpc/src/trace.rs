//! W3C trace context across the lattice, the way wasmCloud 0.82 carries it.
//!
//! A 0.82 sender puts the caller's span context in two places: the invocation's
//! `traceContext` map (keys `traceparent` and, when non-empty, `tracestate`) and the NATS
//! message headers (the same keys). A 0.82 receiver reads `traceContext`. Lattice does both
//! on send ([`inject`]) and on receipt reads `traceContext` first and falls back to the
//! `traceparent` header ([`extract`]), so a trace started by either side continues across
//! the other.
//!
//! This is the only place the RPC layer touches OpenTelemetry. Everything here is behind
//! one switch, [`enable`], which a program turns on when it installs an OpenTelemetry
//! tracing layer (`lattice-telemetry` does). Off (the default) nothing is injected or
//! extracted and the call path costs one relaxed atomic load — the `rpc.call` /
//! `rpc.handle` spans stay disabled debug spans that the `tracing` macros skip.
//!
//! Values come from the network: a `traceparent` or `tracestate` longer than
//! [`MAX_VALUE_LEN`] is ignored (W3C caps `tracestate` at 512 characters; `traceparent`
//! is 55), and the W3C propagator parses the rest strictly.

use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::HeaderMap;
use lattice_proto::WitMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header (and `traceContext` key) carrying trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C header (and `traceContext` key) carrying vendor trace state.
pub const TRACESTATE: &str = "tracestate";

/// The longest `traceparent` / `tracestate` value read from the network, in bytes.
pub const MAX_VALUE_LEN: usize = 512;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn trace-context propagation on for this process. Call it once an OpenTelemetry
/// tracing layer is installed; without one the spans carry no OpenTelemetry context and
/// there is nothing to propagate.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether propagation is on ([`enable`]).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Writes into an invocation's `traceContext` and the message headers at once.
struct Both<'a> {
    map: &'a mut WitMap,
    headers: &'a mut HeaderMap,
}

impl Injector for Both<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.headers.insert(key, value.as_str());
        self.map.insert(key, value);
    }
}

/// Put the current span's context (the caller's `rpc.call` span) into `trace_context` and
/// `headers`. Does nothing when propagation is off or the current span has no valid
/// OpenTelemetry context.
pub fn inject(trace_context: &mut WitMap, headers: &mut HeaderMap) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let cx = span.context();
    if !opentelemetry::trace::TraceContextExt::span(&cx).span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&cx, &mut Both { map: trace_context, headers });
}

/// Reads the invocation's `traceContext`, bounded.
struct FromMap<'a>(&'a WitMap);

impl Extractor for FromMap<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).filter(|v| v.len() <= MAX_VALUE_LEN)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Reads the NATS headers, bounded.
struct FromHeaders<'a>(&'a HeaderMap);

impl Extractor for FromHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str()).filter(|v| v.len() <= MAX_VALUE_LEN)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Make `span` (a server's `rpc.handle`) a child of the caller's context: the
/// invocation's `traceContext`, else the `traceparent` header. Nothing happens when
/// propagation is off, the span is disabled, or neither carries a valid context (the
/// span then starts a new trace).
pub fn extract(span: &Span, trace_context: &WitMap, headers: Option<&HeaderMap>) {
    if !enabled() || span.is_disabled() {
        return;
    }
    let propagator = TraceContextPropagator::new();
    let valid = |cx: &opentelemetry::Context| opentelemetry::trace::TraceContextExt::span(cx).span_context().is_valid();
    let mut cx = propagator.extract(&FromMap(trace_context));
    if !valid(&cx)
        && let Some(headers) = headers
    {
        cx = propagator.extract(&FromHeaders(headers));
    }
    if valid(&cx) {
        // Fails only when the span is not recorded by an OpenTelemetry layer.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn extractors_bound_values() {
        let mut map = WitMap::new();
        map.insert(TRACEPARENT, PARENT);
        map.insert(TRACESTATE, "x".repeat(MAX_VALUE_LEN + 1));
        let e = FromMap(&map);
        assert_eq!(e.get(TRACEPARENT), Some(PARENT));
        assert_eq!(e.get(TRACESTATE), None);
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, PARENT);
        assert_eq!(FromHeaders(&headers).get(TRACEPARENT), Some(PARENT));
    }

    #[test]
    fn propagator_reads_0_82_traceparent() {
        let mut map = WitMap::new();
        map.insert(TRACEPARENT, PARENT);
        let cx = TraceContextPropagator::new().extract(&FromMap(&map));
        let span = opentelemetry::trace::TraceContextExt::span(&cx);
        assert!(span.span_context().is_valid());
        assert_eq!(span.span_context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        // Garbage is no context, never a panic.
        let mut bad = WitMap::new();
        bad.insert(TRACEPARENT, "00-zz-yy-01");
        let cx = TraceContextPropagator::new().extract(&FromMap(&bad));
        assert!(!opentelemetry::trace::TraceContextExt::span(&cx).span_context().is_valid());
    }

    #[test]
    fn off_by_default_injects_nothing() {
        let mut map = WitMap::new();
        let mut headers = HeaderMap::new();
        inject(&mut map, &mut headers);
        assert!(map.is_empty());
        assert!(headers.iter().next().is_none());
    }
}
