//! The one tiny HTTP server for Prometheus: `GET /metrics` answers what a render function
//! returns (OpenMetrics text), `GET /` a pointer to it, anything else 404. Used by the
//! monitor, the host (`lattice up --metrics-addr`) and providers built on the SDK.

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
/// process on `GET /`.
pub async fn serve(listener: TcpListener, what: &'static str, render: Render, shutdown: CancellationToken) {
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
        let render = render.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let render = render.clone();
                async move { Ok::<_, Infallible>(respond(&req, what, &render).await) }
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

async fn respond(req: &Request<Incoming>, what: &str, render: &Render) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, CONTENT_TYPE, render().await),
        (&Method::GET, "/") => (StatusCode::OK, "text/plain", format!("{what}: see /metrics\n")),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found: try GET /metrics\n".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
