//! `lattice link put|del|get`: link definitions over the control interface (`linkdefs.put`,
//! `linkdefs.del`, `get.links`), with wash's argument order:
//!
//! ```text
//! lattice link put ACTOR_ID PROVIDER_ID CONTRACT_ID [KEY=VALUE]... [--link-name NAME]
//! lattice link del ACTOR_ID CONTRACT_ID [--link-name NAME]
//! lattice link get            (also: lattice link query, lattice get links)
//! ```
//!
//! A put is checked before it is sent (key kinds, link name), and a host stores it in
//! `LATTICEDATA_{lattice}` and tells the provider. `--json` prints `{"result":"ok",…}` for
//! put/del and one link per line for get.

use lattice_proto::{ActorKey, LinkDefinition, LinkName, ProviderKey};

use crate::common::ctl::{CtlArgs, ctl_failure, print_links};
use crate::common::parse::parse_pairs;
use crate::common::runtime::runtime;
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice link`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    op: Op,
}

#[derive(clap::Subcommand, Debug)]
enum Op {
    /// Link an actor to a provider (`linkdefs.put`).
    Put {
        /// The actor's public key (`M…`).
        actor_id: String,
        /// The provider's public key (`V…`).
        provider_id: String,
        /// The contract, e.g. `wasmcloud:httpserver`.
        contract_id: String,
        /// Link values for the provider, e.g. `address=127.0.0.1:8080`.
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// The link name.
        #[arg(long, short = 'l', value_name = "NAME", default_value = "default")]
        link_name: String,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Remove a link (`linkdefs.del`).
    #[command(alias = "delete")]
    Del {
        /// The actor's public key (`M…`).
        actor_id: String,
        /// The contract.
        contract_id: String,
        /// The link name.
        #[arg(long, short = 'l', value_name = "NAME", default_value = "default")]
        link_name: String,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// List every link (`get.links`).
    #[command(alias = "query")]
    Get {
        #[command(flatten)]
        ctl: CtlArgs,
    },
}

pub(crate) fn run(args: Args) -> Outcome {
    let op = args.op;
    let bad = |what: &str, e: &dyn std::fmt::Display| Failure::bad_input(anyhow::anyhow!("{what}: {e}"));
    runtime()?.block_on(async move {
        match op {
            Op::Put { actor_id, provider_id, contract_id, values, link_name, ctl } => {
                let out = ctl.out();
                ActorKey::parse(&actor_id).map_err(|e| bad("actor id", &e))?;
                ProviderKey::parse(&provider_id).map_err(|e| bad("provider id", &e))?;
                LinkName::new(link_name.clone()).map_err(|e| bad("--link-name", &e))?;
                if contract_id.trim().is_empty() {
                    return Err(Failure::bad_input(anyhow::anyhow!("the contract id must not be empty")));
                }
                let values = parse_pairs("link value", &values)?;
                let ld = LinkDefinition {
                    actor_id,
                    provider_id,
                    link_name,
                    contract_id,
                    values: values.into_iter().collect(),
                };
                let client = ctl.client("lattice-link").await?;
                client.put_link(&ld).await.map_err(ctl_failure)?;
                out.either(
                    || format!("linked {} to {} ({}, link {})", ld.actor_id, ld.provider_id, ld.contract_id, ld.link_name),
                    &serde_json::json!({"result": "ok", "link": ld}),
                )
            }
            Op::Del { actor_id, contract_id, link_name, ctl } => {
                let out = ctl.out();
                ActorKey::parse(&actor_id).map_err(|e| bad("actor id", &e))?;
                let link = LinkName::new(link_name).map_err(|e| bad("--link-name", &e))?;
                let client = ctl.client("lattice-link").await?;
                client.del_link(&actor_id, &contract_id, &link).await.map_err(ctl_failure)?;
                out.either(
                    || format!("removed the {contract_id} link of {actor_id} (link {link})"),
                    &serde_json::json!({"result": "ok", "actor_id": actor_id, "contract_id": contract_id, "link_name": link.as_str()}),
                )
            }
            Op::Get { ctl } => {
                let client = ctl.client("lattice-link").await?;
                print_links(&client, ctl.out()).await
            }
        }
    })
}
