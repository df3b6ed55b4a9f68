//! `lattice ui`: serve the live dashboard of a lattice (lattice-ui) until Ctrl-C.
//!
//! Prints the URL to open on stdout (one line; with `--json` one JSON object) and a
//! `serving` line on stderr. Read-only: it needs to subscribe to the event, RPC and reply
//! subjects (`--reply-prefix`, as `lattice monitor`) and to send the control queries — the
//! monitor role of `lattice nats-config` (see `lattice_ui` and docs/OPERATIONS.md).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use lattice_ui::{Ui, UiConfig, UiError};

use crate::common::nats::NatsArgs;
use crate::common::parse::{ReplyPrefixArgs, parse_issuers};
use crate::common::runtime::{interrupted, runtime};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice ui`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    nats: NatsArgs,
    /// Where to serve the page (port 0 picks a free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3030")]
    addr: SocketAddr,
    /// A trusted cluster issuer public key (`C…`; repeatable or comma-separated): invocations
    /// are verified as `lattice monitor` does and forgeries shown as alerts. Without it,
    /// alerts are off.
    #[arg(long = "issuer", value_name = "PUBKEY", value_delimiter = ',')]
    issuers: Vec<String>,
    /// The call graph shows the calls of the last SECS seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    window: u64,
    /// Milliseconds between two updates sent to the browsers (at least 100).
    #[arg(long, value_name = "MS", default_value_t = 250)]
    interval_ms: u64,
    /// Seconds between two full queries of hosts, inventories and links (events update
    /// the page in between).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    refresh: u64,
    #[command(flatten)]
    replies: ReplyPrefixArgs,
    /// Print the URL as one JSON object (`{"url": …}`) instead of a plain line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    let lattice = args.nats.lattice()?;
    let issuers = parse_issuers(&args.issuers)?;
    let mut config = UiConfig::new(lattice.clone());
    config.issuers = issuers;
    config.addr = args.addr;
    config.window = Duration::from_secs(args.window);
    config.interval = Duration::from_millis(args.interval_ms);
    config.refresh = Duration::from_secs(args.refresh);
    config.reply_prefixes = args.replies.prefixes();
    runtime()?.block_on(async move {
        let conn = lattice_rpc::NatsOptions::new(&args.nats.nats_url)
            .auth(args.nats.auth()?)
            .name("lattice-ui")
            .subscription_capacity(lattice_monitor::nats::SUBSCRIPTION_CAPACITY)
            .connect()
            .await
            .map_err(anyhow::Error::from)?;
        let mut ui = Ui::start(conn, config).await.map_err(|e| match e {
            UiError::Config(_) => Failure::bad_input(e),
            other => Failure::from(anyhow::Error::from(other)),
        })?;
        let url = ui.url();
        {
            let mut out = std::io::stdout().lock();
            let line = if args.json { serde_json::json!({ "url": url }).to_string() } else { url.clone() };
            writeln!(out, "{line}").and_then(|()| out.flush()).context("writing to stdout")?;
        }
        let alerts =
            if args.issuers.is_empty() { "alerts off (no --issuer)".to_owned() } else { "alerts on".to_owned() };
        eprintln!("lattice ui: serving {url} (lattice {lattice} on {}; {alerts}); Ctrl-C stops", args.nats.nats_url);
        tokio::select! {
            () = interrupted() => {}
            e = ui.failed() => return Err(Failure::from(anyhow::Error::from(e))),
        }
        ui.stop().await;
        eprintln!("lattice ui: stopped");
        Ok(())
    })
}
