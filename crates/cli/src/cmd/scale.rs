//! `lattice scale actor ACTOR_ID COUNT [--host H] [--annotation k=v]...`: set a running
//! actor's `max_instances`.
//!
//! 0.82 scales by reference, not by key (CONVENTIONS "lattice scale actor"): this verb looks
//! the actor up in the inventories, takes the reference it was started from, and sends
//! `cmd.{host}.scale` with it and `count`. Without `--host`, every host running the actor
//! is scaled. `COUNT` 0 stops it. Unless `--no-wait`, the verb waits for each host's
//! `actor_scaled` event.

use lattice_control::LatticeEvent;
use lattice_control::types::HostInventory;
use lattice_proto::{ActorKey, HostKey};

use crate::common::ctl::{CtlArgs, ctl_failure, find_hosts};
use crate::common::parse::{parse_host, parse_pairs};
use crate::common::runtime::runtime;
use crate::common::wait::{Verdict, WaitArgs, Waiter};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice scale`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Set an actor's `max_instances` on the hosts running it.
    Actor {
        /// The actor's public key (`M…`).
        #[arg(value_name = "ACTOR_ID")]
        actor: String,
        /// The new `max_instances` (0 stops it).
        #[arg(value_name = "COUNT")]
        count: u32,
        /// Only on this host (default: every host running it).
        #[arg(long, value_name = "HOST_ID")]
        host: Option<String>,
        /// The annotations of the deployment to scale; repeatable.
        #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        ctl: CtlArgs,
    },
}

pub(crate) fn run(args: Args) -> Outcome {
    let What::Actor { actor, count, host, annotations, wait, ctl } = args.what;
    let actor = ActorKey::parse(actor.trim())
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("actor id: {e} (scale takes the public key, M…)")))?;
    let host = host.as_deref().map(parse_host).transpose()?;
    let annotations = parse_pairs("annotation", &annotations)?;
    let annotations = (!annotations.is_empty()).then_some(annotations);
    runtime()?.block_on(async move {
        let client = ctl.client("lattice-scale").await?;
        let out = ctl.out();
        let image_ref = |inv: &HostInventory| -> Option<String> {
            let a = inv.actors.iter().find(|a| a.id == actor.as_str())?;
            a.instances.iter().find_map(|i| i.image_ref.clone()).or_else(|| a.image_ref.clone())
        };
        let hosts = find_hosts(&client, host.as_ref(), |inv| image_ref(inv).is_some()).await?;
        if hosts.is_empty() {
            let place = host.as_ref().map_or_else(|| "any host".to_owned(), |h| format!("host {h}"));
            return Err(Failure::no(anyhow::anyhow!(
                "actor {actor} is not running on {place}; start it with `lattice start actor REF`"
            )));
        }
        for inv in hosts {
            let (Some(reference), Ok(host)) = (image_ref(&inv), HostKey::parse(&inv.host_id)) else { continue };
            let mut waiter = Waiter::new(&client, wait).await?;
            client.scale_actor(&host, &reference, count, annotations.clone()).await.map_err(ctl_failure)?;
            let host_s = host.to_string();
            waiter
                .until(&format!("host {host} to scale {actor} to {count}"), |_, e| match e {
                    LatticeEvent::ActorScaled(d) if d.host_id == host_s && d.public_key == actor.as_str() => {
                        Verdict::Done(())
                    }
                    LatticeEvent::ActorScaleFailed(d) if d.host_id == host_s && d.public_key == actor.as_str() => {
                        Verdict::Failed(d.error.clone())
                    }
                    _ => Verdict::Skip,
                })
                .await?;
            out.either(
                || format!("actor {actor} scaled to max_instances {count} on host {host}"),
                &serde_json::json!({
                    "result": waiter.result("scaled"),
                    "host_id": host.as_str(), "public_key": actor.as_str(), "actor_ref": reference, "max_instances": count,
                }),
            )?;
        }
        Ok(())
    })
}
