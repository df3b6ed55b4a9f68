//! `lattice get hosts|inventory [HOST]|links|claims`: what the lattice runs, asked over the
//! control interface (`ping.hosts`, `get.{host}.inv`, `get.links`, `get.claims`).
//!
//! Human tables by default; with `--json` one object per line in the 0.82 reply shapes
//! (a `Host`, a `HostInventory`, a `LinkDefinition`, a claims map), so scripts read the
//! same fields `wash` users know.
//!
//! This module also holds what every control verb shares ([`CtlArgs`], [`ctl_failure`],
//! [`Out`], [`parse_pairs`], [`find_hosts`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use lattice_control::types::{Host, HostInventory};
use lattice_control::{ControlError, CtlClient};
use lattice_proto::HostKey;
use serde::Serialize;

use crate::cmd::monitor::{NatsArgs, runtime};
use crate::exit::{Failure, Outcome};

/// The flags of every control verb.
#[derive(clap::Args, Debug)]
pub(crate) struct CtlArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// How long to wait for a host's answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub(crate) timeout_ms: u64,
    /// How long to collect answers from every host (pings, auctions), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) collect_ms: u64,
    /// One JSON object per line on stdout (JSON Lines).
    #[arg(long)]
    pub(crate) json: bool,
}

impl CtlArgs {
    /// Connect to NATS (with `--creds`) and build a control client for `--lattice`.
    pub(crate) async fn client(&self, name: &str) -> Result<CtlClient, Failure> {
        let lattice = self.nats.lattice()?;
        let nats = connect(&self.nats, name).await?;
        Ok(CtlClient::builder(nats)
            .lattice(lattice)
            .timeout(Duration::from_millis(self.timeout_ms.max(1)))
            .auction_timeout(Duration::from_millis(self.collect_ms.max(1)))
            .build())
    }

    /// Where the verb's output goes.
    pub(crate) fn out(&self) -> Out {
        Out { json: self.json }
    }
}

/// Connect to `--nats-url` with `--creds`, named `name` in the server's monitoring.
pub(crate) async fn connect(nats: &NatsArgs, name: &str) -> Result<async_nats::Client, Failure> {
    let conn = lattice_rpc::NatsOptions::new(&nats.nats_url)
        .creds_file(nats.creds.clone())
        .name(name)
        .connect()
        .await
        .with_context(|| format!("connecting to NATS at {}", nats.nats_url))?;
    Ok(conn.client)
}

/// The exit code of a control-plane failure: a host's refusal or nobody answering is a
/// "no" (1), a request this side refused to send is bad input (2), the rest is I/O (3).
pub(crate) fn ctl_failure(e: ControlError) -> Failure {
    match e {
        ControlError::Rejected { .. } | ControlError::NoResponders { .. } => Failure::no(e),
        ControlError::Invalid { .. } => Failure::bad_input(e),
        other => Failure::from(anyhow::Error::from(other)),
    }
}

/// Parse `--host` (exit 2 when it is not a host key).
pub(crate) fn parse_host(text: &str) -> Result<HostKey, Failure> {
    HostKey::parse(text.trim()).map_err(|e| Failure::bad_input(anyhow::anyhow!("host '{text}': {e}")))
}

/// Parse `k=v` pairs (labels, constraints, annotations, link values); exit 2 otherwise.
pub(crate) fn parse_pairs(what: &str, pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Failure::bad_input(anyhow::anyhow!("{what} '{pair}' is not KEY=VALUE"))),
        })
        .collect()
}

/// Human lines or JSON Lines on stdout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    /// Write one line to stdout.
    pub(crate) fn line(&self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush()).context("writing to stdout")?;
        Ok(())
    }

    /// Write one JSON object as a line.
    pub(crate) fn json(&self, value: &impl Serialize) -> Result<(), Failure> {
        self.line(&serde_json::to_string(value).context("encoding JSON")?)
    }

    /// The human line, or the JSON object, depending on `--json`.
    pub(crate) fn either(&self, human: impl FnOnce() -> String, json: &impl Serialize) -> Result<(), Failure> {
        if self.json { self.json(json) } else { self.line(&human()) }
    }
}

/// Progress and notes for humans, on stderr (never on stdout).
pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}

/// The inventories of every host answering `ping.hosts`, or only of `host` when given.
pub(crate) async fn inventories(ctl: &CtlClient, host: Option<&HostKey>) -> Result<Vec<HostInventory>, Failure> {
    let hosts = match host {
        Some(h) => vec![h.clone()],
        None => {
            let mut ids = Vec::new();
            for h in ctl.ping_hosts().await.map_err(ctl_failure)? {
                match HostKey::parse(&h.id) {
                    Ok(k) => ids.push(k),
                    Err(e) => note(&format!("warning: skipping a host with a bad id '{}': {e}", h.id)),
                }
            }
            ids.sort();
            ids
        }
    };
    let mut out = Vec::new();
    for h in hosts {
        out.push(ctl.get_inventory(&h).await.map_err(ctl_failure)?);
    }
    Ok(out)
}

/// The inventories (see [`inventories`]) in which `runs` finds what a verb looks for.
pub(crate) async fn find_hosts(
    ctl: &CtlClient,
    host: Option<&HostKey>,
    runs: impl Fn(&HostInventory) -> bool,
) -> Result<Vec<HostInventory>, Failure> {
    Ok(inventories(ctl, host).await?.into_iter().filter(|inv| runs(inv)).collect())
}

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

/// `get.links` as a table or JSON Lines (also `lattice link get`).
pub(crate) async fn print_links(client: &CtlClient, out: Out) -> Outcome {
    let links = client.get_links().await.map_err(ctl_failure)?;
    if out.json {
        return links.iter().try_for_each(|l| out.json(l));
    }
    if links.is_empty() {
        return out.line("no links");
    }
    let rows = links
        .iter()
        .map(|l| {
            let values: Vec<String> = l.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            vec![
                l.actor_id.clone(),
                l.provider_id.clone(),
                l.contract_id.clone(),
                l.link_name.clone(),
                values.join(","),
            ]
        })
        .collect();
    out.line(&table(&["ACTOR", "PROVIDER", "CONTRACT", "LINK NAME", "VALUES"], rows))
}

async fn hosts(client: &CtlClient, out: Out) -> Outcome {
    let mut hosts: Vec<Host> = client.ping_hosts().await.map_err(ctl_failure)?;
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
            vec![h.id.clone(), h.friendly_name.clone(), h.uptime_human.clone(), h.version.clone(), labels(&h.labels)]
        })
        .collect();
    out.line(&table(&["HOST ID", "FRIENDLY NAME", "UPTIME", "VERSION", "LABELS"], rows))
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

/// A plain text table: a header row, then rows, columns padded to the widest cell.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut lines = vec![render(header.to_vec())];
    lines.extend(rows.iter().map(|r| render(r.iter().map(String::as_str).collect())));
    lines.join("\n")
}
