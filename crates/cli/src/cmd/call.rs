//! `lattice call TARGET OPERATION`: one signed invocation, its reply printed.
//!
//! The call is signed with the cluster seed (`--cluster-seed`, env `LATTICE_CLUSTER_SEED`,
//! or 0.82's `WASMCLOUD_CLUSTER_SEED`), so any host trusting that cluster issuer accepts it.
//! CONVENTIONS.md "lattice call":
//! - To an **actor** (`M…`) the origin is the actor itself unless `--origin` names another
//!   one (target-as-origin is what a 0.82 host accepts without cached origin claims,
//!   PROTOCOL §6.1). `--origin V…` makes a provider the caller; `--contract` and
//!   `--link-name` then describe that provider (e.g. `wasmcloud:httpserver`).
//! - To a **provider** (`V…`), `--contract` is its contract, `--link-name` its link name
//!   (default `default`), and `--origin ACTOR_PK` names the linked actor.
//! - The operation is sent as given (`KeyValue.Get`; `wasmcloud:keyvalue/KeyValue.Get`
//!   passes through). `host_id` is `--host-seed`'s public key, else one made for this run.
//!
//! The reply's `msg` goes to stdout: as text when it is UTF-8, else as hex (a note on stderr
//! says so). `--json` prints `{"ok", "target", "operation", "bytes", "reply", "reply_hex",
//! "duration_us"}`. A refused, failed, unanswered or timed-out call exits 1.
//!
//! `--http` speaks `wasmcloud:httpserver` for you: the payload becomes the body of an
//! `HttpRequest` (`POST` with data, else `GET`, at `--path`), as the HTTP server provider
//! would send it. The reply of an `HttpServer.HandleRequest` call (or any `--http` call) is
//! read as an `HttpResponse` when it is one: its body is printed, a status other than 200
//! goes to stderr (`http_status` in `--json`, where `reply`/`reply_hex` are then the body).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use data_encoding::HEXLOWER;
use lattice_proto::{ActorKey, ClusterSeed, HostKey, LinkName, ProviderKey, WasmCloudEntity};
use lattice_rpc::{RpcClient, RpcError};
use nkeys::KeyPair;

use crate::common::nats::{NatsArgs, connect};
use crate::common::output::{Out, note};
use crate::common::runtime::runtime;
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice call`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The actor (`M…`) or provider (`V…`) public key to call.
    #[arg(value_name = "ACTOR_OR_PROVIDER")]
    target: String,
    /// The operation, e.g. `HttpServer.HandleRequest` or `KeyValue.Get`.
    operation: String,
    /// The payload, as text.
    #[arg(long, short = 'd', value_name = "TEXT", conflicts_with = "data_file")]
    data: Option<String>,
    /// The payload, read from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,
    /// The caller: an actor (`M…`; default: the target actor itself) or a provider (`V…`).
    #[arg(long, value_name = "KEY")]
    origin: Option<String>,
    /// The provider's contract (of the target, or of a provider `--origin`).
    #[arg(long, value_name = "CONTRACT")]
    contract: Option<String>,
    /// The provider's link name.
    #[arg(long, short = 'l', value_name = "NAME", default_value = "default")]
    link_name: String,
    /// The cluster seed (`SC…`) to sign with (also read from WASMCLOUD_CLUSTER_SEED).
    #[arg(long, value_name = "SEED", env = "LATTICE_CLUSTER_SEED", hide_env_values = true)]
    cluster_seed: Option<String>,
    /// The host seed (`SN…`) whose public key is the call's `host_id` (also read from
    /// WASMCLOUD_HOST_SEED); default: a fresh key.
    #[arg(long, value_name = "SEED", env = "LATTICE_HOST_SEED", hide_env_values = true)]
    host_seed: Option<String>,
    /// Wrap the payload in an `HttpRequest` and read the reply as an `HttpResponse`.
    #[arg(long)]
    http: bool,
    /// With `--http`: the request path (a `?query` is split off).
    #[arg(long, value_name = "PATH", default_value = "/", requires = "http")]
    path: String,
    /// How long to wait for the reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
    #[command(flatten)]
    nats: NatsArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// The operation the HTTP server provider invokes on an actor.
const HANDLE_REQUEST: &str = "HttpServer.HandleRequest";

fn bad(text: String) -> Failure {
    Failure::bad_input(anyhow::anyhow!(text))
}

/// Who calls whom, from the arguments.
fn entities(args: &Args) -> Result<(WasmCloudEntity, WasmCloudEntity), Failure> {
    let link = LinkName::new(args.link_name.clone()).map_err(|e| bad(format!("--link-name: {e}")))?;
    let provider = |key: &str, role: &str| -> Result<WasmCloudEntity, Failure> {
        let key = ProviderKey::parse(key).map_err(|e| bad(format!("{role}: {e}")))?;
        let contract = args.contract.as_deref().filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            bad(format!("{role} is a provider: say its contract with --contract (e.g. wasmcloud:keyvalue)"))
        })?;
        Ok(WasmCloudEntity::provider(&key, &link, contract))
    };
    let actor = |key: &str, role: &str| -> Result<WasmCloudEntity, Failure> {
        Ok(WasmCloudEntity::actor(&ActorKey::parse(key).map_err(|e| bad(format!("{role}: {e}")))?))
    };
    let target_key = args.target.trim();
    if target_key.starts_with('V') {
        let target = provider(target_key, "the target")?;
        let origin = args
            .origin
            .as_deref()
            .ok_or_else(|| bad("calling a provider needs --origin ACTOR_PK (the actor linked to it)".into()))?;
        return Ok((actor(origin.trim(), "--origin")?, target));
    }
    let target = actor(target_key, "the target")?;
    let origin = match args.origin.as_deref().map(str::trim) {
        None => target.clone(),
        Some(o) if o.starts_with('V') => provider(o, "--origin")?,
        Some(o) => actor(o, "--origin")?,
    };
    Ok((origin, target))
}

fn payload(args: &Args) -> Result<Vec<u8>, Failure> {
    match (&args.data, &args.data_file) {
        (Some(text), _) => Ok(text.clone().into_bytes()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading the payload from stdin")?;
            Ok(buf)
        }
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| bad(format!("reading --data-file {}: {e}", path.display())))
        }
        (None, None) => Ok(Vec::new()),
    }
}

fn seed_from(flag: Option<&str>, fallback_env: &str) -> Option<String> {
    flag.map(str::to_owned)
        .or_else(|| std::env::var(fallback_env).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn host_key(seed: Option<String>) -> Result<HostKey, Failure> {
    let pair = match seed {
        Some(seed) => KeyPair::from_seed(&seed).map_err(|e| bad(format!("--host-seed: {e}")))?,
        None => KeyPair::new_server(),
    };
    HostKey::parse(&pair.public_key()).map_err(|e| bad(format!("--host-seed is not a host (server) seed: {e}")))
}

pub(crate) fn run(args: Args) -> Outcome {
    let (origin, target) = entities(&args)?;
    let mut msg = payload(&args)?;
    if args.http {
        msg = http::request(&args.path, msg);
    }
    let seed = seed_from(args.cluster_seed.as_deref(), "WASMCLOUD_CLUSTER_SEED").ok_or_else(|| {
        bad("a cluster seed is required to sign the call: --cluster-seed or LATTICE_CLUSTER_SEED \
             (the seed `lattice up` printed, or the one the hosts were started with)"
            .into())
    })?;
    let seed = ClusterSeed::parse(&seed).map_err(|e| bad(format!("--cluster-seed: {e}")))?;
    let host = host_key(seed_from(args.host_seed.as_deref(), "WASMCLOUD_HOST_SEED"))?;
    let lattice = args.nats.lattice()?;
    let out = Out { json: args.json };
    runtime()?.block_on(async move {
        let nats = connect(&args.nats, "lattice-call").await?;
        let client = RpcClient::builder(nats, lattice, seed, host)
            .timeout(Duration::from_millis(args.timeout_ms.max(1)))
            .build();
        let started = Instant::now();
        let result = client.call(origin, target.clone(), args.operation.clone(), msg).await;
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Ok(reply) => {
                let http = args.http || args.operation.ends_with(HANDLE_REQUEST);
                match http.then(|| http::response(&reply)) {
                    Some(Ok(response)) => {
                        print_http_reply(out, &target, &args.operation, &reply, &response, duration_us)
                    }
                    Some(Err(e)) if args.http => Err(Failure::no(anyhow::anyhow!(
                        "the reply ({} bytes) is not an HttpResponse: {e}",
                        reply.len()
                    ))),
                    _ => print_reply(out, &target, &args.operation, &reply, duration_us),
                }
            }
            Err(e) => {
                if out.json {
                    out.json(&serde_json::json!({
                        "ok": false,
                        "target": target.public_key,
                        "operation": args.operation,
                        "error": lattice_proto::chain(&e),
                    }))?;
                }
                Err(match e {
                    RpcError::Remote(_)
                    | RpcError::Rejected { .. }
                    | RpcError::NoResponders { .. }
                    | RpcError::Timeout { .. } => Failure::no(e),
                    RpcError::InvalidTarget(_) => Failure::bad_input(e),
                    other => Failure::from(anyhow::Error::from(other)),
                })
            }
        }
    })
}

fn print_reply(out: Out, target: &WasmCloudEntity, operation: &str, reply: &[u8], duration_us: u64) -> Outcome {
    let text = std::str::from_utf8(reply).ok();
    if out.json {
        return out.json(&serde_json::json!({
            "ok": true,
            "target": target.public_key,
            "operation": operation,
            "bytes": reply.len(),
            "reply": text,
            "reply_hex": HEXLOWER.encode(reply),
            "duration_us": duration_us,
        }));
    }
    match text {
        Some(text) => out.line(text.strip_suffix('\n').unwrap_or(text)),
        None => {
            note(&format!("the reply ({} bytes) is not UTF-8; printed as hex", reply.len()));
            out.line(&HEXLOWER.encode(reply))
        }
    }
}

fn print_http_reply(
    out: Out,
    target: &WasmCloudEntity,
    operation: &str,
    reply: &[u8],
    response: &http::HttpResponse,
    duration_us: u64,
) -> Outcome {
    let text = std::str::from_utf8(&response.body).ok();
    if out.json {
        return out.json(&serde_json::json!({
            "ok": true,
            "target": target.public_key,
            "operation": operation,
            "bytes": reply.len(),
            "http_status": response.status_code,
            "reply": text,
            "reply_hex": HEXLOWER.encode(&response.body),
            "duration_us": duration_us,
        }));
    }
    if response.status_code != 200 {
        note(&format!("HTTP status {}", response.status_code));
    }
    match text {
        Some(text) => out.line(text.strip_suffix('\n').unwrap_or(text)),
        None => {
            note(&format!("the body ({} bytes) is not UTF-8; printed as hex", response.body.len()));
            out.line(&HEXLOWER.encode(&response.body))
        }
    }
}

/// The `wasmcloud:httpserver` payloads (HOST.md §5): msgpack maps with camelCase keys and
/// `bin` bodies, as the 0.82 HTTP server provider sends and reads them (the provider's
/// own wire types, [`lattice_httpserver::wire`]).
mod http {
    use lattice_httpserver::wire::HttpRequest;
    pub(super) use lattice_httpserver::wire::HttpResponse;

    /// The request the HTTP server provider would send for `path` with `body`.
    pub(super) fn request(path: &str, body: Vec<u8>) -> Vec<u8> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        HttpRequest {
            method: if body.is_empty() { "GET" } else { "POST" }.to_owned(),
            path: path.to_owned(),
            query_string: query.to_owned(),
            header: Default::default(),
            body,
        }
        .encode()
    }

    pub(super) fn response(bytes: &[u8]) -> Result<HttpResponse, rmp_serde::decode::Error> {
        HttpResponse::decode(bytes)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn request_and_response_use_the_082_shapes() {
            let bytes = request("/a?x=1", b"hi".to_vec());
            assert_eq!(bytes[0], 0x85, "a 5-entry map");
            let text = String::from_utf8_lossy(&bytes);
            assert!(text.contains("queryString") && text.contains("x=1") && text.contains("POST"), "{text}");
            assert!(bytes.ends_with(&[0xa4, b'b', b'o', b'd', b'y', 0xc4, 0x02, b'h', b'i']));
            // The echo actor's answer: {statusCode: 200, header: {}, body: bin32 "hello"}.
            let echo = [
                0x83, 0xaa, b's', b't', b'a', b't', b'u', b's', b'C', b'o', b'd', b'e', 0xcc, 0xc8, 0xa6, b'h', b'e',
                b'a', b'd', b'e', b'r', 0x80, 0xa4, b'b', b'o', b'd', b'y', 0xc6, 0, 0, 0, 5, b'h', b'e', b'l', b'l',
                b'o',
            ];
            let r = response(&echo).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((r.status_code, r.body.as_slice()), (200, b"hello".as_slice()));
        }
    }
}
