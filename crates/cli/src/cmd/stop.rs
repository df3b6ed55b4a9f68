//! `lattice stop actor|provider|host`: stop something running in the lattice.
//!
//! ```text
//! lattice stop actor KEY_OR_REF [--host H] [--annotation k=v]...
//! lattice stop provider KEY_OR_REF [--link-name L] [--contract C] [--host H]
//! lattice stop host HOST_ID [--drain-ms MS]
//! ```
//!
//! An actor or provider is named by its public key or by the reference it was started
//! from (a Lattice host takes either; 0.82 only took the key, so the key is what is sent
//! when the inventory shows it). Without `--host`, every host whose inventory shows it is
//! told (`cmd.{host}.sa` / `cmd.{host}.sp`). Unless `--no-wait`, the verb waits for the
//! host's `actors_stopped` / `provider_stopped` / `host_stopped` event.

use lattice_control::LatticeEvent;
use lattice_control::types::HostInventory;
use lattice_proto::{HostKey, LinkName};

use crate::common::ctl::{CtlArgs, ctl_failure, find_hosts};
use crate::common::output::note;
use crate::common::parse::{local_ref, parse_host, parse_pairs};
use crate::common::runtime::runtime;
use crate::common::wait::{Verdict, WaitArgs, Waiter};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice stop`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Stop an actor (all its instances on the host).
    Actor {
        /// The actor's public key (`M…`) or the reference it was started from.
        #[arg(value_name = "KEY_OR_REF")]
        actor: String,
        /// Only on this host (default: every host running it).
        #[arg(long, value_name = "HOST_ID")]
        host: Option<String>,
        /// Only the instances with these annotations; repeatable.
        #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Stop a provider.
    Provider {
        /// The provider's public key (`V…`) or the reference it was started from.
        #[arg(value_name = "KEY_OR_REF")]
        provider: String,
        /// Its link name.
        #[arg(long, short = 'l', value_name = "NAME", default_value = "default")]
        link_name: String,
        /// Its contract (default: read from the inventory).
        #[arg(long, value_name = "CONTRACT")]
        contract: Option<String>,
        /// Only on this host (default: every host running it).
        #[arg(long, value_name = "HOST_ID")]
        host: Option<String>,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Stop a host (it stops its actors and providers first).
    Host {
        /// The host's public key (`N…`).
        #[arg(value_name = "HOST_ID")]
        host: String,
        /// How long the host may take to drain, in milliseconds.
        #[arg(long, value_name = "MS")]
        drain_ms: Option<u64>,
        #[command(flatten)]
        ctl: CtlArgs,
    },
}

/// How an entity is named on the command line: a key, or a reference to match.
fn name_of(text: &str) -> Result<String, Failure> {
    let t = text.trim();
    let looks_like_key = t.len() == 56 && t.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if looks_like_key { Ok(t.to_owned()) } else { local_ref(t) }
}

pub(crate) fn run(args: Args) -> Outcome {
    let wait = args.wait;
    match args.what {
        What::Actor { actor, host, annotations, ctl } => {
            let actor = name_of(&actor)?;
            let host = host.as_deref().map(parse_host).transpose()?;
            let annotations = parse_pairs("annotation", &annotations)?;
            let annotations = (!annotations.is_empty()).then_some(annotations);
            runtime()?.block_on(async move {
                let client = ctl.client("lattice-stop").await?;
                let out = ctl.out();
                let runs = |inv: &HostInventory| -> Option<String> {
                    let found = inv.actors.iter().find(|a| {
                        a.id == actor
                            || a.image_ref.as_deref() == Some(actor.as_str())
                            || a.instances.iter().any(|i| i.image_ref.as_deref() == Some(actor.as_str()))
                    });
                    found.map(|a| a.id.clone())
                };
                let targets: Vec<(HostKey, String)> = match &host {
                    Some(h) => vec![(h.clone(), actor.clone())],
                    None => {
                        let hosts = find_hosts(&client, None, |inv| runs(inv).is_some()).await?;
                        hosts
                            .iter()
                            .filter_map(|inv| Some((HostKey::parse(&inv.host_id).ok()?, runs(inv)?)))
                            .collect()
                    }
                };
                if targets.is_empty() {
                    return Err(Failure::no(anyhow::anyhow!("no host runs actor {actor}")));
                }
                for (host, key) in targets {
                    let mut waiter = Waiter::new(&client, wait).await?;
                    client.stop_actor(&host, &key, annotations.clone()).await.map_err(ctl_failure)?;
                    let host_s = host.to_string();
                    waiter
                        .until(&format!("host {host} to stop {key}"), |_, e| match e {
                            LatticeEvent::ActorsStopped(d)
                                if d.host_id == host_s && (d.public_key == key || d.image_ref == key) =>
                            {
                                Verdict::Done(())
                            }
                            _ => Verdict::Skip,
                        })
                        .await?;
                    out.either(
                        || format!("actor {key} stopped on host {host}"),
                        &serde_json::json!({"result": waiter.result("stopped"), "host_id": host.as_str(), "actor": key}),
                    )?;
                }
                Ok(())
            })
        }
        What::Provider { provider, link_name, contract, host, ctl } => {
            let provider = name_of(&provider)?;
            let link = LinkName::new(link_name).map_err(|e| Failure::bad_input(anyhow::anyhow!("--link-name: {e}")))?;
            let host = host.as_deref().map(parse_host).transpose()?;
            runtime()?.block_on(async move {
                let client = ctl.client("lattice-stop").await?;
                let out = ctl.out();
                let runs = |inv: &HostInventory| -> Option<(String, String)> {
                    let found = inv.providers.iter().find(|p| {
                        (p.id == provider || p.image_ref.as_deref() == Some(provider.as_str()))
                            && p.link_name == link.as_str()
                    });
                    found.map(|p| (p.id.clone(), p.contract_id.clone()))
                };
                let hosts = find_hosts(&client, host.as_ref(), |inv| runs(inv).is_some()).await?;
                let mut targets: Vec<(HostKey, String, String)> = hosts
                    .iter()
                    .filter_map(|inv| {
                        let (key, contract) = runs(inv)?;
                        Some((HostKey::parse(&inv.host_id).ok()?, key, contract))
                    })
                    .collect();
                if targets.is_empty() {
                    match &host {
                        // Let the host say what it thinks.
                        Some(h) => targets.push((h.clone(), provider.clone(), contract.clone().unwrap_or_default())),
                        None => {
                            return Err(Failure::no(anyhow::anyhow!(
                                "no host runs provider {provider} with link name {link}"
                            )));
                        }
                    }
                }
                for (host, key, found_contract) in targets {
                    let contract = contract.clone().unwrap_or(found_contract);
                    let mut waiter = Waiter::new(&client, wait).await?;
                    client.stop_provider(&host, &key, &link, &contract, None).await.map_err(ctl_failure)?;
                    let (host_s, link_s) = (host.to_string(), link.to_string());
                    waiter
                        .until(&format!("host {host} to stop provider {key}"), |_, e| match e {
                            LatticeEvent::ProviderStopped(d)
                                if d.host_id == host_s && d.link_name == link_s && d.public_key == key =>
                            {
                                Verdict::Done(())
                            }
                            _ => Verdict::Skip,
                        })
                        .await?;
                    out.either(
                        || format!("provider {key} (link {link}) stopped on host {host}"),
                        &serde_json::json!({
                            "result": waiter.result("stopped"),
                            "host_id": host.as_str(), "provider": key, "link_name": link.as_str(),
                        }),
                    )?;
                }
                Ok(())
            })
        }
        What::Host { host, drain_ms, ctl } => {
            let host = parse_host(&host)?;
            runtime()?.block_on(async move {
                let client = ctl.client("lattice-stop").await?;
                let mut waiter = Waiter::new(&client, wait).await?;
                let drain = drain_ms.map(std::time::Duration::from_millis);
                client.stop_host(&host, drain).await.map_err(ctl_failure)?;
                let host_s = host.to_string();
                waiter
                    .until(&format!("host {host} to stop"), |envelope, e| match e {
                        LatticeEvent::HostStopped(_) if envelope.source == host_s => Verdict::Done(()),
                        _ => Verdict::Skip,
                    })
                    .await?;
                if !waiter.waits() {
                    note("the host accepted; it stops in the background");
                }
                ctl.out().either(
                    || format!("host {host} stopped"),
                    &serde_json::json!({"result": waiter.result("stopped"), "host_id": host.as_str()}),
                )
            })
        }
    }
}
