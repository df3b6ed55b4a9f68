//! [`ControlTarget`]: the seam between the control interface and the host core.
//!
//! The control server knows NATS, subjects, JSON and acks; the host core knows actors,
//! providers, links and labels. The server decodes and validates every request
//! ([`lattice_control::decode_body`]: shapes, required fields, key kinds, link names), then
//! calls one method here with the typed body, and turns the result into the reply:
//! `Ok(())` → `{"accepted":true,"error":""}`, `Err(e)` → `{"accepted":false,"error":"{e}"}`.
//!
//! Methods are `async` (write `async fn` in the impl; the futures must be `Send`). Commands
//! should **return once the host has decided** whether it accepts the work, not when the
//! work is done: 0.82 acks a scale or a provider launch first and reports the outcome as
//! events (`actors_started`, `actor_scaled`, `provider_started`, `provider_start_failed`,
//! `actors_start_failed`, `actor_scale_failed`) through an [`super::EventPublisher`].
//! A client waits about 2 s for the ack.

use std::future::Future;
use std::time::Duration;

use lattice_control::storage::StoredClaims;
use lattice_control::types::{
    GetConfigKeyResponse, Host, HostInventory, HostLabel, LabelMap, RemoveLinkDefinitionRequest, ScaleActorCommand,
    StartProviderCommand, StopActorCommand, StopProviderCommand, UpdateActorCommand,
};
use lattice_proto::LinkDefinition;

/// Why the host refused a command; the `Display` text is the ack's `error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command names something this host does not run (`actor is not running on this
    /// host`, `provider … is not running on this host`, `no such label`).
    #[error("{0}")]
    NotFound(String),
    /// Well-formed, but this host will not do it (an OCI reference, a reserved label, a
    /// count above a limit).
    #[error("{0}")]
    Refused(String),
    /// The host does not implement this command at all.
    #[error("{0} is not supported by this host")]
    Unsupported(&'static str),
    /// The host tried and failed; the text is the whole error chain.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// [`CommandError::Failed`] with an error's whole source chain (`a: b: c`), as 0.82's
    /// failure events carry it.
    pub fn failed(err: &(dyn std::error::Error + 'static)) -> Self {
        CommandError::Failed(crate::error::chain(err))
    }
}

/// What the control interface needs from a host. Implemented by the host core; tests use
/// a fake. Every method is called from the control server's tasks, possibly concurrently.
pub trait ControlTarget: Send + Sync + 'static {
    /// The `ping.hosts` reply: identity, labels, uptime (see [`super::uptime_human`]),
    /// version, cluster issuers (comma-joined), the two connections' URLs, the lattice
    /// name in both `lattice` and `lattice_prefix`, `js_domain`.
    fn host_info(&self) -> impl Future<Output = Host> + Send;

    /// The `get.{host}.inv` reply, also the `host_heartbeat` data: one actor entry per
    /// public key with one `instances` entry per annotation set (carrying
    /// `max_instances`), one provider entry per (key, link name).
    fn inventory(&self) -> impl Future<Output = HostInventory> + Send;

    /// Every link in the lattice (`get.links`), as the host's view of `LATTICEDATA_{lattice}`.
    fn links(&self) -> impl Future<Output = Vec<LinkDefinition>> + Send;

    /// Every cached claims record in the lattice (`get.claims`); the server turns each into
    /// the 0.82 string map with [`StoredClaims::to_claims_map`].
    fn claims(&self) -> impl Future<Output = Vec<StoredClaims>> + Send;

    /// `linkdefs.put`: store the (validated) link in `LATTICEDATA_{lattice}` under
    /// `LINKDEF_{hash}`; the KV watch then tells the provider and publishes `linkdef_set`.
    fn put_link(&self, link: LinkDefinition) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `linkdefs.del`: delete the link (a missing one is not an error in 0.82).
    fn del_link(&self, link: RemoveLinkDefinitionRequest) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `cmd.{host}.scale`: set the actor's `max_instances` (per annotation set) to
    /// `command.max_instances`, starting it from `command.actor_ref` if it is not running;
    /// 0 stops it. `actor_ref` is the reference (0.82 scales by reference); a Lattice host
    /// may also accept the public key of a running actor.
    fn scale_actor(&self, command: ScaleActorCommand) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `cmd.{host}.sa`: stop an actor, named by public key or by the reference it was
    /// started from. Not running here → [`CommandError::NotFound`] (0.82: `actor is not
    /// running on this host`).
    fn stop_actor(&self, command: StopActorCommand) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `cmd.{host}.upd`: replace a running actor with another reference. Unsupported unless
    /// the host implements it.
    fn update_actor(&self, command: UpdateActorCommand) -> impl Future<Output = Result<(), CommandError>> + Send {
        let _ = command;
        async { Err(CommandError::Unsupported("updating an actor")) }
    }

    /// `cmd.{host}.lp`: start a provider from `provider_ref` (a provider archive) under
    /// `link_name`, with `configuration` as HostData `config_json`.
    fn start_provider(&self, command: StartProviderCommand) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `cmd.{host}.sp`: stop a provider named by public key or by the reference it was
    /// started from, under `link_name`.
    fn stop_provider(&self, command: StopProviderCommand) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `labels.{host}.put`: set a label (replacing its value).
    fn put_label(&self, label: HostLabel) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// `labels.{host}.del`: remove a label.
    fn del_label(&self, key: String) -> impl Future<Output = Result<(), CommandError>> + Send;

    /// The host's labels now (auctions, `host_stopped`). Defaults to [`Self::host_info`]'s.
    fn labels(&self) -> impl Future<Output = LabelMap> + Send {
        async { self.host_info().await.labels }
    }

    /// `cmd.{host}.stop`: begin stopping the host, letting it drain for up to `timeout`.
    /// Called after the ack has been sent and flushed. Must return promptly (start the
    /// shutdown, do not await it): the control server is part of what shuts down.
    fn stop_host(&self, timeout: Option<Duration>) -> impl Future<Output = ()> + Send;

    /// `registries.put`: credentials per registry authority (HOST.md §9). Default: ignored.
    fn put_registries(
        &self,
        registries: lattice_control::types::RegistryCredentialMap,
    ) -> impl Future<Output = Result<(), CommandError>> + Send {
        let _ = registries;
        async { Ok(()) }
    }

    /// Whether this host would run the actor (checked after the constraints). Default: yes.
    fn can_run_actor(&self, actor_ref: &str) -> impl Future<Output = bool> + Send {
        let _ = actor_ref;
        async { true }
    }

    /// Whether this host would run the provider under `link_name` (checked after the
    /// constraints). Default, as 0.82: not when a provider started from the same reference
    /// already runs here under that link name.
    fn can_run_provider(&self, provider_ref: &str, link_name: &str) -> impl Future<Output = bool> + Send {
        async move {
            let inventory = self.inventory().await;
            !inventory
                .providers
                .iter()
                .any(|p| p.image_ref.as_deref() == Some(provider_ref) && p.link_name == link_name)
        }
    }

    /// `config.put.{entity}.{key}`. Unsupported unless the host implements it.
    fn put_config(
        &self,
        entity: String,
        key: String,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<(), CommandError>> + Send {
        let _ = (entity, key, value);
        async { Err(CommandError::Unsupported("named config")) }
    }

    /// `config.del.{entity}.{key}`. Unsupported unless the host implements it.
    fn del_config(&self, entity: String, key: String) -> impl Future<Output = Result<(), CommandError>> + Send {
        let _ = (entity, key);
        async { Err(CommandError::Unsupported("named config")) }
    }

    /// `config.clear.{entity}` / `config.del.{entity}`. Unsupported unless the host
    /// implements it.
    fn clear_config(&self, entity: String) -> impl Future<Output = Result<(), CommandError>> + Send {
        let _ = entity;
        async { Err(CommandError::Unsupported("named config")) }
    }

    /// `get.config.{entity}.{key}`. Unsupported unless the host implements it.
    fn get_config(
        &self,
        entity: String,
        key: String,
    ) -> impl Future<Output = Result<GetConfigKeyResponse, CommandError>> + Send {
        let _ = (entity, key);
        async { Err(CommandError::Unsupported("named config")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn failed_joins_the_chain() {
        assert_eq!(CommandError::failed(&Outer(Inner)).to_string(), "outer: inner");
        assert_eq!(CommandError::Unsupported("named config").to_string(), "named config is not supported by this host");
    }
}
