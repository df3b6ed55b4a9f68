//! The host core behind the control interface: [`ControlTarget`] for [`Host`].
//!
//! Queries answer from the host's state; commands validate what can be checked at once
//! (the reference is a local file, the actor runs here, the link is well-formed) and then
//! either act at once (scaling a running actor, stopping, links, labels) or, for work that
//! takes a while (loading a module, launching a provider), ack first and report the outcome
//! as events, as 0.82 does (`actors_started` / `actors_start_failed`, `provider_started` /
//! `provider_start_failed`).

use std::time::Duration;

use lattice_control::LatticeEvent;
use lattice_control::events::ActorsStartFailedData;
use lattice_control::storage::StoredClaims;
use lattice_control::types::{
    ActorDescription, ActorInstance, Host as HostInfo, HostInventory, HostLabel, LabelMap, ProviderDescription,
    RegistryCredentialMap, RemoveLinkDefinitionRequest, ScaleActorCommand, StartProviderCommand, StopActorCommand,
    StopProviderCommand,
};
use lattice_proto::{LinkDefinition, LinkName};

use crate::control::{CommandError, ControlTarget, uptime_human};
use crate::error::{HostError, chain};
use crate::host::Host;
use crate::load_policy;
use crate::provider::ProviderSpec;

/// The version reported in `ping.hosts` and inventories.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

fn command_error(e: &HostError) -> CommandError {
    match e {
        HostError::NotRunning(text) => CommandError::NotFound(text.clone()),
        HostError::Reference { .. } | HostError::InvalidLink(_) => CommandError::Refused(e.to_string()),
        _ => CommandError::failed(e),
    }
}

/// Check that `reference` is a local file that exists (what can be refused before acking).
fn too_many_starts() -> CommandError {
    CommandError::Refused(format!(
        "too many starts in progress on this host (at most {}); try again later",
        crate::host::MAX_CONTROL_STARTS
    ))
}

/// What can be refused before acking: a malformed reference, `:latest` without
/// `--allow-latest` ([`crate::resolve::check`]); a local file only when the host allows
/// file loads and it exists within the size limit ([`load_policy::check_control_reference`]).
fn check_reference(host: &Host, reference: &str) -> Result<(), CommandError> {
    let refused = |e: HostError| CommandError::Refused(e.to_string());
    match crate::resolve::classify(reference).map_err(refused)? {
        crate::resolve::Source::Oci(r) => host.registries().check_request(&r).map_err(|e| refused(e.into())),
        crate::resolve::Source::Local(_) => match load_policy::check_control_reference(host.config(), reference) {
            Ok(_) => Ok(()),
            Err(HostError::Io { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(CommandError::Refused(format!("no such file: {}", path.display())))
            }
            Err(e) => Err(refused(e)),
        },
    }
}

impl ControlTarget for Host {
    async fn host_info(&self) -> HostInfo {
        let c = self.config();
        HostInfo {
            cluster_issuers: c.cluster_issuers.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
            ctl_host: c.ctl_url.clone(),
            friendly_name: self.friendly_name().to_owned(),
            id: self.key().as_str().to_owned(),
            issuer: self.cluster_key().as_str().to_owned(),
            js_domain: c.js_domain.clone(),
            labels: self.labels(),
            lattice: self.lattice().as_str().to_owned(),
            lattice_prefix: self.lattice().as_str().to_owned(),
            rpc_host: c.rpc_url.clone(),
            uptime_human: uptime_human(self.uptime()),
            uptime_seconds: self.uptime().as_secs(),
            version: VERSION.to_owned(),
            connections: Some(self.connections()),
        }
    }

    async fn inventory(&self) -> HostInventory {
        let actors = self
            .inner
            .actors
            .lock()
            .await
            .values()
            .map(|e| {
                let claims = e.served.module().claims();
                ActorDescription {
                    id: claims.actor().as_str().to_owned(),
                    image_ref: Some(e.image_ref.clone()),
                    name: claims.name().map(str::to_owned),
                    instances: vec![ActorInstance {
                        annotations: Some(e.annotations.clone()),
                        image_ref: Some(e.image_ref.clone()),
                        instance_id: e.instance_id.clone(),
                        revision: claims.metadata().rev.unwrap_or_default(),
                        max_instances: e.served.max_instances(),
                    }],
                }
            })
            .collect();
        let providers = self
            .inner
            .providers
            .lock()
            .await
            .values()
            .map(|p| ProviderDescription {
                annotations: Some(p.annotations().clone()),
                id: p.key().as_str().to_owned(),
                image_ref: Some(p.reference().to_owned()),
                contract_id: p.claims().contract_id.clone(),
                link_name: p.link_name().as_str().to_owned(),
                name: Some(p.claims().name.clone()),
                revision: p.claims().revision.parse().unwrap_or_default(),
            })
            .collect();
        HostInventory {
            actors,
            providers,
            host_id: self.key().as_str().to_owned(),
            issuer: self.cluster_key().as_str().to_owned(),
            friendly_name: self.friendly_name().to_owned(),
            labels: self.labels(),
            version: VERSION.to_owned(),
            uptime_human: uptime_human(self.uptime()),
            uptime_seconds: self.uptime().as_secs(),
        }
    }

    async fn links(&self) -> Vec<LinkDefinition> {
        Host::links(self).links()
    }

    async fn claims(&self) -> Vec<StoredClaims> {
        Host::links(self).claims()
    }

    async fn put_link(&self, link: LinkDefinition) -> Result<(), CommandError> {
        Host::put_link(self, link).await.map_err(|e| command_error(&e))
    }

    async fn del_link(&self, link: RemoveLinkDefinitionRequest) -> Result<(), CommandError> {
        Host::del_link(self, &link.actor_id, &link.contract_id, &link.link_name).await.map_err(|e| command_error(&e))
    }

    async fn scale_actor(&self, command: ScaleActorCommand) -> Result<(), CommandError> {
        let annotations = command.annotations.clone().unwrap_or_default();
        if self.running_actor_key(&command.actor_ref).await.is_some() {
            return Host::scale_actor(self, &command.actor_ref, command.max_instances, annotations)
                .await
                .map(drop)
                .map_err(|e| command_error(&e));
        }
        if command.max_instances == 0 {
            return Ok(());
        }
        check_reference(self, &command.actor_ref)?;
        let permit = self.control_start_permit().ok_or_else(too_many_starts)?;
        let host = self.clone();
        self.inner.tracker.spawn(async move {
            let _permit = permit;
            if let Err(e) =
                Host::scale_actor(&host, &command.actor_ref, command.max_instances, annotations.clone()).await
            {
                tracing::warn!(actor_ref = %command.actor_ref, error = %e, "actor start failed");
                let data = ActorsStartFailedData {
                    annotations,
                    error: chain(&e),
                    host_id: host.key().as_str().to_owned(),
                    image_ref: command.actor_ref.clone(),
                    public_key: String::new(),
                };
                host.events().emit(LatticeEvent::ActorsStartFailed(data)).await;
            }
        });
        Ok(())
    }

    async fn stop_actor(&self, command: StopActorCommand) -> Result<(), CommandError> {
        Host::stop_actor(self, &command.actor_ref).await.map_err(|e| command_error(&e))
    }

    async fn start_provider(&self, command: StartProviderCommand) -> Result<(), CommandError> {
        let link = LinkName::new(command.link_name.clone()).map_err(|e| CommandError::Refused(e.to_string()))?;
        check_reference(self, &command.provider_ref)?;
        let spec = ProviderSpec {
            reference: command.provider_ref.clone(),
            link_name: link,
            claims: None,
            config_json: command.configuration.clone(),
            annotations: command.annotations.clone().unwrap_or_default(),
        };
        let permit = self.control_start_permit().ok_or_else(too_many_starts)?;
        let host = self.clone();
        // Failures are published as `provider_start_failed` by start_provider itself.
        self.inner.tracker.spawn(async move {
            let _permit = permit;
            if let Err(e) = Host::start_provider(&host, spec).await {
                tracing::warn!(provider_ref = %command.provider_ref, error = %e, "provider start failed");
            }
        });
        Ok(())
    }

    async fn stop_provider(&self, command: StopProviderCommand) -> Result<(), CommandError> {
        Host::stop_provider(self, &command.provider_ref, &command.link_name).await.map_err(|e| command_error(&e))
    }

    async fn put_label(&self, label: HostLabel) -> Result<(), CommandError> {
        if label.key.trim().is_empty() {
            return Err(CommandError::Refused("a label needs a key".into()));
        }
        if label.key.starts_with("hostcore.") {
            return Err(CommandError::Refused(format!("label {} is built in and cannot be changed", label.key)));
        }
        Host::put_label(self, label.key, label.value);
        Ok(())
    }

    async fn del_label(&self, key: String) -> Result<(), CommandError> {
        if key.starts_with("hostcore.") {
            return Err(CommandError::Refused(format!("label {key} is built in and cannot be removed")));
        }
        if Host::del_label(self, &key) { Ok(()) } else { Err(CommandError::NotFound(format!("no such label: {key}"))) }
    }

    async fn labels(&self) -> LabelMap {
        Host::labels(self)
    }

    async fn put_registries(&self, registries: RegistryCredentialMap) -> Result<(), CommandError> {
        for (authority, entry) in registries {
            let credential = match (entry.username, entry.password, entry.token) {
                (Some(username), Some(password), _) => Some(lattice_oci::Credential::Basic { username, password }),
                (_, _, Some(token)) => Some(lattice_oci::Credential::Token(token)),
                _ => None,
            };
            tracing::info!(registry = %authority, auth = credential.as_ref().map_or("anonymous", |c| match c {
                lattice_oci::Credential::Basic { .. } => "basic",
                lattice_oci::Credential::Token(_) => "token",
            }), "registry credentials set (registries.put)");
            self.registries().set_credential(&authority, credential);
        }
        Ok(())
    }

    async fn stop_host(&self, timeout: Option<Duration>) {
        tracing::info!(?timeout, "stop requested over the control interface");
        self.request_stop();
    }
}
