//! # lattice-monitor — see every forged invocation on a lattice, and spy on one entity
//!
//! The security promise of Lattice RPC is that only holders of the cluster seed can make
//! a receiver act. This crate makes that promise *visible*, from the outside, with read-only
//! NATS subscriptions and nothing but the trusted issuers' public keys:
//!
//! - [`Monitor`] ([`monitor`]) classifies every invocation on `wasmbus.rpc.{lattice}.>` as
//!   valid or as one [`Verdict`] kind per failed check (forged signature, unknown issuer,
//!   hash mismatch, re-targeted, expired, stale, replayed, …), raises an [`Alert`] for each
//!   non-valid one (reported to the owner and published on an alert subject), and keeps
//!   Prometheus [`Metrics`] (verdicts, call rates, response latency and errors per operation,
//!   slow-consumer events).
//! - [`Spy`] ([`spy`]) shows the invocations to and from one actor or provider and their
//!   responses, decoded, like `wash spy` did.
//!
//! Read [`classify`] first: the verdict is a pure function of the subject, the bytes, the
//! clock and the replay memory, tested without NATS. The async parts only feed it.
//!
//! What this crate refuses to do: hold or ask for the cluster seed; join a queue group
//! (it would steal calls from the receivers); block its NATS read loop on cryptography;
//! drop messages silently (a slow consumer is reported and counted).

pub mod alert;
pub mod classify;
pub mod error;
#[cfg(any(test, feature = "forge"))]
pub mod forge;
pub mod metrics;
pub mod monitor;
pub mod nats;
pub mod pairing;
mod queue;
pub mod reply;
pub mod sidedoor;
pub mod spy;

pub use alert::{Alert, default_alert_subject, rfc3339, terminal_safe};
pub use classify::{CallInfo, Verdict, classify, classify_batch, classify_decoded};
pub use error::MonitorError;
pub use metrics::Metrics;
pub use monitor::{Monitor, MonitorBuilder, MonitorHandle, Report};
pub use nats::{Clock, FixedClock, NatsEvents, SystemClock, connect};
pub use reply::{DEFAULT_REPLY_PREFIX, ReplyPrefix, ReplyPrefixes};
pub use sidedoor::SideDoorKind;
pub use spy::{Spy, SpyEvent, SpyHandle};
