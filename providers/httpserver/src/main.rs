//! `lattice-httpserver`: the `wasmcloud:httpserver` capability provider.
//!
//! Launched by a host (wasmCloud 0.82 or Lattice) with HostData on stdin. For every actor
//! linked to it, it listens on the address the link's values name ([`settings`]; default
//! `127.0.0.1:8000`) and turns each HTTP request into an `HttpServer.HandleRequest`
//! invocation to that actor ([`wire`], [`listener`]). Removing the link closes the
//! listener. Link values it cannot use (an unparseable address, a port already taken) are
//! logged and the link is refused.

mod listener;
mod provider;
mod settings;
use lattice_httpserver::wire;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider::run(provider::HttpServerProvider::default()).await
}
