//! `lattice spy`: a live, decoded view of the calls to and from one actor or provider.
//!
//! Shows every invocation on the entity's subject (calls to it) and every invocation
//! whose origin is the entity (calls it makes), each followed by its response: operation,
//! size, latency, outcome and a payload preview (text when printable, else hex), plus
//! the control messages a provider receives. With `--issuer` each call also shows the
//! monitor's verdict. Human lines on stdout, or with `--json` one JSON object per event
//! (tagged `event`: `invocation`, `response`, `no_response`, `control`, `malformed`).
//! A `watching` line on stderr says when it is subscribed; it runs until Ctrl-C.

use std::io::Write;

use lattice_monitor::Spy;
use lattice_monitor::spy::SpyTarget;

use crate::common::nats::NatsArgs;
use crate::common::parse::{ReplyPrefixArgs, parse_issuers};
use crate::common::runtime::{interrupted, runtime};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice spy`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The actor (`M…`) or provider (`V…`) public key to watch.
    #[arg(value_name = "ACTOR_OR_PROVIDER")]
    key: String,
    /// For a provider: watch only this link name (default: all its links).
    #[arg(long, value_name = "NAME")]
    link_name: Option<String>,
    #[command(flatten)]
    nats: NatsArgs,
    /// Verify the calls shown against this trusted cluster issuer (`C…`); repeatable.
    #[arg(long = "issuer", value_name = "PUBKEY", value_delimiter = ',')]
    issuers: Vec<String>,
    /// One JSON line on stdout per event (JSON Lines).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    replies: ReplyPrefixArgs,
}

pub(crate) fn run(args: Args) -> Outcome {
    let lattice = args.nats.lattice()?;
    let issuers = parse_issuers(&args.issuers)?;
    let target = SpyTarget::parse(&args.key, args.link_name.as_deref()).map_err(Failure::bad_input)?;
    runtime()?.block_on(async move {
        let (client, _events) = args.nats.watch("lattice-spy").await?;
        let key = target.key().to_owned();
        let mut handle = Spy::builder(client, lattice, target)
            .issuers(issuers)
            .reply_prefixes(args.replies.prefixes())
            .start()
            .await
            .map_err(anyhow::Error::from)?;
        eprintln!("lattice spy: watching {key} on {}", handle.subjects().join(", "));
        let stop = interrupted();
        tokio::pin!(stop);
        let mut result = Ok(());
        loop {
            let event = tokio::select! {
                () = &mut stop => break,
                e = handle.next_event() => match e {
                    Some(e) => e,
                    None => break,
                },
            };
            let line = if args.json { event.to_json() } else { event.human_line() };
            let mut out = std::io::stdout().lock();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                result = Err(Failure::from(anyhow::Error::from(e).context("writing to stdout")));
                break;
            }
        }
        handle.stop().await;
        result
    })
}
