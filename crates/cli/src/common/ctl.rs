//! What every control verb shares: its flags ([`CtlArgs`]), the exit code of a
//! control-plane failure, and finding the hosts that run something.

use std::time::Duration;

use lattice_control::types::HostInventory;
use lattice_control::{ControlError, CtlClient};
use lattice_proto::HostKey;

use crate::common::nats::{NatsArgs, connect};
use crate::common::output::{Out, note, table};
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

/// The exit code of a control-plane failure: a host's refusal or nobody answering is a
/// "no" (1), a request this side refused to send is bad input (2), the rest is I/O (3).
pub(crate) fn ctl_failure(e: ControlError) -> Failure {
    match e {
        ControlError::Rejected { .. } | ControlError::NoResponders { .. } => Failure::no(e),
        ControlError::Invalid { .. } => Failure::bad_input(e),
        other => Failure::from(anyhow::Error::from(other)),
    }
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
