//! Verify-before-dispatch: the checks an invocation must pass before any handler runs.
//!
//! Order (cheap first, crypto batched, the body last):
//! 1. `Verifier::check_batch`, for all invocations that arrived together:
//!    parse the JWT and check its issuer is trusted (no crypto), check the invocation is
//!    addressed to the entity this server serves (PROTOCOL.md §11.6), verify every
//!    signature in one Ed25519 batch (falling back to one by one to find a bad one), then
//!    time claims, origin/target URLs, host id and `id` = `sub` (§11.9).
//! 2. The caller fetches a chunked body from the object store — only now, after the
//!    signature checked out, so forged invocations cost no object-store round trip.
//! 3. `Verifier::finish`: the hash over the full body, always (§11.1), then the replay
//!    window (§11.5), last, so that only invocations that passed every other check are
//!    remembered: a forged copy can never make the genuine call look like a replay.
//!
//! Batch verification accepts exactly the signatures single verification accepts, except
//! for deliberately malformed ones (small-order components) that only a holder of the
//! cluster seed could produce; such a holder can sign anything anyway.

use std::sync::{Mutex, PoisonError};

use lattice_proto::claims::{self, CallUrls, ClaimsError, InvocationClaims, TrustedIssuers, VerifyOptions};
use lattice_proto::replay::{DEFAULT_MAX_ENTRIES, ReplayWindow};
use lattice_proto::{ActorKey, Invocation, LatticeName, LinkName, ProviderKey, WasmCloudEntity, subject};

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

    /// Whether `target` names this entity (key and link name; contract when known).
    fn check_target(&self, target: &WasmCloudEntity) -> Result<(), Rejection> {
        let ok = match self {
            Served::Actor(key) => target.public_key == key.as_str() && target.link_name.is_empty(),
            Served::Provider { key, link, contract } => {
                target.public_key == key.as_str()
                    && target.link_name == link.as_str()
                    && contract.as_ref().is_none_or(|c| *c == target.contract_id)
            }
        };
        if ok {
            return Ok(());
        }
        Err(Rejection {
            kind: "target_mismatch",
            reason: format!(
                "target mismatch: the invocation targets {}, this server serves {}",
                describe(target),
                describe(&self.entity())
            ),
        })
    }
}

fn describe(e: &WasmCloudEntity) -> String {
    if e.link_name.is_empty() && e.contract_id.is_empty() {
        e.public_key.clone()
    } else {
        format!("{} (link '{}', contract '{}')", e.public_key, e.link_name, e.contract_id)
    }
}

/// Why an invocation was refused before dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// The failure kind ([`ClaimsError::kind`] names, `target_mismatch`, `malformed`).
    pub(crate) kind: &'static str,
    /// A human explanation.
    pub(crate) reason: String,
}

impl From<ClaimsError> for Rejection {
    fn from(e: ClaimsError) -> Self {
        Rejection { kind: e.kind(), reason: e.to_string() }
    }
}

/// An invocation whose claims passed phase 1: its claims and recomputed URLs.
#[derive(Debug)]
pub(crate) struct Checked {
    claims: InvocationClaims,
    urls: CallUrls,
}

/// The verification state of one server: trusted issuers, the served entity, the clock
/// and the replay window.
pub(crate) struct Verifier {
    issuers: TrustedIssuers,
    served: Served,
    clock: Clock,
    window_secs: Option<u64>,
    replay: Option<Mutex<ReplayWindow>>,
}

impl Verifier {
    pub(crate) fn new(issuers: TrustedIssuers, served: Served, clock: Clock, window_secs: Option<u64>) -> Self {
        let replay = window_secs.map(|w| Mutex::new(ReplayWindow::new(w, DEFAULT_MAX_ENTRIES)));
        Self { issuers, served, clock, window_secs, replay }
    }

    /// Phase 1 for invocations that arrived together: everything but the body hash and
    /// the replay window. One verdict per invocation, in order.
    pub(crate) fn check_batch(&self, invs: &[&Invocation]) -> Vec<Result<Checked, Rejection>> {
        let opts = VerifyOptions { now: (self.clock)(), max_age: self.window_secs };
        let mut verdicts: Vec<Option<Result<Checked, Rejection>>> = invs.iter().map(|_| None).collect();
        let mut tokens = Vec::with_capacity(invs.len());
        let mut which = Vec::with_capacity(invs.len());
        for (i, inv) in invs.iter().enumerate() {
            let token = self.issuers.precheck(&inv.encoded_claims).map_err(Rejection::from);
            match token.and_then(|t| self.served.check_target(&inv.target).map(|()| t)) {
                Ok(t) => {
                    tokens.push(t);
                    which.push(i);
                }
                Err(r) => verdicts[i] = Some(Err(r)),
            }
        }
        let all_good = claims::verify_batch(&tokens);
        for (token, i) in tokens.into_iter().zip(which) {
            if !all_good && let Err(e) = token.verify_signature() {
                verdicts[i] = Some(Err(e.into()));
                continue;
            }
            let claims = token.into_claims();
            verdicts[i] = Some(match claims::check_envelope(&claims, invs[i], &opts) {
                Ok(urls) => Ok(Checked { claims, urls }),
                Err(e) => Err(e.into()),
            });
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Err(Rejection { kind: "malformed", reason: "not verified".into() })))
            .collect()
    }

    /// Phase 3: the hash over the full `body`, then the replay window (which records the id).
    pub(crate) fn finish(&self, checked: &Checked, inv: &Invocation, body: &[u8]) -> Result<(), Rejection> {
        claims::check_hash_with(&checked.claims, &checked.urls, &inv.operation, body)?;
        if let Some(replay) = &self.replay {
            let now = (self.clock)();
            replay.lock().unwrap_or_else(PoisonError::into_inner).check_and_record(&inv.id, checked.claims.iat, now)?;
        }
        Ok(())
    }
}
