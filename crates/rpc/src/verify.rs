//! Verify-before-dispatch for one server: the served entity, the clock and the replay
//! memory around [`lattice_proto::verify`], which holds the one verification sequence.
//!
//! Order (cheap first, crypto batched, the body last; see [`lattice_proto::verify`]):
//! 1. [`ServerVerifier::check_batch`], for all invocations that arrived together: the
//!    chunking rule, the JWT's issuer, the addressee (the entity this server serves,
//!    PROTOCOL.md §11.6), one batched signature check, then the claims envelope.
//! 2. [`ServerVerifier::before_fetch`], for a chunked body only: the read-only replay
//!    lookup and the maximum body size, before the object-store round trip (§11.11):
//!    `content_length` is not signed, so a replayed genuine call edited to claim a huge
//!    chunked body is refused without touching JetStream.
//! 3. The caller fetches a chunked body, then [`ServerVerifier::finish`]: the hash over
//!    the full body, always (§11.1), then the replay window (§11.5), which records the id.

use std::sync::{Mutex, PoisonError};

use lattice_proto::replay::{DEFAULT_MAX_ENTRIES, ReplayWindow};
use lattice_proto::verify::{Addressee, Body, Checked, Rejection, Verifier};
use lattice_proto::{
    ActorKey, Invocation, LatticeName, LinkName, ProviderKey, TrustedIssuers, WasmCloudEntity, subject,
};

use crate::deadline::Clock;

/// The entity a server serves: what its subject is and which invocations it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// An actor: subject `wasmbus.rpc.{lattice}.{actor}`, queue group = the subject.
    Actor(ActorKey),
    /// A provider: subject `wasmbus.rpc.{lattice}.{provider}.{link}`, queue group `rpc`.
    Provider {
        /// The provider's key.
        key: ProviderKey,
        /// The link name it serves.
        link: LinkName,
        /// Its contract id; when set, invocations must name it in their target.
        contract: Option<String>,
    },
}

impl Served {
    /// The RPC subject of this entity.
    pub fn subject(&self, lattice: &LatticeName) -> subject::Subject {
        match self {
            Served::Actor(key) => subject::actor_rpc(lattice, key),
            Served::Provider { key, link, .. } => subject::provider_rpc(lattice, key, link),
        }
    }

    /// The queue group its instances share (PROTOCOL.md §3).
    pub fn queue_group(&self, lattice: &LatticeName) -> String {
        match self {
            Served::Actor(key) => subject::actor_queue_group(lattice, key),
            Served::Provider { .. } => subject::PROVIDER_QUEUE_GROUP.to_owned(),
        }
    }

    /// The entity as it appears in an invocation's `target`.
    pub fn entity(&self) -> WasmCloudEntity {
        match self {
            Served::Actor(key) => WasmCloudEntity::actor(key),
            Served::Provider { key, link, contract } => {
                WasmCloudEntity::provider(key, link, contract.clone().unwrap_or_default())
            }
        }
    }

    /// Who an invocation must be addressed to for this server to accept it.
    pub fn addressee(&self) -> Addressee<'_> {
        match self {
            Served::Actor(key) => Addressee::Entity { key: key.as_str(), link: "", contract: None },
            Served::Provider { key, link, contract } => {
                Addressee::Entity { key: key.as_str(), link: link.as_str(), contract: contract.as_deref() }
            }
        }
    }
}

/// The verification state of one server: the policy, the served entity, the clock and
/// the replay window.
pub(crate) struct ServerVerifier {
    verifier: Verifier,
    served: Served,
    clock: Clock,
    replay: Option<Mutex<ReplayWindow>>,
    max_body: u64,
}

impl ServerVerifier {
    pub(crate) fn new(
        issuers: TrustedIssuers,
        served: Served,
        clock: Clock,
        window_secs: Option<u64>,
        max_body: u64,
    ) -> Self {
        let replay = window_secs.map(|w| Mutex::new(ReplayWindow::new(w, DEFAULT_MAX_ENTRIES)));
        Self { verifier: Verifier::new(issuers, window_secs), served, clock, replay, max_body }
    }

    /// Step 1 for invocations that arrived together. One verdict per invocation, in order.
    pub(crate) fn check_batch(&self, invs: &[&Invocation]) -> Vec<Result<Checked, Rejection>> {
        let to = self.served.addressee();
        let items: Vec<(&Invocation, Addressee<'_>)> = invs.iter().map(|inv| (*inv, to)).collect();
        self.verifier.check_batch(&items, (self.clock)())
    }

    /// Step 2, before fetching a chunked body: the read-only replay lookup, then the
    /// maximum body size.
    pub(crate) fn before_fetch(&self, checked: &Checked) -> Result<(), Rejection> {
        self.replay_seen(checked)?;
        checked.check_size(self.max_body)
    }

    fn replay_seen(&self, checked: &Checked) -> Result<(), Rejection> {
        match &self.replay {
            Some(replay) => checked.replay_seen(&replay.lock().unwrap_or_else(PoisonError::into_inner), (self.clock)()),
            None => Ok(()),
        }
    }

    /// Step 3: the hash over the full `body`, then the replay window (which records the id).
    pub(crate) fn finish(&self, checked: Checked, body: &[u8]) -> Result<(), Rejection> {
        // The hash outside the lock; only the window's update inside it.
        let hashed = checked.check_body(Body::Full(body))?;
        let now = (self.clock)();
        match &self.replay {
            Some(replay) => hashed.record(Some(&mut replay.lock().unwrap_or_else(PoisonError::into_inner)), now)?,
            None => hashed.record(None, now)?,
        };
        Ok(())
    }
}
