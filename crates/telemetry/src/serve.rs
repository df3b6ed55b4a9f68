//! The one tiny HTTP server for Prometheus: `GET /metrics` answers what a render function
//! returns (OpenMetrics text), `GET /healthz` whether the process is healthy (200 `ok`, or
//! 503 with the reason — for liveness probes and load balancers), `GET /` a pointer to
//! them, anything else 404. Used by the monitor, the host (`lattice up --metrics-addr`)
//! and providers built on the SDK.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Produces the exposition text at each scrape.
pub type Render = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// A health check's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// Served as 200 when true, 503 when false.
    pub healthy: bool,
    /// One line for people (the body of the reply).
    pub detail: String,
}

/// Decides `GET /healthz` at each request.
pub type Health = Arc<dyn Fn() -> HealthReport + Send + Sync>;

/// A [`Render`] from a synchronous function.
pub fn render_sync(f: impl Fn() -> String + Send + Sync + 'static) -> Render {
    Arc::new(move || {
        let text = f();
        Box::pin(async move { text })
    })
}

/// Bind `addr` for [`serve`], returning the listener and the address it really got (a
/// port of 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serve `GET /metrics` on `listener` until `shutdown` is cancelled; `what` names the
/// process on `GET /`; `/healthz` answers 200 while the process serves.
pub async fn serve(listener: TcpListener, what: &'static str, render: Render, shutdown: CancellationToken) {
    serve_with_health(listener, what, render, None, shutdown).await;
}

/// [`serve`], with `/healthz` decided by `health` (200 or 503 with its detail).
pub async fn serve_with_health(
    listener: TcpListener,
    what: &'static str,
    render: Render,
    health: Option<Health>,
    shutdown: CancellationToken,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            },
        };
        let (render, health) = (render.clone(), health.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let (render, health) = (render.clone(), health.clone());
                async move { Ok::<_, Infallible>(respond(&req, what, &render, health.as_ref()).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "metrics connection"); },
                () = shutdown.cancelled() => {}
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

async fn respond(
    req: &Request<Incoming>,
    what: &str,
    render: &Render,
    health: Option<&Health>,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, CONTENT_TYPE, render().await),
        (&Method::GET, "/healthz") => {
            let report = health.map_or(HealthReport { healthy: true, detail: "ok".into() }, |h| h());
            let status = if report.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            (status, "text/plain", format!("{}\n", report.detail))
        }
        (&Method::GET, "/") => (StatusCode::OK, "text/plain", format!("{what}: see /metrics and /healthz\n")),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found: try GET /metrics\n".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn healthz_follows_the_health_function() {
        let (listener, addr) = bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
        let up = Arc::new(AtomicBool::new(true));
        let seen = up.clone();
        let health: Health = Arc::new(move || {
            let healthy = seen.load(Ordering::SeqCst);
            HealthReport { healthy, detail: if healthy { "ok".into() } else { "rpc DOWN for 1.0 s".into() } }
        });
        let stop = CancellationToken::new();
        let server =
            tokio::spawn(serve_with_health(listener, "test", render_sync(String::new), Some(health), stop.clone()));

        let ok = get(addr, "/healthz").await;
        assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("\r\n\r\nok\n"), "{ok}");
        up.store(false, Ordering::SeqCst);
        let down = get(addr, "/healthz").await;
        assert!(down.starts_with("HTTP/1.1 503") && down.ends_with("rpc DOWN for 1.0 s\n"), "{down}");
        stop.cancel();
        server.await.expect("server stops");
    }
}
