//! The HTTP side: one page, its two assets, a JSON snapshot and the live feed (SSE).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (`assets/index.html`) |
//! | `GET /app.js`, `GET /app.css` | its script and style, embedded in the binary |
//! | `GET /api/state` | the whole current view as one feed message (`reset: true`) |
//! | `GET /api/feed` | `text/event-stream`: that snapshot, then a delta per tick |
//!
//! The assets are compiled in with `include_str!`: the binary serves the page from
//! anywhere, with no build step and nothing fetched from elsewhere (the Content Security
//! Policy allows only this origin). The dashboard is read-only, so there is nothing to
//! forge a request for; to keep a web page the user visits from reading it through DNS
//! rebinding, requests must name the server by an IP address or `localhost` in `Host`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;

use crate::Shared;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The routes, over the shared state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/api/state", get(state))
        .route("/api/feed", get(feed))
        .layer(middleware::from_fn(guard))
        .with_state(shared)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Refuse a `Host` that is not an IP address or `localhost`; add the security headers.
async fn guard(request: Request, next: Next) -> Response {
    let host_ok = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).is_some_and(host_allowed);
    if !host_ok {
        return (StatusCode::MISDIRECTED_REQUEST, "this dashboard answers to an IP address or localhost only\n")
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `Host` names an IP literal (`127.0.0.1:3030`, `[::1]:3030`) or `localhost`.
pub(crate) fn host_allowed(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let body = shared.latest();
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn feed(State(shared): State<Arc<Shared>>) -> Response {
    let Some(rx) = shared.feed.subscribe(shared.latest()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many dashboards are open\n").into_response();
    };
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        Some((Ok::<_, Infallible>(Event::default().data(&*msg)), rx))
    });
    sse(stream).into_response()
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(stream: S) -> impl IntoResponse {
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ip_literals_and_localhost_are_served() {
        for ok in ["127.0.0.1:3030", "127.0.0.1", "[::1]:3030", "localhost:3030", "LOCALHOST", "10.1.2.3:80"] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example:3030", "evil.example", "", "[evil]:1", "127.0.0.1.evil.example:3030"] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }
}
