//! `lattice monitor`: watch a lattice's RPC traffic and alert on every invocation that
//! fails a check (forged, tampered, re-targeted, expired, stale, replayed, malformed).
//!
//! Read-only (plain subscriptions, no queue group) and seedless: it verifies with the
//! trusted issuers' public keys only (`--issuer`, PROTOCOL.md §11.8). For each non-valid
//! invocation: one human line on stderr, with `--json` one JSON line on stdout (the
//! fields of CONVENTIONS.md), and a publish of the same JSON on `--alert-subject`
//! (default `lattice.alerts.{lattice}`; `--alert-subject ''` disables). Valid traffic prints
//! nothing. Unsigned provider control messages are checked too: a `.linkdefs.put` whose
//! link no host stored (`unstored_link_put`) and a `.shutdown` no host followed with
//! `provider_stopped` within `--shutdown-wait` (`unexplained_shutdown`) are alerted the
//! same way. `--metrics-addr` serves Prometheus metrics on `/metrics`. Once subscribed it
//! prints a `listening` line on stderr; it runs until Ctrl-C (or SIGTERM) and exits 0.
//! If NATS reports it as a slow consumer it says so loudly: it may have missed traffic.
//! Calls are paired with their replies (latency metrics) only after they were verified,
//! within byte budgets; what does not fit is dropped and counted
//! (`lattice_monitor_pairing_dropped_total`, and with `--json` a last line
//! `{"stats":{…}}` when it stops).

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lattice_monitor::{Monitor, MonitorHandle, Report};
use lattice_proto::LatticeName;

use crate::common::nats::NatsArgs;
use crate::common::parse::{ReplyPrefixArgs, parse_issuers};
use crate::common::runtime::{interrupted, runtime};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice monitor`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    nats: NatsArgs,
    /// A trusted cluster issuer public key (`C…`); repeatable (or comma-separated). Only
    /// public keys: the monitor never needs the cluster seed.
    #[arg(long = "issuer", value_name = "PUBKEY", required = true, value_delimiter = ',')]
    issuers: Vec<String>,
    /// One JSON line on stdout per alert (JSON Lines); nothing else goes to stdout.
    #[arg(long)]
    json: bool,
    /// Publish each alert's JSON on this subject [default: lattice.alerts.{lattice}];
    /// an empty value disables publishing.
    #[arg(long, value_name = "SUBJECT")]
    alert_subject: Option<String>,
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9090; port 0 picks
    /// a free port, printed in the `listening` line). Off unless given.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// The replay window in seconds: an id seen again within it is `replayed`, and claims
    /// whose `iat` is further than this from the clock are `stale` (as receivers, §11.5).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    window: u64,
    #[command(flatten)]
    replies: ReplyPrefixArgs,
    /// Verification threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Seconds a host has to follow a provider `.shutdown` with its `provider_stopped`
    /// event before the shutdown is alerted as `unexplained_shutdown`.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    shutdown_wait: u64,
}

pub(crate) fn run(args: Args) -> Outcome {
    let lattice = args.nats.lattice()?;
    let issuers = parse_issuers(&args.issuers)?;
    if args.window == 0 {
        return Err(Failure::bad_input(anyhow::anyhow!("--window must be at least 1 second")));
    }
    let alert_subject = match &args.alert_subject {
        None => Some(lattice_monitor::default_alert_subject(&lattice)),
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s.clone()),
    };
    runtime()?.block_on(async move {
        let (client, events) = args.nats.watch("lattice-monitor").await?;
        let mut builder = Monitor::builder(client, lattice.clone(), &issuers)
            .window(Duration::from_secs(args.window))
            .alert_subject(alert_subject)
            .reply_prefixes(args.replies.prefixes())
            .shutdown_explain_wait(Duration::from_secs(args.shutdown_wait))
            .nats_events(events);
        if let Some(addr) = args.metrics_addr {
            builder = builder.metrics_addr(addr);
        }
        if let Some(n) = args.workers {
            builder = builder.workers(n);
        }
        let handle = builder.start().await.map_err(anyhow::Error::from)?;
        eprintln!("{}", ready_line(&handle, &lattice, issuers.len(), args.window));
        watch(handle, args.json).await
    })
}

fn ready_line(handle: &MonitorHandle, lattice: &LatticeName, issuers: usize, window: u64) -> String {
    let alerts = handle.alert_subject().map_or("not published".to_owned(), |s| format!("published on {s}"));
    let metrics = handle.metrics_addr().map_or("off".to_owned(), |a| format!("http://{a}/metrics"));
    format!(
        "lattice monitor: listening on {} (lattice {lattice}, {issuers} trusted issuer(s), window {window} s); \
         alerts {alerts}; metrics {metrics}",
        handle.subjects().join(", ")
    )
}

async fn watch(mut handle: MonitorHandle, json: bool) -> Outcome {
    let stop = interrupted();
    tokio::pin!(stop);
    let mut last_slow_warning: Option<Instant> = None;
    let mut result = Ok(());
    loop {
        let report = tokio::select! {
            () = &mut stop => break,
            r = handle.next_report() => match r {
                Some(r) => r,
                None => break,
            },
        };
        match report {
            Report::Alert(alert) => {
                eprintln!("{}", alert.human_line());
                if json {
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = writeln!(out, "{}", alert.to_json()).and_then(|()| out.flush()) {
                        result = Err(Failure::from(anyhow::Error::from(e).context("writing to stdout")));
                        break;
                    }
                }
            }
            Report::SlowConsumer { subscription, total } => {
                // Loud, but at most once a second: each dropped message is one event.
                if last_slow_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    last_slow_warning = Some(Instant::now());
                    eprintln!(
                        "lattice monitor: WARNING: SLOW CONSUMER: NATS IS DROPPING MESSAGES for the monitor \
                         (subscription {subscription}, {total} event(s) so far). Forged invocations may go \
                         UNSEEN: give the monitor more CPU (--workers) or watch fewer lattices per process."
                    );
                }
            }
            Report::Connection { event } if event == "disconnected" => {
                eprintln!("lattice monitor: WARNING: DISCONNECTED from NATS: traffic is NOT seen until it reconnects");
            }
            Report::Connection { event } => eprintln!("lattice monitor: NATS: {event}"),
        }
    }
    let metrics = handle.metrics().clone();
    let (dropped_pending, dropped_early) = handle.pairing_dropped();
    handle.stop().await;
    let slow = metrics.slow_consumer_total();
    let valid = metrics.invocations_with("valid");
    let unverified = metrics.unverified_dropped_total();
    eprintln!(
        "lattice monitor: stopped; {valid} valid invocation(s), {slow} slow-consumer event(s), \
         {unverified} invocation(s) dropped unverified (verification queue full), \
         {dropped_pending} call(s) and {dropped_early} early repl(y/ies) dropped from pairing (byte budgets)"
    );
    if json && result.is_ok() {
        // The last JSON line: the run's counters (`stats` tells it from the alert lines).
        let stats = serde_json::json!({"stats": {
            "valid": valid,
            "slow_consumer_events": slow,
            "unverified_dropped": unverified,
            "pairing_dropped_pending": dropped_pending,
            "pairing_dropped_early_replies": dropped_early,
        }});
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{stats}").and_then(|()| out.flush()) {
            result = Err(Failure::from(anyhow::Error::from(e).context("writing to stdout")));
        }
    }
    result
}
