//! Test support for Lattice: real `nats-server` processes, started and torn down per test,
//! a real OCI registry (`docker-registry`, [`Registry`]) and, with the `otlp` feature, an
//! in-test OTLP/HTTP trace receiver (`OtlpReceiver`).
//!
//! Lattice is an RPC layer over NATS, so its tests run against the real server rather than a
//! mock: subject routing, queue groups, JetStream and clustering behave exactly as in
//! production. This crate is a dev-dependency only; by default it keeps its dependencies to
//! `std` and `tempfile` so that it builds in seconds and works from sync and async tests
//! alike (the optional features add what their helper needs: bcrypt, or hyper and the OTLP
//! message types).
//!
//! Every helper follows the workspace rule *readiness, not sleeps* (ARCHITECTURE.md):
//!
//! * a server picks its own loopback port (`-p -1 --ports_file_dir DIR`) and we read the port
//!   from the ports file it writes; a port is never bound, released and handed on;
//! * a server counts as started only once it has answered `PING` with `PONG` on a client
//!   connection; a cluster only once every node reports its routes on `/routez`;
//! * all waiting is polling against a deadline ([`wait_until`], [`wait_for`]) and fails the test
//!   loudly with what was being waited for, plus the server's own log.
//!
//! A missing `nats-server` binary is a test failure, never a skip: see [`nats_server_binary`].
//!
//! ```
//! use std::time::Duration;
//! use lattice_test_support::{NatsServer, RawClient};
//!
//! let server = NatsServer::start(); // point the code under test at `server.url()`
//! let mut client = RawClient::connect(server.port()).expect("connect");
//! client.subscribe("greeting").expect("subscribe");
//! client.flush().expect("flush"); // the subscription is registered: publish now
//! client.publish("greeting", "hello").expect("publish");
//! let msg = client.next_msg(Duration::from_secs(5)).expect("read").expect("a message");
//! assert_eq!(msg.payload, b"hello");
//! ```

use std::time::{Duration, Instant};

mod binary;
mod cluster;
mod monitor;
#[cfg(feature = "otlp")]
mod otlp;
mod registry;
mod server;
mod wire;

pub use binary::{NATS_SERVER_ENV, nats_server_binary};
pub use cluster::{ClusterOptions, NatsCluster};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpReceiver, ReceivedSpan, SPAN_KIND_CLIENT, SPAN_KIND_SERVER};
pub use registry::{REGISTRY_ENV, Registry, RegistryOptions, closed_port, registry_binary};
pub use server::{NatsServer, ServerOptions};
pub use wire::{DEFAULT_CONNECT, Msg, RawClient};

/// Longest pause between two polls of [`wait_until`] / [`wait_for`].
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `f` until it returns `true`, panicking with `what` if `timeout` passes first.
///
/// Polls start 1 ms apart and back off to 20 ms, so a condition that becomes true quickly
/// is noticed quickly. Use it for readiness ("the host has registered"), never to stand in
/// for an expectation that has an event to wait on.
///
/// # Panics
/// If `f` has not returned `true` within `timeout`: `timed out after {timeout:?} waiting for {what}`.
pub fn wait_until<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    wait_for(what, timeout, || f().then_some(()));
}

/// Polls `f` until it returns `Some(value)` and returns that value, panicking with `what` if
/// `timeout` passes first. The value-returning sibling of [`wait_until`].
///
/// # Panics
/// If `f` has not returned `Some` within `timeout`: `timed out after {timeout:?} waiting for {what}`.
pub fn wait_for<T, F: FnMut() -> Option<T>>(what: &str, timeout: Duration, f: F) -> T {
    poll(Instant::now() + timeout, f).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Polls `f` with a short back-off until it returns `Some`, or returns `None` once `deadline`
/// has passed. `f` is always called at least once, and once more at the deadline.
pub(crate) fn poll<T>(deadline: Instant, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut interval = Duration::from_millis(1);
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(interval.min(deadline - now));
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_returns_the_first_value() {
        let mut calls = 0;
        let got = wait_for("the third call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 30ms waiting for the impossible")]
    fn wait_until_panics_with_what() {
        wait_until("the impossible", Duration::from_millis(30), || false);
    }
}
