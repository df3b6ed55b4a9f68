//! Provider health: the readiness probe after a launch and the periodic health check
//! (HOST.md §7): a request with an **empty** payload on
//! `wasmbus.rpc.{lattice}.{provider}.{link}.health`, answered with a msgpack
//! `HealthCheckResponse`. Transitions publish `health_check_passed` (unhealthy → healthy; a
//! provider starts out unhealthy) and `health_check_failed` (healthy → unhealthy); no change
//! publishes `health_check_status`. A check that gets no answer is logged, as in 0.82; a
//! provider that *exits* is the supervisor's business (it restarts it).

use std::time::Duration;

use lattice_control::LatticeEvent;
use lattice_control::events::HealthCheckData;
use lattice_proto::{HealthCheckResponse, LatticeName, LinkName, ProviderKey, subject};
use tokio_util::sync::CancellationToken;

use crate::control::EventPublisher;
use crate::error::ProviderRunError;

/// Ask the provider once; `Err` says why there is no answer.
pub(crate) async fn probe(
    rpc: &async_nats::Client,
    lattice: &LatticeName,
    key: &ProviderKey,
    link: &LinkName,
    timeout: Duration,
) -> Result<HealthCheckResponse, ProviderRunError> {
    let subject = subject::health(lattice, key, link).into_string();
    match tokio::time::timeout(timeout, rpc.request(subject, bytes::Bytes::new())).await {
        Ok(Ok(reply)) => HealthCheckResponse::decode(&reply.payload).map_err(ProviderRunError::HealthDecode),
        Ok(Err(e)) => Err(ProviderRunError::HealthRequest(e)),
        Err(_) => Err(ProviderRunError::HealthTimeout(timeout)),
    }
}

/// What the health loop of one provider needs.
pub(crate) struct HealthLoop {
    pub(crate) rpc: async_nats::Client,
    pub(crate) lattice: LatticeName,
    pub(crate) key: ProviderKey,
    pub(crate) link: LinkName,
    pub(crate) contract_id: String,
    pub(crate) events: EventPublisher,
    pub(crate) first: Duration,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl HealthLoop {
    /// Check after `first`, then every `interval`, until `stop`.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut healthy = false;
        let mut wait = self.first;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = self.interval;
            let answer = tokio::select! {
                () = stop.cancelled() => return,
                answer = probe(&self.rpc, &self.lattice, &self.key, &self.link, self.timeout) => answer,
            };
            let now_healthy = match answer {
                Ok(response) => response.healthy,
                Err(e) => {
                    tracing::warn!(provider = %self.key, link_name = %self.link, error = %lattice_proto::chain(&e),
                        "provider health check failed, retrying in {:?}", self.interval);
                    continue;
                }
            };
            let data = HealthCheckData {
                contract_id: self.contract_id.clone(),
                link_name: self.link.as_str().to_owned(),
                public_key: self.key.as_str().to_owned(),
            };
            let event = match (healthy, now_healthy) {
                (false, true) => LatticeEvent::HealthCheckPassed(data),
                (true, false) => LatticeEvent::HealthCheckFailed(data),
                _ => LatticeEvent::HealthCheckStatus(data),
            };
            if healthy && !now_healthy {
                tracing::warn!(provider = %self.key, link_name = %self.link, "provider reports itself unhealthy");
            }
            healthy = now_healthy;
            self.events.emit(event).await;
        }
    }
}
