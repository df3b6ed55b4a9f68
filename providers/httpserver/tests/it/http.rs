//! A minimal HTTP/1.1 client over one TCP connection (hyper's client half).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send<B>(addr: SocketAddr, req: hyper::Request<B>) -> Reply
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    let driver = tokio::spawn(conn);
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    drop(sender);
    let _ = driver.await;
    Reply { status, headers, body }
}

/// One request with a `Content-Length` body.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut b = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(addr, b.body(Full::new(Bytes::copy_from_slice(body))).unwrap()).await
}

/// A POST whose body is sent chunked (no `Content-Length`).
pub(crate) async fn request_chunked(addr: SocketAddr, path: &str, chunks: &[&[u8]]) -> Reply {
    let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
        chunks.iter().map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
    let body = StreamBody::new(futures_stream(frames));
    let req = hyper::Request::builder().method("POST").uri(path).header("host", addr.to_string()).body(body).unwrap();
    send(addr, req).await
}

fn futures_stream<T>(items: Vec<T>) -> impl futures::Stream<Item = T> {
    futures::stream::iter(items)
}
