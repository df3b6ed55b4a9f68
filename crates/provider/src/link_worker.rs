//! Applies `.linkdefs.put` / `.linkdefs.del` messages — off the request loop, and only when
//! a host really stored (or removed) the link.
//!
//! Link messages carry no signature: anyone who may publish on the provider's subjects could
//! otherwise name any actor and any values (`address=0.0.0.0:PORT` on lattice-httpserver
//! turns every HTTP request into a correctly signed call to that actor). Every host — Lattice
//! and 0.82 alike — writes `LINKDEF_{hash}` to `LATTICEDATA_{lattice}` before it publishes
//! the link, so this worker accepts a put only when the stream leader holds the *same* link
//! ([`lattice_control::stored_links`]), and a delete only when it holds none. A put whose
//! entry is not there yet is re-checked for a short bounded time (a slow write must not
//! lose a real link); the number of such pending re-checks is capped, and so is the number
//! of links (default [`DEFAULT_MAX_LINKS`]).
//!
//! Running here, a slow `put_link` hook or a flood of forged puts never delays health
//! checks or `.shutdown`, which the request loop in [`crate::run`] keeps answering.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Subscriber;
use futures::StreamExt;
use lattice_control::stored_links::StoredLinks;
use lattice_proto::{ActorKey, LinkDefinition};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use crate::context::ProviderContext;
use crate::links::PutKind;
use crate::provider::Provider;

/// The default cap on links per provider instance.
pub const DEFAULT_MAX_LINKS: usize = 1024;
/// The default time a link put may wait for its host's write to the bucket to land.
pub const DEFAULT_LINK_CONFIRM_WAIT: Duration = lattice_control::stored_links::DEFAULT_CONFIRM_WAIT;
/// At most this many link messages wait for their stored entry at once; beyond that an
/// unconfirmed message is refused at once.
const MAX_PENDING_CHECKS: usize = 64;

/// The worker's limits (from [`crate::RunOptions`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkLimits {
    pub(crate) max_links: usize,
    pub(crate) confirm_wait: Duration,
}

/// A link message, put or delete.
#[derive(Debug)]
enum Op {
    Put(LinkDefinition),
    Del(LinkDefinition),
}

impl Op {
    fn link(&self) -> &LinkDefinition {
        match self {
            Op::Put(ld) | Op::Del(ld) => ld,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Op::Put(_) => "put",
            Op::Del(_) => "delete",
        }
    }
}

/// Run the link worker until the provider stops (or both subscriptions end). The caller
/// owns the task; it returns after unsubscribing.
pub(crate) async fn run<P: Provider>(
    provider: Arc<P>,
    ctx: ProviderContext,
    mut puts: Subscriber,
    mut dels: Subscriber,
    limits: LinkLimits,
) {
    let stored = StoredLinks::new(ctx.nats().clone(), ctx.lattice(), None);
    let pending = Arc::new(Semaphore::new(MAX_PENDING_CHECKS));
    let (confirmed_tx, mut confirmed) = mpsc::channel::<Op>(MAX_PENDING_CHECKS);
    let checks = TaskTracker::new();
    let stopping = ctx.stopping().clone();
    loop {
        let op = tokio::select! {
            () = stopping.cancelled() => break,
            m = puts.next() => match m {
                Some(m) => match LinkDefinition::decode(&m.payload) {
                    Ok(ld) => Op::Put(ld),
                    Err(e) => { tracing::warn!(error = %lattice_proto::chain(&e), "ignoring an undecodable link put"); continue }
                },
                None => break,
            },
            m = dels.next() => match m {
                Some(m) => match LinkDefinition::decode(&m.payload) {
                    Ok(ld) => Op::Del(ld),
                    Err(e) => { tracing::warn!(error = %lattice_proto::chain(&e), "ignoring an undecodable link delete"); continue }
                },
                None => break,
            },
            Some(op) = confirmed.recv() => {
                apply(&*provider, &ctx, op, limits).await;
                continue;
            }
        };
        if !worth_checking(&ctx, &op) {
            continue;
        }
        // The common case: the host wrote the bucket before publishing, one read confirms.
        match check(&stored, &op, Duration::ZERO).await {
            Some(true) => apply(&*provider, &ctx, op, limits).await,
            Some(false) => match pending.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (stored, tx, wait) = (stored.clone(), confirmed_tx.clone(), limits.confirm_wait);
                    let stopping = stopping.clone();
                    checks.spawn(async move {
                        let _permit = permit;
                        let result = tokio::select! {
                            () = stopping.cancelled() => return,
                            r = check(&stored, &op, wait) => r,
                        };
                        match result {
                            Some(true) => {
                                let _ = tx.send(op).await;
                            }
                            Some(false) => refuse_unstored(&op),
                            None => {}
                        }
                    });
                }
                Err(_) => {
                    tracing::warn!(
                        actor = %op.link().actor_id,
                        pending = MAX_PENDING_CHECKS,
                        "refusing a link {} no host has stored: too many unconfirmed link messages are pending",
                        op.what()
                    );
                }
            },
            None => {}
        }
    }
    checks.close();
    checks.wait().await;
    let _ = puts.unsubscribe().await;
    let _ = dels.unsubscribe().await;
}

/// Cheap filters before any bucket read: our provider and link name, a valid actor key,
/// not a duplicate of what the table holds.
fn worth_checking(ctx: &ProviderContext, op: &Op) -> bool {
    let ld = op.link();
    let ours = ctx.with_links(|t| t.is_ours(ld));
    if !ours {
        tracing::debug!(actor = %ld.actor_id, provider = %ld.provider_id, link_name = %ld.link_name, "ignoring a link message for another provider or link name");
        return false;
    }
    if let Err(e) = ActorKey::parse(&ld.actor_id) {
        tracing::warn!(error = %lattice_proto::chain(&e), "refusing a link {} with an invalid actor_id", op.what());
        return false;
    }
    match op {
        Op::Put(ld) => !matches!(ctx.with_links(|t| t.classify(ld)), PutKind::Duplicate),
        Op::Del(ld) => ctx.link(&ld.actor_id).is_some(),
    }
}

/// Whether the bucket confirms `op` (re-reading for up to `wait`); `None` when it cannot be
/// read (reported here; the message is refused).
async fn check(stored: &StoredLinks, op: &Op, wait: Duration) -> Option<bool> {
    let result = match op {
        Op::Put(ld) => stored.confirm(ld, wait).await,
        Op::Del(ld) => stored.confirm_absent(ld, wait).await,
    };
    match result {
        Ok(confirmed) => Some(confirmed),
        Err(e) => {
            tracing::warn!(error = %lattice_proto::chain(&e), actor = %op.link().actor_id, "refusing a link {}: cannot read the lattice data bucket to confirm it", op.what());
            None
        }
    }
}

fn refuse_unstored(op: &Op) {
    let ld = op.link();
    match op {
        Op::Put(_) => tracing::warn!(
            actor = %ld.actor_id,
            contract = %ld.contract_id,
            "refusing a link put that no host stored (no matching LINKDEF entry in the lattice data bucket)"
        ),
        Op::Del(_) => tracing::warn!(
            actor = %ld.actor_id,
            contract = %ld.contract_id,
            "refusing a link delete for a link the lattice data bucket still holds"
        ),
    }
}

/// Apply a confirmed message.
async fn apply<P: Provider>(provider: &P, ctx: &ProviderContext, op: Op, limits: LinkLimits) {
    match op {
        Op::Put(ld) => apply_put(provider, ctx, ld, limits.max_links).await,
        Op::Del(ld) => apply_del(provider, ctx, &ld).await,
    }
}

/// Apply a link put (from HostData, or confirmed by the bucket); link hooks run one at a
/// time. A new link beyond `max_links` is refused.
pub(crate) async fn apply_put<P: Provider>(provider: &P, ctx: &ProviderContext, ld: LinkDefinition, max_links: usize) {
    let kind = ctx.with_links(|t| t.classify(&ld));
    let actor = ld.actor_id.clone();
    match kind {
        PutKind::NotOurs => {
            tracing::debug!(actor = %actor, provider = %ld.provider_id, link_name = %ld.link_name, "ignoring a link for another provider or link name");
            return;
        }
        PutKind::Duplicate => {
            tracing::debug!(actor = %actor, "ignoring duplicate link put");
            return;
        }
        PutKind::Replaces(old) => {
            tracing::info!(actor = %actor, "link values changed: replacing the link");
            ctx.with_links(|t| t.remove(&old));
            provider.delete_link(ctx, &old).await;
        }
        PutKind::New => {
            let count = ctx.with_links(|t| t.len());
            if count >= max_links {
                tracing::error!(actor = %actor, max_links, "link refused: this provider already has the maximum number of links");
                return;
            }
        }
    }
    match provider.put_link(ctx, &ld).await {
        Ok(()) => {
            ctx.with_links(|t| t.insert(ld));
            tracing::info!(actor = %actor, "actor linked");
        }
        Err(e) => tracing::error!(actor = %actor, "link refused: {}", lattice_proto::chain(&e)),
    }
}

/// Apply a link delete.
async fn apply_del<P: Provider>(provider: &P, ctx: &ProviderContext, ld: &LinkDefinition) {
    match ctx.with_links(|t| t.remove(ld)) {
        Some(old) => {
            provider.delete_link(ctx, &old).await;
            tracing::info!(actor = %old.actor_id, "actor unlinked");
        }
        None => tracing::debug!(actor = %ld.actor_id, "ignoring a delete for a link this provider does not have"),
    }
}
