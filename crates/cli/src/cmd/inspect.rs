//! `lattice inspect`: decode one RPC-plane message and, with `--issuer`, verify it.
//!
//! Reads raw bytes from stdin (or hex text with `--hex`, e.g. a vector's `*_hex` field),
//! prints the message as pretty JSON (msg bytes as base64 plus a short UTF-8 preview),
//! and for invocations checks the claims as a receiver would, offline: JWT form and
//! signature, trusted issuer, `exp`/`nbf`, hash, origin/target URLs, host id, `sub` = `id`.
//! The `iat` age check needs a clock policy and is turned on by `--max-age`; replay
//! needs a live receiver's memory and is not checked here (PROTOCOL.md §11.5).

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::ValueEnum;
use data_encoding::BASE64;
use lattice_proto::{
    ClusterKey, HealthCheckResponse, HostData, Invocation, InvocationResponse, LinkDefinition, TrustedIssuers,
    VerifyOptions, WasmCloudEntity, WitMap,
};
use serde_json::{Value, json};

use crate::exit::{Failure, Outcome};

/// Arguments of `lattice inspect`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A trusted cluster issuer public key (`C…`); repeatable. Turns verification on.
    #[arg(long = "issuer", value_name = "PUBKEY")]
    issuers: Vec<String>,
    /// What the bytes are.
    #[arg(long, value_enum, default_value = "invocation")]
    kind: Kind,
    /// Stdin holds hex text rather than raw bytes.
    #[arg(long)]
    hex: bool,
    /// The clock for `exp`/`nbf`/`iat`, in seconds since the Unix epoch (default: now).
    #[arg(long, value_name = "SECS")]
    now: Option<u64>,
    /// Refuse claims whose `iat` is more than SECS from the clock (off by default).
    #[arg(long, value_name = "SECS")]
    max_age: Option<u64>,
    /// Print one JSON object `{"kind","valid","error"?,"message"}` instead of text.
    #[arg(long)]
    json: bool,
}

/// The message kinds `inspect` decodes.
#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// An `Invocation` (msgpack).
    Invocation,
    /// An `InvocationResponse` (msgpack).
    Response,
    /// A `LinkDefinition` (msgpack).
    Linkdef,
    /// A `HealthCheckResponse` (msgpack).
    Health,
    /// `HostData` (JSON, or the base64 line a host writes to a provider's stdin).
    Hostdata,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Invocation => "invocation",
            Kind::Response => "response",
            Kind::Linkdef => "linkdef",
            Kind::Health => "health",
            Kind::Hostdata => "hostdata",
        }
    }
}

pub(crate) fn run(args: Args) -> Outcome {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).context("reading stdin")?;
    let bytes = if args.hex {
        let text: Vec<u8> = input.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(&text)
            .map_err(|e| Failure::bad_input(anyhow::anyhow!("stdin is not hex: {e}")))?
    } else {
        input
    };
    let issuers = args
        .issuers
        .iter()
        .map(|k| ClusterKey::parse(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("--issuer: {e}")))?;

    let (message, verdict) = match args.kind {
        Kind::Invocation => {
            let inv = Invocation::decode(&bytes).map_err(Failure::bad_input)?;
            let verdict = (!issuers.is_empty()).then(|| {
                let now = args.now.unwrap_or_else(unix_now);
                TrustedIssuers::new(issuers.iter())
                    .verify(&inv, &VerifyOptions { now, max_age: args.max_age })
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            (invocation_json(&inv), verdict)
        }
        Kind::Response => {
            let r = InvocationResponse::decode(&bytes).map_err(Failure::bad_input)?;
            let mut v = json!({
                "invocation_id": r.invocation_id,
                "content_length": r.content_length,
                "msg": bytes_json(&r.msg),
                "traceContext": map_json(&r.trace_context),
            });
            if let Some(e) = &r.error {
                v["error"] = json!(e);
            }
            (v, None)
        }
        Kind::Linkdef => {
            let l = LinkDefinition::decode(&bytes).map_err(Failure::bad_input)?;
            let v = json!({
                "actor_id": l.actor_id, "provider_id": l.provider_id, "link_name": l.link_name,
                "contract_id": l.contract_id, "values": map_json(&l.values),
            });
            (v, None)
        }
        Kind::Health => {
            let h = HealthCheckResponse::decode(&bytes).map_err(Failure::bad_input)?;
            (serde_json::to_value(&h).context("encoding JSON")?, None)
        }
        Kind::Hostdata => {
            let h = HostData::decode_any(&bytes).map_err(Failure::bad_input)?;
            let mut v = serde_json::to_value(&h).context("encoding JSON")?;
            if !h.invocation_seed.is_empty() {
                // Never echo a secret.
                v["invocation_seed"] = json!("<redacted>");
            }
            let verdict = Some(h.validate().map(|_| ()).map_err(|e| e.to_string()));
            (v, verdict)
        }
    };

    if args.json {
        let mut out =
            json!({ "kind": args.kind.name(), "valid": verdict.as_ref().map(Result::is_ok), "message": message });
        if let Some(Err(e)) = &verdict {
            out["error"] = json!(e);
        }
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&message).context("encoding JSON")?);
        if let Some(Ok(())) = verdict {
            println!("valid");
        }
    }
    match verdict {
        Some(Err(e)) => Err(Failure::no(anyhow::anyhow!(e))),
        _ => Ok(()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn entity_json(e: &WasmCloudEntity) -> Value {
    json!({ "public_key": e.public_key, "link_name": e.link_name, "contract_id": e.contract_id, "url": e.url() })
}

fn map_json(m: &WitMap) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.to_owned(), json!(v))).collect())
}

/// Bytes as base64, with a short UTF-8 preview when they are printable text.
pub(crate) fn bytes_json(b: &[u8]) -> Value {
    let mut v = json!({ "len": b.len(), "base64": BASE64.encode(b) });
    if let Ok(text) = std::str::from_utf8(b)
        && !text.is_empty()
        && text.chars().all(|c| !c.is_control() || c.is_whitespace())
    {
        let preview: String = text.chars().take(80).collect();
        v["preview"] = json!(if preview.len() < text.len() { format!("{preview}…") } else { preview });
    }
    v
}

fn invocation_json(inv: &Invocation) -> Value {
    let claims = match inv.claims_unverified() {
        Ok(c) => serde_json::to_value(&c).unwrap_or(Value::Null),
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({
        "id": inv.id,
        "origin": entity_json(&inv.origin),
        "target": entity_json(&inv.target),
        "operation": inv.operation,
        "host_id": inv.host_id,
        "content_length": inv.content_length,
        "msg": bytes_json(&inv.msg),
        "traceContext": map_json(&inv.trace_context),
        "claims": claims,
    })
}
