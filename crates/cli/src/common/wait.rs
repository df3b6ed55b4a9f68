//! Waiting for the lattice event that reports how a control command ended.

use std::time::Duration;

use futures::StreamExt;
use lattice_control::{CloudEvent, CtlClient, EventStream, LatticeEvent};

use crate::common::ctl::ctl_failure;
use crate::common::output::note;
use crate::exit::Failure;

/// `--no-wait` and `--wait-ms`, the same on every verb that waits for an outcome.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct WaitArgs {
    /// Return once the host has accepted the command, without waiting for the outcome.
    #[arg(long, global = true)]
    pub(crate) no_wait: bool,
    /// How long to wait for the outcome, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true)]
    pub(crate) wait_ms: u64,
}

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
    /// Subscribe to the lattice's events now (before the command is sent), unless `--no-wait`.
    pub(crate) async fn new(client: &CtlClient, args: WaitArgs) -> Result<Self, Failure> {
        let stream = if args.no_wait { None } else { Some(client.events().await.map_err(ctl_failure)?) };
        Ok(Self { stream, wait: Duration::from_millis(args.wait_ms.max(1)) })
    }

    /// Whether this waiter waits at all.
    pub(crate) fn waits(&self) -> bool {
        self.stream.is_some()
    }

    /// The `result` a verb reports: `done` when it waited, `accepted` with `--no-wait`.
    pub(crate) fn result(&self, done: &'static str) -> &'static str {
        if self.waits() { done } else { "accepted" }
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
