//! [`EventPublisher`]: lattice events on the control connection, as 0.82 publishes them.
//!
//! Every event goes out twice with the same bytes: on `wasmbus.evt.{lattice}` (the general
//! subject, deprecated in 0.82 but still published and still read by older tools) and on
//! `wasmbus.evt.{lattice}.{name}`. The envelope is [`CloudEvent`] (lattice-control builds
//! the bytes); this module adds what the pure crate refuses to: the clock and the id.
//!
//! Ids are UUIDs laid out like 0.82's (a ULID converted to a UUID): the first 48 bits are
//! the milliseconds since the Unix epoch, the rest random, so ids sort by time
//! ([`event_id`]).

use std::time::{SystemTime, UNIX_EPOCH};

use lattice_control::events::{HostStartedData, HostStoppedData};
use lattice_control::types::{Host, HostInventory, LabelMap};
use lattice_control::{CloudEvent, LatticeEvent, Timestamp, subjects};
use lattice_proto::{HostKey, LatticeName};

use super::error::ControlServerError;

/// A ULID-shaped UUID for an event happening at `now`: 48 bits of Unix milliseconds
/// (big-endian), then 80 random bits.
pub fn event_id(now: SystemTime) -> uuid::Uuid {
    let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    let stamp = (millis as u64).to_be_bytes();
    bytes[..6].copy_from_slice(&stamp[2..]);
    uuid::Uuid::from_bytes(bytes)
}

/// Publishes lattice events for one host. Cheap to clone; the host core keeps one to report
/// what happens to its actors, providers and links.
#[derive(Clone, Debug)]
pub struct EventPublisher {
    nats: async_nats::Client,
    lattice: LatticeName,
    source: HostKey,
}

impl EventPublisher {
    /// A publisher on the control connection `nats`, for host `source` in `lattice`.
    pub fn new(nats: async_nats::Client, lattice: LatticeName, source: HostKey) -> Self {
        Self { nats, lattice, source }
    }

    /// The host named as every event's `source`.
    pub fn source(&self) -> &HostKey {
        &self.source
    }

    /// The lattice the events go to.
    pub fn lattice(&self) -> &LatticeName {
        &self.lattice
    }

    /// Wrap `event` in its envelope, stamped now with a fresh id.
    pub fn envelope(&self, event: &LatticeEvent) -> CloudEvent {
        let now = SystemTime::now();
        CloudEvent::new(&self.source, event_id(now), &Timestamp::from_system_time(now), event)
    }

    /// Publish `event` on both event subjects (not flushed: async-nats sends it within
    /// moments; call [`EventPublisher::flush`] when it must be out, e.g. before exiting).
    pub async fn publish(&self, event: &LatticeEvent) -> Result<(), ControlServerError> {
        let bytes = self.envelope(event).to_json();
        for subject in [subjects::events(&self.lattice), subjects::event(&self.lattice, event.name())] {
            self.nats
                .publish(subject.clone(), bytes.clone().into())
                .await
                .map_err(|e| ControlServerError::Publish { subject, source: e.into() })?;
        }
        tracing::debug!(event = %event.name(), "published lattice event");
        Ok(())
    }

    /// Publish `event`, logging (not returning) a failure: events are best effort, and a
    /// lost event must not fail the operation it reports.
    pub async fn emit(&self, event: LatticeEvent) {
        if let Err(e) = self.publish(&event).await {
            tracing::warn!(event = %event.name(), error = %lattice_proto::chain(&e), "could not publish a lattice event");
        }
    }

    /// Wait until everything published so far has reached the server.
    pub async fn flush(&self) -> Result<(), ControlServerError> {
        self.nats.flush().await.map_err(|e| ControlServerError::Flush { source: e.into() })
    }

    /// `host_started`, from the host's ping reply (`uptime_seconds` 0, as 0.82).
    pub async fn host_started(&self, host: &Host) {
        self.emit(LatticeEvent::HostStarted(HostStartedData {
            friendly_name: host.friendly_name.clone(),
            labels: host.labels.clone(),
            uptime_seconds: 0,
            version: host.version.clone(),
        }))
        .await;
    }

    /// `host_heartbeat`: the inventory.
    pub async fn host_heartbeat(&self, inventory: HostInventory) {
        self.emit(LatticeEvent::HostHeartbeat(inventory)).await;
    }

    /// `host_stopped` with the host's labels, flushed.
    pub async fn host_stopped(&self, labels: LabelMap) {
        self.emit(LatticeEvent::HostStopped(HostStoppedData { labels })).await;
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %lattice_proto::chain(&e), "could not flush host_stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_start_with_the_millisecond() {
        // 0x01a20e45471a ms: the first event of vectors/host082 (2026-11-24T15:55:50.938Z).
        let t = UNIX_EPOCH + Duration::from_millis(0x01a2_0e45_471a);
        let id = event_id(t).to_string();
        assert!(id.starts_with("01a20e45-471a-"), "{id}");
        assert_ne!(event_id(t), event_id(t));
        let later = event_id(t + Duration::from_millis(1));
        assert!(later.to_string() > id);
    }
}
