//! `lattice pull [--insecure] REF`: fetch an actor or provider archive from an OCI registry
//! into the OCI cache (`{state}/oci/{digest}`, the same cache a host uses, so a host started
//! afterwards needs no network for it), verify its digest and its signed claims, and print
//! where it is and what it is.
//!
//! Text: `pulled REF@sha256:… (from …)`, `cached at PATH`, one line of claims. `--json`:
//! `{"reference","digest","kind","path","source","claims"}`. Exit codes: 0 pulled and valid,
//! 1 the registry said no (unauthorized, not found, wrong media type, digest mismatch, too
//! large) or the artifact's claims are invalid, 2 bad reference or flags (also `:latest`
//! without `--allow-latest`), 3 the registry could not be reached (and nothing was cached).

use anyhow::anyhow;
use lattice_oci::{OciRef, PullSource};
use serde_json::json;

use crate::common::artifact;
use crate::common::registry::{ClientRegistryArgs, oci_failure};
use crate::common::runtime::runtime;
use crate::common::signing::unix_now;
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice pull`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// What to pull: `host[:port]/repo:tag`, `host[:port]/repo@sha256:…` (or `oci://…`).
    #[arg(value_name = "REF")]
    reference: String,
    #[command(flatten)]
    registry: ClientRegistryArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    let reference = OciRef::parse(&args.reference).map_err(oci_failure)?;
    let registries = args.registry.registries(&reference);
    let pulled = runtime()?.block_on(registries.pull(&reference, None)).map_err(oci_failure)?;
    let (kind, claims) = artifact::inspect(&pulled.bytes, unix_now())
        .map_err(|e| Failure::no(e.context(format!("{reference} ({})", pulled.digest))))?;
    if kind != pulled.kind {
        return Err(Failure::no(anyhow!(
            "{reference}: pushed as a {} but holds a {}",
            pulled.kind.noun(),
            kind.noun()
        )));
    }
    let source = match &pulled.source {
        PullSource::Registry => "registry",
        PullSource::Cache => "cache",
        PullSource::CacheFallback(warning) => {
            eprintln!("warning: {warning}");
            "cache (registry unreachable)"
        }
    };
    if args.json {
        let out = json!({
            "reference": reference.to_string(),
            "digest": pulled.digest,
            "kind": kind.as_str(),
            "path": pulled.path,
            "source": source,
            "claims": claims,
        });
        println!("{out}");
    } else {
        println!("pulled {reference}@{} (from the {source})", pulled.digest);
        println!("cached at {}", pulled.path.display());
        println!("{}", artifact::describe(kind, &claims));
    }
    Ok(())
}
