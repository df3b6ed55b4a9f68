//! Reading one link back from `LATTICEDATA_{lattice}` (HOST.md §4), so that a receiver of a
//! `.linkdefs.put` message — which carries no signature — can check that a host really
//! stored that link before acting on it.
//!
//! Every host (Lattice and 0.82 alike) writes `LINKDEF_{hash}` to the bucket *before* it
//! publishes the link to the provider, so the stored entry is normally there when the put
//! arrives. [`StoredLinks::confirm`] still re-reads for a short, bounded time, to cover a
//! write that has not landed yet. Reads go to the **stream leader** (`STREAM.MSG.GET` with
//! `last_by_subj`), never to a direct-get replica that may lag, so a real link is not
//! refused because one replica is behind.
//!
//! This is the one place that decides "is this link stored?": the provider SDK uses it to
//! accept link puts, the monitor to alert on forged ones. It only reads; the host owns the
//! bucket and is the only writer.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, ErrorCode, stream::LastRawMessageErrorKind};
use lattice_proto::{LatticeName, LinkDefinition};
use tokio::time::Instant;

use crate::error::ControlError;
use crate::storage;

/// How long [`StoredLinks::confirm`] waits by default for a host's write to land.
pub const DEFAULT_CONFIRM_WAIT: Duration = Duration::from_secs(2);

/// The pauses between re-reads while waiting (the last one repeats).
const RETRY_PAUSES: [Duration; 4] =
    [Duration::from_millis(25), Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(250)];

/// The KV header that marks a delete or purge marker.
const KV_OPERATION: &str = "KV-Operation";

/// Equal links: same ends, link name, contract and values (values compared as a map: the
/// wire order of a 0.82 host's `HashMap` is unspecified).
pub fn same_link(a: &LinkDefinition, b: &LinkDefinition) -> bool {
    fn values(ld: &LinkDefinition) -> HashMap<&str, &str> {
        ld.values.iter().collect()
    }
    a.actor_id == b.actor_id
        && a.provider_id == b.provider_id
        && a.link_name == b.link_name
        && a.contract_id == b.contract_id
        && values(a) == values(b)
}

/// What the bucket holds for a link's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// No entry, or a delete marker.
    Absent,
    /// The stored link (its key matched its content).
    Present(LinkDefinition),
    /// An entry that does not decode or whose key does not match (never trusted).
    Bad(String),
}

/// Read access to the links of one lattice's data bucket.
#[derive(Clone, Debug)]
pub struct StoredLinks {
    js: jetstream::Context,
    stream: String,
    bucket: String,
}

impl StoredLinks {
    /// Links of `lattice`, read over `nats` (JetStream in the default domain, or `js_domain`).
    pub fn new(nats: async_nats::Client, lattice: &LatticeName, js_domain: Option<&str>) -> Self {
        let js = match js_domain {
            Some(domain) => jetstream::with_domain(nats, domain),
            None => jetstream::new(nats),
        };
        let bucket = storage::bucket_name(lattice);
        Self { js, stream: format!("KV_{bucket}"), bucket }
    }

    /// What the stream leader holds for the key of `ld` (actor, contract, link name).
    pub async fn lookup(&self, ld: &LinkDefinition) -> Result<Stored, ControlError> {
        let key = storage::linkdef_key_for(ld);
        let stream = self.js.get_stream_no_info(&self.stream).await.map_err(|e| ControlError::nats("stream", e))?;
        let subject = format!("$KV.{}.{key}", self.bucket);
        let message = match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(Stored::Absent),
            // No bucket yet: no host has stored any link.
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::JetStream(ref j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                return Ok(Stored::Absent);
            }
            Err(e) => return Err(ControlError::nats("stream message get", e)),
        };
        if message.headers.get(KV_OPERATION).is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE")) {
            return Ok(Stored::Absent);
        }
        Ok(match storage::decode_linkdef(&key, &message.payload) {
            Ok(stored) => Stored::Present(stored),
            Err(e) => Stored::Bad(lattice_proto::chain(&e)),
        })
    }

    /// Whether exactly `ld` (ends, link name, contract, values) is stored, re-reading for up
    /// to `wait` while it is not. A link that the bucket holds with other values is not
    /// confirmed (the bucket's current state wins).
    pub async fn confirm(&self, ld: &LinkDefinition, wait: Duration) -> Result<bool, ControlError> {
        self.poll(wait, |s| matches!(s, Stored::Present(stored) if same_link(stored, ld)), ld).await
    }

    /// Whether the key of `ld` holds no link, re-reading for up to `wait` while it does.
    pub async fn confirm_absent(&self, ld: &LinkDefinition, wait: Duration) -> Result<bool, ControlError> {
        self.poll(wait, |s| matches!(s, Stored::Absent), ld).await
    }

    async fn poll(
        &self,
        wait: Duration,
        done: impl Fn(&Stored) -> bool,
        ld: &LinkDefinition,
    ) -> Result<bool, ControlError> {
        let deadline = Instant::now() + wait;
        let mut pauses = RETRY_PAUSES.iter().copied().chain(std::iter::repeat(RETRY_PAUSES[RETRY_PAUSES.len() - 1]));
        loop {
            let stored = self.lookup(ld).await?;
            if done(&stored) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let pause = pauses.next().unwrap_or(Duration::from_millis(250)).min(deadline - now);
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(values: &[(&str, &str)]) -> LinkDefinition {
        LinkDefinition {
            actor_id: "M1".into(),
            provider_id: "V1".into(),
            link_name: "default".into(),
            contract_id: "c".into(),
            values: values.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    #[test]
    fn same_link_compares_values_as_a_map() {
        assert!(same_link(&ld(&[("a", "1"), ("b", "2")]), &ld(&[("b", "2"), ("a", "1")])));
        assert!(!same_link(&ld(&[("a", "1")]), &ld(&[("a", "2")])));
        assert!(!same_link(&ld(&[("a", "1")]), &ld(&[])));
        let mut other = ld(&[]);
        other.provider_id = "V2".into();
        assert!(!same_link(&ld(&[]), &other));
    }
}
