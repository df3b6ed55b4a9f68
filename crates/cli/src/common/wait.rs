//! Waiting for the lattice event that reports how a control command ended.

use std::time::Duration;

use futures::StreamExt;
use lattice_control::{CloudEvent, CtlClient, EventStream, LatticeEvent};

use crate::common::ctl::ctl_failure;
use crate::common::output::note;
use crate::exit::Failure;

/// Waits for the event that reports how a command ended.
pub(crate) struct Waiter {
    stream: Option<EventStream>,
    wait: Duration,
}

/// What a waited-for event says.
pub(crate) enum Verdict<T> {
    /// Not the event we wait for.
    Skip,
    /// It worked.
    Done(T),
    /// It failed, with the host's reason.
    Failed(String),
}

impl Waiter {
    /// Subscribe to the lattice's events now (before the command is sent), unless `no_wait`.
    pub(crate) async fn new(client: &CtlClient, no_wait: bool, wait_ms: u64) -> Result<Self, Failure> {
        let stream = if no_wait { None } else { Some(client.events().await.map_err(ctl_failure)?) };
        Ok(Self { stream, wait: Duration::from_millis(wait_ms.max(1)) })
    }

    /// Whether this waiter waits at all.
    pub(crate) fn waits(&self) -> bool {
        self.stream.is_some()
    }

    /// Wait for the first event `judge` decides on; `None` when not waiting. A failure
    /// verdict exits 1; no verdict in time exits 3 (the host may still finish).
    pub(crate) async fn until<T>(
        &mut self,
        what: &str,
        mut judge: impl FnMut(&CloudEvent, &LatticeEvent) -> Verdict<T>,
    ) -> Result<Option<T>, Failure> {
        let Some(stream) = self.stream.as_mut() else { return Ok(None) };
        note(&format!("waiting for {what}…"));
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let item = match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => return Err(anyhow::anyhow!("the event subscription ended while waiting for {what}").into()),
                Err(_) => {
                    return Err(anyhow::anyhow!(
                        "timed out after {:?} waiting for {what} (the host accepted the command and may still finish; \
                         see `lattice events`)",
                        self.wait
                    )
                    .into());
                }
            };
            let Ok(envelope) = item else { continue };
            let Ok(event) = envelope.event() else { continue };
            match judge(&envelope, &event) {
                Verdict::Skip => {}
                Verdict::Done(t) => return Ok(Some(t)),
                Verdict::Failed(reason) => return Err(Failure::no(anyhow::anyhow!("{what} failed: {reason}"))),
            }
        }
    }
}
