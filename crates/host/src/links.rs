//! Link definitions and cached claims, persisted in the lattice's JetStream KV bucket
//! `LATTICEDATA_{lattice}` exactly as 0.82 lays them out (HOST.md §4): `LINKDEF_{hash}` holds
//! the link's JSON, `CLAIMS_{pk}` an actor's or provider's claims.
//!
//! Every host keeps a local view of the bucket ([`LinkStore`]): it reads the bucket at
//! start, then watches it from the next revision on, so puts and deletes made by any host
//! (or any 0.82 tool writing the bucket) show up everywhere. For every link change the
//! store publishes the link (msgpack) on the affected provider's `.linkdefs.put` /
//! `.linkdefs.del` subject — as every 0.82 host does, so providers treat duplicates as
//! idempotent — and emits `linkdef_set` / `linkdef_deleted`.
//!
//! Writes made through this host are applied to the local view at once (by revision), so a
//! call made right after [`LinkStore::put`] already sees the link; the watcher's copy of the
//! same revision is then ignored.
//!
//! The bucket lives on the **control** connection's JetStream (as in 0.82); provider
//! notifications go out on the **RPC** connection (they are `wasmbus.rpc.…` subjects).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use lattice_control::LatticeEvent;
use lattice_control::events::LinkdefEventData;
use lattice_control::storage::{self, KvKey, StoredClaims};
use lattice_proto::{ActorKey, LatticeName, LinkDefinition, LinkName, ProviderKey, subject};
use lattice_rpc::jetstream::Replicas;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::control::EventPublisher;
use crate::error::HostError;

/// How long the watcher waits before re-opening a watch that ended.
const REWATCH_DELAY: Duration = Duration::from_millis(500);

#[derive(Default)]
struct View {
    /// Links by KV key.
    links: HashMap<String, LinkDefinition>,
    /// Claims by subject.
    claims: HashMap<String, StoredClaims>,
    /// Call alias → actor key.
    aliases: HashMap<String, String>,
    /// Highest revision applied per key (deletes included).
    revisions: HashMap<String, u64>,
    /// Highest revision seen overall (where the watcher resumes).
    last_revision: u64,
}

/// What applying one entry changed.
enum Change {
    LinkPut(LinkDefinition),
    LinkDel(LinkDefinition),
    None,
}

struct Inner {
    kv: kv::Store,
    lattice: LatticeName,
    rpc: async_nats::Client,
    events: EventPublisher,
    view: RwLock<View>,
}

/// The host's view of `LATTICEDATA_{lattice}`. Cheap to clone.
#[derive(Clone)]
pub struct LinkStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LinkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkStore").field("lattice", &self.inner.lattice).finish_non_exhaustive()
    }
}

/// Check a link definition's fields: actor and provider keys of the right kind, a valid
/// link name, a non-empty contract id.
pub fn validate_link(ld: &LinkDefinition) -> Result<(), HostError> {
    ActorKey::parse(&ld.actor_id).map_err(|e| HostError::InvalidLink(format!("actor_id: {e}")))?;
    ProviderKey::parse(&ld.provider_id).map_err(|e| HostError::InvalidLink(format!("provider_id: {e}")))?;
    LinkName::new(ld.link_name.clone()).map_err(|e| HostError::InvalidLink(format!("link_name: {e}")))?;
    if ld.contract_id.trim().is_empty() {
        return Err(HostError::InvalidLink("contract_id is empty".into()));
    }
    Ok(())
}

impl LinkStore {
    /// Open (or create, with 0.82's defaults but `replicas` copies: history 1) the
    /// lattice-data bucket on the control connection `ctl`, bring an existing one to
    /// `replicas` copies (logged), and read it whole.
    pub async fn open(
        ctl: async_nats::Client,
        rpc: async_nats::Client,
        lattice: LatticeName,
        js_domain: Option<&str>,
        replicas: Replicas,
        events: EventPublisher,
    ) -> Result<Self, HostError> {
        let js = match js_domain {
            Some(domain) => jetstream::with_domain(ctl, domain),
            None => jetstream::new(ctl),
        };
        let bucket = storage::bucket_name(&lattice);
        let kv = lattice_rpc::jetstream::open_kv(&js, &bucket, replicas).await.map_err(|e| HostError::kv("open", e))?;
        let store = Self { inner: Arc::new(Inner { kv, lattice, rpc, events, view: RwLock::default() }) };
        store.load().await?;
        Ok(store)
    }

    /// Read every key of the bucket into the view (no notifications: providers learn
    /// existing links from HostData and from [`LinkStore::replay_to_providers`]).
    async fn load(&self) -> Result<(), HostError> {
        let status = self.inner.kv.status().await.map_err(|e| HostError::kv("status", e))?;
        let last = status.info.state.last_sequence;
        let mut keys = self.inner.kv.keys().await.map_err(|e| HostError::kv("list keys", e))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            names.push(key.map_err(|e| HostError::kv("list keys", e))?);
        }
        for key in names {
            if let Some(entry) = self.inner.kv.entry(key.clone()).await.map_err(|e| HostError::kv("read", e))? {
                self.apply(&entry.key, entry.revision, entry.operation, &entry.value);
            }
        }
        let mut view = self.write();
        view.last_revision = view.last_revision.max(last);
        Ok(())
    }

    /// Watch the bucket from the revision after the loaded state until `stop`; the task
    /// belongs to `tracker`.
    pub fn watch(&self, tracker: &TaskTracker, stop: CancellationToken) {
        let store = self.clone();
        tracker.spawn(async move {
            loop {
                let from = store.read().last_revision + 1;
                match store.inner.kv.watch_all_from_revision(from).await {
                    Ok(mut watch) => loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            next = watch.next() => match next {
                                Some(Ok(entry)) => {
                                    let change = store.apply(&entry.key, entry.revision, entry.operation, &entry.value);
                                    store.notify(change).await;
                                }
                                Some(Err(e)) => {
                                    tracing::warn!(error = %lattice_proto::chain(&e), "lattice data watch failed; re-watching");
                                    break;
                                }
                                None => break,
                            }
                        }
                    },
                    Err(e) => tracing::warn!(error = %lattice_proto::chain(&e), "cannot watch the lattice data bucket; retrying"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(REWATCH_DELAY) => {}
                }
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.inner.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.inner.view.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply one bucket entry to the view if it is newer than what the view has.
    fn apply(&self, key: &str, revision: u64, op: kv::Operation, value: &[u8]) -> Change {
        let mut view = self.write();
        view.last_revision = view.last_revision.max(revision);
        if view.revisions.get(key).is_some_and(|r| *r >= revision) {
            return Change::None;
        }
        view.revisions.insert(key.to_owned(), revision);
        let deleted = !matches!(op, kv::Operation::Put);
        match KvKey::parse(key) {
            KvKey::Linkdef { .. } if deleted => view.links.remove(key).map_or(Change::None, Change::LinkDel),
            KvKey::Linkdef { .. } => match storage::decode_linkdef(key, value) {
                Ok(ld) => {
                    if view.links.get(key) == Some(&ld) {
                        return Change::None;
                    }
                    view.links.insert(key.to_owned(), ld.clone());
                    Change::LinkPut(ld)
                }
                Err(e) => {
                    tracing::warn!(key, error = %lattice_proto::chain(&e), "ignoring a bad link definition in the lattice data bucket");
                    Change::None
                }
            },
            KvKey::Claims { subject } if deleted => {
                let subject = subject.to_owned();
                view.claims.remove(&subject);
                view.aliases.retain(|_, actor| *actor != subject);
                Change::None
            }
            KvKey::Claims { subject } => {
                match StoredClaims::decode(key, value) {
                    Ok(claims) => {
                        let subject = subject.to_owned();
                        view.aliases.retain(|_, actor| *actor != subject);
                        if let StoredClaims::Actor(a) = &claims
                            && !a.call_alias.is_empty()
                        {
                            view.aliases.insert(a.call_alias.clone(), subject.clone());
                        }
                        view.claims.insert(subject, claims);
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %lattice_proto::chain(&e), "ignoring bad claims in the lattice data bucket")
                    }
                }
                Change::None
            }
            KvKey::Other(_) => Change::None,
        }
    }

    /// Tell the provider about a link change and publish the event.
    async fn notify(&self, change: Change) {
        match change {
            Change::LinkPut(ld) => {
                self.publish_to_provider(&ld, true).await;
                self.inner.events.emit(LatticeEvent::LinkdefSet(LinkdefEventData::from(&ld))).await;
            }
            Change::LinkDel(ld) => {
                self.publish_to_provider(&ld, false).await;
                self.inner.events.emit(LatticeEvent::LinkdefDeleted(LinkdefEventData::from(&ld))).await;
            }
            Change::None => {}
        }
    }

    /// Publish `ld` (msgpack) on its provider's `.linkdefs.put` (or `.del`) subject.
    pub(crate) async fn publish_to_provider(&self, ld: &LinkDefinition, put: bool) {
        let (Ok(provider), Ok(link)) = (ProviderKey::parse(&ld.provider_id), LinkName::new(ld.link_name.clone()))
        else {
            tracing::warn!(provider = %ld.provider_id, link_name = %ld.link_name, "not publishing a link with a bad provider key or link name");
            return;
        };
        let subject = if put {
            subject::linkdefs_put(&self.inner.lattice, &provider, &link)
        } else {
            subject::linkdefs_del(&self.inner.lattice, &provider, &link)
        };
        if let Err(e) = self.inner.rpc.publish(subject.into_string(), ld.encode().into()).await {
            tracing::warn!(error = %lattice_proto::chain(&e), provider = %ld.provider_id, "could not publish a link to its provider");
        }
    }

    /// Publish every known link to its provider (0.82 does this at host start; duplicates
    /// are harmless).
    pub async fn replay_to_providers(&self) {
        for ld in self.links() {
            self.publish_to_provider(&ld, true).await;
        }
    }

    /// Publish the links of one provider (after it started or restarted).
    pub async fn replay_to_provider(&self, provider: &str, link_name: &str) {
        for ld in self.links_for_provider(provider, link_name) {
            self.publish_to_provider(&ld, true).await;
        }
    }

    /// Store a link (replacing one with the same actor, contract and link name). The local
    /// view, the provider and the event follow at once.
    pub async fn put(&self, ld: LinkDefinition) -> Result<(), HostError> {
        validate_link(&ld)?;
        let key = storage::linkdef_key_for(&ld);
        let value = storage::encode_linkdef(&ld);
        let revision = self.inner.kv.put(&key, value.clone().into()).await.map_err(|e| HostError::kv("put", e))?;
        let change = self.apply(&key, revision, kv::Operation::Put, &value);
        self.notify(change).await;
        Ok(())
    }

    /// Delete the link of `actor` for `contract` under `link_name` (absent: nothing happens).
    pub async fn delete(&self, actor: &str, contract: &str, link_name: &str) -> Result<(), HostError> {
        let key = storage::linkdef_key(actor, contract, link_name);
        if !self.read().links.contains_key(&key) {
            return Ok(());
        }
        self.inner.kv.delete(&key).await.map_err(|e| HostError::kv("delete", e))?;
        let removed = self.write().links.remove(&key);
        if let Some(ld) = removed {
            self.notify(Change::LinkDel(ld)).await;
        }
        Ok(())
    }

    /// Store claims under `CLAIMS_{subject}`.
    pub async fn put_claims(&self, claims: StoredClaims) -> Result<(), HostError> {
        let key = claims.key();
        let value = claims.to_json();
        let revision = self.inner.kv.put(&key, value.clone().into()).await.map_err(|e| HostError::kv("put", e))?;
        self.apply(&key, revision, kv::Operation::Put, &value);
        Ok(())
    }

    /// The link of `actor` for `contract` under `link_name`.
    pub fn find(&self, actor: &str, contract: &str, link_name: &str) -> Option<LinkDefinition> {
        self.read().links.get(&storage::linkdef_key(actor, contract, link_name)).cloned()
    }

    /// Whether `actor` has any link for `contract`.
    pub fn has_contract_link(&self, actor: &str, contract: &str) -> bool {
        self.read().links.values().any(|ld| ld.actor_id == actor && ld.contract_id == contract)
    }

    /// Every link.
    pub fn links(&self) -> Vec<LinkDefinition> {
        let mut links: Vec<_> = self.read().links.values().cloned().collect();
        links.sort_by(|a, b| {
            (&a.actor_id, &a.contract_id, &a.link_name).cmp(&(&b.actor_id, &b.contract_id, &b.link_name))
        });
        links
    }

    /// The links served by provider `provider` under `link_name`.
    pub fn links_for_provider(&self, provider: &str, link_name: &str) -> Vec<LinkDefinition> {
        self.links().into_iter().filter(|ld| ld.provider_id == provider && ld.link_name == link_name).collect()
    }

    /// Every cached claims record.
    pub fn claims(&self) -> Vec<StoredClaims> {
        let mut claims: Vec<_> = self.read().claims.values().cloned().collect();
        claims.sort_by(|a, b| a.subject().cmp(b.subject()));
        claims
    }

    /// The actor with call alias `alias`, if any.
    pub fn resolve_alias(&self, alias: &str) -> Option<String> {
        self.read().aliases.get(alias).cloned()
    }
}
