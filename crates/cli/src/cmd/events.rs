//! `lattice events`: the lattice's events as they happen (`wasmbus.evt.{lattice}.>`, so each
//! event once even though hosts also publish it on the general subject).
//!
//! Human output is one line per event: the time, the event name, the host, and the fields
//! that say what happened (`actors_started  host=N…  public_key=M…  image_ref=…  count=2`).
//! With `--json` each line is the CloudEvent exactly as the host published it. `--filter`
//! keeps only some event names; `--count N` exits after N events (for scripts). A
//! `listening` line on stderr says when the subscription is live; it runs until Ctrl-C.

use futures::StreamExt;
use lattice_control::CloudEvent;
use serde_json::Value;

use crate::common::ctl::CtlArgs;
use crate::common::output::note;
use crate::common::runtime::{interrupted, runtime};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice events`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only these event names (e.g. `actors_started`); repeatable or comma-separated.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    filter: Vec<String>,
    /// Exit after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    ctl: CtlArgs,
}

/// The data fields shown, in this order, when an event has them.
const FIELDS: &[&str] = &[
    "public_key",
    "provider_ref",
    "image_ref",
    "actor_id",
    "provider_id",
    "contract_id",
    "link_name",
    "count",
    "max_instances",
    "remaining",
    "friendly_name",
    "reason",
    "error",
];

pub(crate) fn run(args: Args) -> Outcome {
    for name in &args.filter {
        name.parse::<lattice_control::EventName>().map_err(Failure::bad_input)?;
    }
    runtime()?.block_on(async move {
        let client = args.ctl.client("lattice-events").await?;
        let mut stream = client.events().await.map_err(crate::common::ctl::ctl_failure)?;
        note(&format!("lattice events: listening on wasmbus.evt.{}.>", client.lattice()));
        let out = args.ctl.out();
        let stop = interrupted();
        tokio::pin!(stop);
        let mut seen = 0u64;
        while args.count.is_none_or(|n| seen < n) {
            let item = tokio::select! {
                () = &mut stop => break,
                item = stream.next() => match item {
                    Some(item) => item,
                    None => break,
                },
            };
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    note(&format!(
                        "warning: skipping a message that is not a lattice event: {}",
                        lattice_proto::chain(&e)
                    ));
                    continue;
                }
            };
            let name = event.name().unwrap_or(&event.ty).to_owned();
            if !args.filter.is_empty() && !args.filter.contains(&name) {
                continue;
            }
            seen += 1;
            out.either(|| human(&event), &event)?;
        }
        Ok(())
    })
}

/// One line for a human.
pub(crate) fn human(event: &CloudEvent) -> String {
    let time = event.time.as_deref().map(short_time).unwrap_or_default();
    let name = event.name().unwrap_or(&event.ty);
    let mut line = format!("{time} {name:<21} host={}", event.source);
    let data = &event.data;
    if name == "host_heartbeat" {
        let n = |k: &str| data.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        line.push_str(&format!("  actors={} providers={}", n("actors"), n("providers")));
        return line;
    }
    for field in FIELDS {
        if let Some(v) = data.get(*field) {
            let text = match v {
                Value::String(s) if s.is_empty() => continue,
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            line.push_str(&format!("  {field}={text}"));
        }
    }
    if let Some(labels) = data.get("labels").and_then(Value::as_object).filter(|_| name.starts_with("host_")) {
        let labels: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
        line.push_str(&format!("  labels={}", labels.join(",")));
    }
    line
}

/// `2026-11-24T15:55:50.938112807Z` → `15:55:50.938`.
fn short_time(time: &str) -> String {
    let Some((_, clock)) = time.split_once('T') else { return time.to_owned() };
    let clock = clock.trim_end_matches('Z');
    match clock.split_once('.') {
        Some((hms, frac)) => format!("{hms}.{:0<3}", &frac[..frac.len().min(3)]),
        None => format!("{clock}.000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_lines_show_what_happened() {
        let event: CloudEvent = serde_json::from_str(
            r#"{"specversion":"1.0","id":"x","type":"com.wasmcloud.lattice.actors_started","source":"NB","datacontenttype":"application/json","time":"2026-11-24T15:55:59.457530809Z","data":{"annotations":{},"claims":{},"count":2,"host_id":"NB","image_ref":"file:///a.wasm","public_key":"MDX"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            human(&event),
            "15:55:59.457 actors_started        host=NB  public_key=MDX  image_ref=file:///a.wasm  count=2"
        );
        assert_eq!(short_time("2026-11-24T15:55:50Z"), "15:55:50.000");
        assert_eq!(short_time("2026-11-24T15:55:50.5Z"), "15:55:50.500");
    }
}
