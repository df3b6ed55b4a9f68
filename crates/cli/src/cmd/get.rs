//! `lattice get hosts|inventory [HOST]|links|claims`: what the lattice runs, asked over the
//! control interface (`ping.hosts`, `get.{host}.inv`, `get.links`, `get.claims`).
//!
//! Human tables by default; with `--json` one object per line in the 0.82 reply shapes
//! (a `Host`, a `HostInventory`, a `LinkDefinition`, a claims map), so scripts read the
//! same fields `wash` users know. What every control verb shares is in
//! [`crate::common`].

use std::collections::BTreeMap;

use lattice_control::CtlClient;
use lattice_control::types::{Host, HostInventory};
use lattice_proto::HostKey;

use crate::common::ctl::print_links;
use crate::common::ctl::{CtlArgs, ctl_failure, inventories};
use crate::common::output::{Out, note, table};
use crate::common::parse::parse_host;
use crate::common::runtime::runtime;
use crate::exit::Outcome;

/// Arguments of `lattice get`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Every host in the lattice (`ping.hosts`).
    Hosts {
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// What a host runs (every host's inventory without HOST).
    #[command(alias = "inv")]
    Inventory {
        /// The host's public key (`N…`).
        host: Option<String>,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Every link definition in the lattice.
    Links {
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Every cached actor and provider claims in the lattice.
    Claims {
        #[command(flatten)]
        ctl: CtlArgs,
    },
}

pub(crate) fn run(args: Args) -> Outcome {
    enum Query {
        Hosts,
        Inventory(Option<HostKey>),
        Links,
        Claims,
    }
    let (query, ctl) = match args.what {
        What::Hosts { ctl } => (Query::Hosts, ctl),
        What::Inventory { host, ctl } => (Query::Inventory(host.as_deref().map(parse_host).transpose()?), ctl),
        What::Links { ctl } => (Query::Links, ctl),
        What::Claims { ctl } => (Query::Claims, ctl),
    };
    runtime()?.block_on(async move {
        let client = ctl.client("lattice-get").await?;
        let out = ctl.out();
        match query {
            Query::Hosts => hosts(&client, out).await,
            Query::Inventory(host) => {
                let invs = inventories(&client, host.as_ref()).await?;
                if invs.is_empty() && !out.json {
                    note("no hosts answered");
                }
                for inv in invs {
                    out.either(|| human_inventory(&inv), &inv)?;
                }
                Ok(())
            }
            Query::Links => print_links(&client, out).await,
            Query::Claims => {
                let claims = client.get_claims().await.map_err(ctl_failure)?;
                if out.json {
                    claims.iter().try_for_each(|c| out.json(c))
                } else if claims.is_empty() {
                    out.line("no claims")
                } else {
                    let get = |c: &BTreeMap<String, String>, k: &str| c.get(k).cloned().unwrap_or_default();
                    let rows = claims
                        .iter()
                        .map(|c| {
                            let what = match c.get("contract_id") {
                                Some(contract) => format!("provider {contract}"),
                                None => format!("actor caps [{}]", get(c, "caps")),
                            };
                            vec![get(c, "sub"), get(c, "name"), what, get(c, "version"), get(c, "iss")]
                        })
                        .collect();
                    out.line(&table(&["SUBJECT", "NAME", "KIND", "VERSION", "ISSUER"], rows))
                }
            }
        }
    })
}

async fn hosts(client: &CtlClient, out: Out) -> Outcome {
    let mut hosts: Vec<Host> = client.ping_hosts_with_connections().await.map_err(ctl_failure)?;
    hosts.sort_by(|a, b| a.id.cmp(&b.id));
    if out.json {
        return hosts.iter().try_for_each(|h| out.json(h));
    }
    if hosts.is_empty() {
        return out.line("no hosts answered");
    }
    let rows = hosts
        .iter()
        .map(|h| {
            // A 0.82 host does not report its connections.
            let nats = h.connections.as_ref().map_or_else(|| "-".to_owned(), |c| c.summary());
            vec![
                h.id.clone(),
                h.friendly_name.clone(),
                h.uptime_human.clone(),
                h.version.clone(),
                nats,
                labels(&h.labels),
            ]
        })
        .collect();
    out.line(&table(&["HOST ID", "FRIENDLY NAME", "UPTIME", "VERSION", "NATS", "LABELS"], rows))
}

fn labels(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn human_inventory(inv: &HostInventory) -> String {
    let mut s =
        format!("host {} ({}), version {}, up {}\n", inv.host_id, inv.friendly_name, inv.version, inv.uptime_human);
    s.push_str(&format!("  labels: {}\n", labels(&inv.labels)));
    if inv.actors.is_empty() {
        s.push_str("  actors: none\n");
    } else {
        s.push_str("  actors:\n");
        for a in &inv.actors {
            for i in &a.instances {
                let annotations = i.annotations.as_ref().filter(|m| !m.is_empty()).map(labels);
                s.push_str(&format!(
                    "    {} {}  max_instances {}  {}{}\n",
                    a.id,
                    a.name.as_deref().unwrap_or("-"),
                    i.max_instances,
                    i.image_ref.as_deref().or(a.image_ref.as_deref()).unwrap_or("-"),
                    annotations.map(|a| format!("  [{a}]")).unwrap_or_default(),
                ));
            }
        }
    }
    if inv.providers.is_empty() {
        s.push_str("  providers: none");
    } else {
        s.push_str("  providers:");
        for p in &inv.providers {
            s.push_str(&format!(
                "\n    {} {}  {}  link {}  {}",
                p.id,
                p.name.as_deref().unwrap_or("-"),
                p.contract_id,
                p.link_name,
                p.image_ref.as_deref().unwrap_or("-"),
            ));
        }
    }
    s
}
