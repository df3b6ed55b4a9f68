//! [`CtlClient`]: the control interface over a dedicated NATS connection (the *control*
//! connection, never the RPC one), speaking the same subjects and JSON as the
//! `wasmcloud-control-interface` 0.33 client, so it drives 0.82 hosts and Lattice hosts alike.
//!
//! Three shapes of exchange:
//! - **query** (`get.{host}.inv`, `get.links`, `get.claims`): one request, one typed reply;
//! - **command** (`cmd.*`, `linkdefs.*`, `labels.*`): one request, an ack; `accepted:false`
//!   becomes [`ControlError::Rejected`]. An ack means "accepted", not "done": the outcome
//!   arrives as an event ([`CtlClient::events`]);
//! - **scatter-gather** (`ping.hosts`, `auction.*`): every host may answer; replies are
//!   collected until the auction timeout (or at once, when the server reports that nobody
//!   listens). Replies that do not decode are logged and skipped, so one odd host does not
//!   hide the others.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lattice_control::CtlClient;
//! use lattice_proto::LatticeName;
//!
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let ctl = CtlClient::builder(nats).lattice(LatticeName::new("default")?).build();
//! for host in ctl.ping_hosts().await? {
//!     println!("{} {}", host.id, host.friendly_name);
//! }
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::{RequestErrorKind, StatusCode};
use futures::{Stream, StreamExt};
use lattice_proto::{HostKey, LatticeName, LinkDefinition, LinkName};
use serde::de::DeserializeOwned;

use crate::error::ControlError;
use crate::events::CloudEvent;
use crate::subjects;
use crate::types::{
    ActorAuctionAck, ActorAuctionRequest, AnnotationMap, ClaimsMap, ConstraintMap, CtlBody, CtlOperationAck,
    GetClaimsResponse, Host, HostInventory, HostLabel, LinkDefinitionList, ProviderAuctionAck, ProviderAuctionRequest,
    RegistryCredentialMap, RemoveLinkDefinitionRequest, ScaleActorCommand, StartProviderCommand, StopActorCommand,
    StopHostCommand, StopProviderCommand, UpdateActorCommand, decode_json, to_json,
};

/// Default timeout of a query or command (the 0.33 client's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time to collect ping and auction replies (the 0.33 client's).
pub const DEFAULT_AUCTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a [`CtlClient`]; ends in [`CtlClientBuilder::build`].
#[derive(Debug)]
pub struct CtlClientBuilder {
    nats: async_nats::Client,
    lattice: LatticeName,
    timeout: Duration,
    auction_timeout: Duration,
}

impl CtlClientBuilder {
    /// The lattice to address (default `default`).
    pub fn lattice(mut self, lattice: LatticeName) -> Self {
        self.lattice = lattice;
        self
    }

    /// How long a query or command waits for its answer (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long pings and auctions collect replies (default 5 s).
    pub fn auction_timeout(mut self, timeout: Duration) -> Self {
        self.auction_timeout = timeout;
        self
    }

    /// The client.
    pub fn build(self) -> CtlClient {
        CtlClient {
            nats: self.nats,
            lattice: self.lattice,
            timeout: self.timeout,
            auction_timeout: self.auction_timeout,
        }
    }
}

/// A typed client of the lattice control interface. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CtlClient {
    nats: async_nats::Client,
    lattice: LatticeName,
    timeout: Duration,
    auction_timeout: Duration,
}

impl CtlClient {
    /// Start building a client over the control connection `nats`.
    pub fn builder(nats: async_nats::Client) -> CtlClientBuilder {
        CtlClientBuilder {
            nats,
            lattice: LatticeName::default(),
            timeout: DEFAULT_TIMEOUT,
            auction_timeout: DEFAULT_AUCTION_TIMEOUT,
        }
    }

    /// The lattice this client addresses.
    pub fn lattice(&self) -> &LatticeName {
        &self.lattice
    }

    /// The control connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Every host that answers `ping.hosts` within the auction timeout.
    pub async fn ping_hosts(&self) -> Result<Vec<Host>, ControlError> {
        self.gather(subjects::ping_hosts(&self.lattice), Vec::new(), "host").await
    }

    /// [`CtlClient::ping_hosts`], asking Lattice hosts for their connection report too
    /// ([`Host::connections`]; 0.82 hosts ignore the request body and leave it `None`).
    pub async fn ping_hosts_with_connections(&self) -> Result<Vec<Host>, ControlError> {
        let body = br#"{"lattice_connections":true}"#.to_vec();
        self.gather(subjects::ping_hosts(&self.lattice), body, "host").await
    }

    /// One host's inventory.
    pub async fn get_inventory(&self, host: &HostKey) -> Result<HostInventory, ControlError> {
        self.query(subjects::host_inventory(&self.lattice, host), "host inventory").await
    }

    /// Every link in the lattice.
    pub async fn get_links(&self) -> Result<Vec<LinkDefinition>, ControlError> {
        let list: LinkDefinitionList = self.query(subjects::get_links(&self.lattice), "link definition list").await?;
        Ok(list.links)
    }

    /// Every cached claims entry in the lattice (string maps; see
    /// [`crate::storage::StoredClaims::to_claims_map`]).
    pub async fn get_claims(&self) -> Result<Vec<ClaimsMap>, ControlError> {
        let claims: GetClaimsResponse = self.query(subjects::get_claims(&self.lattice), "claims list").await?;
        Ok(claims.claims)
    }

    /// Store a link (`linkdefs.put`). Checked locally first, as a Lattice host would.
    pub async fn put_link(&self, link: &LinkDefinition) -> Result<(), ControlError> {
        link.validate().map_err(|source| ControlError::Invalid { what: <LinkDefinition as CtlBody>::WHAT, source })?;
        self.command(subjects::linkdefs_put(&self.lattice), to_json(link)).await
    }

    /// Delete a link (`linkdefs.del`, the three-key form).
    pub async fn del_link(&self, actor_id: &str, contract_id: &str, link_name: &LinkName) -> Result<(), ControlError> {
        let body = RemoveLinkDefinitionRequest {
            actor_id: actor_id.to_owned(),
            contract_id: contract_id.to_owned(),
            link_name: link_name.to_string(),
        };
        self.command(subjects::linkdefs_del(&self.lattice), to_json(&body)).await
    }

    /// Set an actor's `max_instances` on a host, starting it from `actor_ref` if needed;
    /// `count` 0 stops it.
    pub async fn scale_actor(
        &self,
        host: &HostKey,
        actor_ref: &str,
        count: u32,
        annotations: Option<AnnotationMap>,
    ) -> Result<(), ControlError> {
        let body = ScaleActorCommand {
            actor_ref: actor_ref.to_owned(),
            annotations,
            max_instances: count,
            host_id: host.to_string(),
        };
        self.command(subjects::scale_actor(&self.lattice, host), to_json(&body)).await
    }

    /// Stop an actor on a host (`actor_ref`: its public key; a Lattice host also takes the
    /// reference it was started from).
    pub async fn stop_actor(
        &self,
        host: &HostKey,
        actor_ref: &str,
        annotations: Option<AnnotationMap>,
    ) -> Result<(), ControlError> {
        let body = StopActorCommand { actor_ref: actor_ref.to_owned(), annotations, host_id: host.to_string() };
        self.command(subjects::stop_actor(&self.lattice, host), to_json(&body)).await
    }

    /// Replace a running actor with a new reference.
    pub async fn update_actor(
        &self,
        host: &HostKey,
        actor_id: &str,
        new_actor_ref: &str,
        annotations: Option<AnnotationMap>,
    ) -> Result<(), ControlError> {
        let body = UpdateActorCommand {
            actor_id: actor_id.to_owned(),
            annotations,
            host_id: host.to_string(),
            new_actor_ref: new_actor_ref.to_owned(),
        };
        self.command(subjects::update_actor(&self.lattice, host), to_json(&body)).await
    }

    /// Start a provider on a host.
    pub async fn start_provider(
        &self,
        host: &HostKey,
        provider_ref: &str,
        link_name: &LinkName,
        annotations: Option<AnnotationMap>,
        configuration: Option<String>,
    ) -> Result<(), ControlError> {
        let body = StartProviderCommand {
            annotations,
            configuration,
            host_id: host.to_string(),
            link_name: link_name.to_string(),
            provider_ref: provider_ref.to_owned(),
        };
        self.command(subjects::start_provider(&self.lattice, host), to_json(&body)).await
    }

    /// Stop a provider on a host (`provider_ref`: its public key; a Lattice host also takes
    /// the reference it was started from).
    pub async fn stop_provider(
        &self,
        host: &HostKey,
        provider_ref: &str,
        link_name: &LinkName,
        contract_id: &str,
        annotations: Option<AnnotationMap>,
    ) -> Result<(), ControlError> {
        let body = StopProviderCommand {
            annotations,
            contract_id: contract_id.to_owned(),
            host_id: host.to_string(),
            link_name: link_name.to_string(),
            provider_ref: provider_ref.to_owned(),
        };
        self.command(subjects::stop_provider(&self.lattice, host), to_json(&body)).await
    }

    /// Stop a host, giving it `timeout` to drain.
    pub async fn stop_host(&self, host: &HostKey, timeout: Option<Duration>) -> Result<(), ControlError> {
        let timeout = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        let body = StopHostCommand { host_id: Some(host.to_string()), timeout };
        self.command(subjects::stop_host(&self.lattice, host), to_json(&body)).await
    }

    /// Set a label on a host.
    pub async fn put_label(&self, host: &HostKey, key: &str, value: &str) -> Result<(), ControlError> {
        let body = HostLabel { key: key.to_owned(), value: value.to_owned() };
        self.command(subjects::label_put(&self.lattice, host), to_json(&body)).await
    }

    /// Remove a label from a host (sends `value: ""`, as the 0.33 client does).
    pub async fn del_label(&self, host: &HostKey, key: &str) -> Result<(), ControlError> {
        let body = HostLabel { key: key.to_owned(), value: String::new() };
        self.command(subjects::label_del(&self.lattice, host), to_json(&body)).await
    }

    /// Publish registry credentials to every host (no reply is expected).
    pub async fn put_registries(&self, registries: &RegistryCredentialMap) -> Result<(), ControlError> {
        let subject = subjects::registries_put(&self.lattice);
        self.nats.publish(subject, to_json(registries).into()).await.map_err(|e| ControlError::nats("publish", e))?;
        self.nats.flush().await.map_err(|e| ControlError::nats("flush", e))
    }

    /// Ask which hosts could run an actor; collects bids until the auction timeout.
    pub async fn actor_auction(
        &self,
        actor_ref: &str,
        constraints: ConstraintMap,
    ) -> Result<Vec<ActorAuctionAck>, ControlError> {
        let body = ActorAuctionRequest { actor_ref: actor_ref.to_owned(), constraints };
        self.gather(subjects::auction_actor(&self.lattice), to_json(&body), "actor auction ack").await
    }

    /// Ask which hosts could run a provider under a link name; collects bids until the
    /// auction timeout.
    pub async fn provider_auction(
        &self,
        provider_ref: &str,
        link_name: &LinkName,
        constraints: ConstraintMap,
    ) -> Result<Vec<ProviderAuctionAck>, ControlError> {
        let body = ProviderAuctionRequest {
            constraints,
            link_name: link_name.to_string(),
            provider_ref: provider_ref.to_owned(),
        };
        self.gather(subjects::auction_provider(&self.lattice), to_json(&body), "provider auction ack").await
    }

    /// Subscribe to every lattice event (`wasmbus.evt.{lattice}.>`, so each event arrives
    /// once even though hosts also publish it on the general subject). The subscription is
    /// registered with the server when this returns.
    pub async fn events(&self) -> Result<EventStream, ControlError> {
        let sub = self
            .nats
            .subscribe(subjects::events_wildcard(&self.lattice))
            .await
            .map_err(|e| ControlError::nats("subscribe", e))?;
        self.nats.flush().await.map_err(|e| ControlError::nats("flush", e))?;
        Ok(EventStream { sub })
    }

    async fn request(&self, subject: String, body: Vec<u8>) -> Result<async_nats::Message, ControlError> {
        let request = async_nats::Request::new().payload(body.into()).timeout(Some(self.timeout));
        match self.nats.send_request(subject.clone(), request).await {
            Ok(msg) => Ok(msg),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::TimedOut => ControlError::Timeout { subject, after: self.timeout },
                RequestErrorKind::NoResponders => ControlError::NoResponders { subject },
                _ => ControlError::nats("request", e),
            }),
        }
    }

    async fn query<T: DeserializeOwned>(&self, subject: String, what: &'static str) -> Result<T, ControlError> {
        let msg = self.request(subject, Vec::new()).await?;
        decode_json(what, &msg.payload)
    }

    async fn command(&self, subject: String, body: Vec<u8>) -> Result<(), ControlError> {
        let msg = self.request(subject.clone(), body).await?;
        let ack: CtlOperationAck = decode_json("control ack", &msg.payload)?;
        ack.into_result(subject)
    }

    async fn gather<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Vec<u8>,
        what: &'static str,
    ) -> Result<Vec<T>, ControlError> {
        let inbox = self.nats.new_inbox();
        let mut sub = self.nats.subscribe(inbox.clone()).await.map_err(|e| ControlError::nats("subscribe", e))?;
        // Same connection: the server sees the subscription before the request.
        self.nats
            .publish_with_reply(subject.clone(), inbox, body.into())
            .await
            .map_err(|e| ControlError::nats("publish", e))?;
        let deadline = tokio::time::Instant::now() + self.auction_timeout;
        let mut replies = Vec::new();
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sub.next()).await {
            if msg.status == Some(StatusCode::NO_RESPONDERS) {
                break;
            }
            match decode_json::<T>(what, &msg.payload) {
                Ok(reply) => replies.push(reply),
                Err(e) => tracing::warn!(%subject, error = %lattice_proto::chain(&e), "skipping an undecodable reply"),
            }
        }
        // Best effort: the subscription dies with `sub` anyway.
        let _ = sub.unsubscribe().await;
        Ok(replies)
    }
}

/// Lattice events as they arrive ([`CtlClient::events`]); each item is an envelope (use
/// [`CloudEvent::event`] for the typed data) or the reason a message was not one.
#[derive(Debug)]
pub struct EventStream {
    sub: async_nats::Subscriber,
}

impl Stream for EventStream {
    type Item = Result<CloudEvent, ControlError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.sub.poll_next_unpin(cx).map(|msg| msg.map(|msg| CloudEvent::from_json(&msg.payload)))
    }
}
