//! # lattice-control — the wasmCloud 0.82 control plane, typed
//!
//! How operators and tools drive a lattice: the `wasmbus.ctl.{lattice}.…` request/reply
//! subjects with their JSON bodies and acks, the `wasmbus.evt.{lattice}` CloudEvents, and
//! the lattice-data KV layout, all as 0.82 hosts and the `wasmcloud-control-interface` 0.33
//! client put them on the wire (HOST.md §3–4, checked against
//! `vectors/host082/transcript.jsonl`). Independent of the host runtime: the host uses the
//! server half (parse a subject, decode a body, build an ack or an event), the CLI and the
//! tests use [`CtlClient`].
//!
//! Read these first:
//! - [`subjects`] — every subject and queue group, and [`CtlRequest::parse`], which turns an
//!   incoming subject into a request (an unknown one into [`CtlRequest::Unsupported`]).
//! - [`types`] — the bodies; [`decode_body`] decodes a request strictly (Lattice refuses
//!   what 0.82 silently defaulted, e.g. a scale body of `[]`), [`CtlOperationAck`] is the
//!   answer to every command (`{"accepted":true,"error":""}` byte for byte).
//! - [`events`] — [`CloudEvent`] and [`LatticeEvent`]: the envelope and the typed data of
//!   every event 0.82 emits.
//! - [`storage`] — `LATTICEDATA_{lattice}` keys (`LINKDEF_{sha256}`, `CLAIMS_{pk}`) and records.
//! - [`client`] — [`CtlClient`] over the control connection, with [`ControlError`].
//!
//! - [`stored_links`] — reads one `LINKDEF_…` entry back from the stream leader, so a
//!   provider (or the monitor) can tell a host's link put from a forged one.
//!
//! What this crate refuses to do: read the clock or make ids (event time and id are
//! arguments), or write the KV bucket (the host owns it; [`stored_links`] only reads).

pub mod client;
pub mod error;
pub mod events;
pub mod storage;
pub mod stored_links;
pub mod subjects;
pub mod types;

pub use client::{CtlClient, CtlClientBuilder, EventStream};
pub use error::{ControlError, RuleError};
pub use events::{CloudEvent, EventName, LatticeEvent, Timestamp};
pub use subjects::CtlRequest;
pub use types::{CtlBody, CtlOperationAck, decode_body};
